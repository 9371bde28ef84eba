/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The process key {tgid, start time in USER_HZ ticks} of the two consumers of
 * the task offsets (counter.bpf.c, connwatch.bpf.c): their shared load-time
 * constants, the ids as our pid namespace numbers them, and the read of the
 * start through the offsets. After
 * compat.bpf.h.
 */
#ifndef OFFSETPROBE_BPF_OWNER_KEY_H
#define OFFSETPROBE_BPF_OWNER_KEY_H

/* The offsets; for BCC under the names `export --format bcc-cflags` prints. */
OP_CONST(__u32, off_group_leader, OFFSETPROBE_TASK_STRUCT_GROUP_LEADER, 0);
OP_CONST(__u32, off_start_boottime, OFFSETPROBE_TASK_STRUCT_START_BOOTTIME, 0);
/* Nanoseconds per USER_HZ tick (10000000 for USER_HZ 100). */
OP_CONST(__u64, tick_ns, OP_TICK_NS, 10000000);
/* Boottime offset of our time namespace: /proc/<pid>/stat adds it, so do we. */
OP_CONST(__s64, boot_offset_ns, OP_BOOT_OFFSET_NS, 0);
/* Only this tgid (as user space numbers it); 0: every process. */
OP_CONST(__u32, filter_tgid, OP_FILTER_TGID, 0);
/* Inside a pid namespace: tgids as that namespace numbers them. */
OP_CONST(__u32, use_pidns, OP_USE_PIDNS, 0);
OP_CONST(__u64, pidns_dev, OP_PIDNS_DEV, 0);
OP_CONST(__u64, pidns_ino, OP_PIDNS_INO, 0);

/* The current task's tgid and tid as user space numbers them: as our pid
 * namespace does with use_pidns. -1 for a task outside that namespace. */
static __always_inline int op_current_ids(__u64 pid_tgid, __u32 *tgid, __u32 *tid) {
  if (use_pidns) {
    struct bpf_pidns_info ns = {};

    if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
      return -1;
    *tgid = ns.tgid;
    *tid = ns.pid;
    return 0;
  }
  *tgid = pid_tgid >> 32;
  *tid = (__u32)pid_tgid;
  return 0;
}

/* The start of the current task's process (`task`, whose
 * bpf_get_current_pid_tgid() is `pid_tgid`): its group leader's
 * start_boottime in USER_HZ ticks, the same truncated division as
 * nsec_to_clock_t() for /proc/<pid>/stat field 22. -1 when a read faults. */
static __always_inline int op_start_ticks(__u64 task, __u64 pid_tgid, __u64 *ticks) {
  __u64 leader, start;

  /* The main thread is its own group leader (its pid is the tgid): one read
   * saved. Other threads go through group_leader. */
  if ((__u32)pid_tgid == (__u32)(pid_tgid >> 32))
    leader = task;
  else if (bpf_probe_read_kernel(&leader, sizeof(leader), (void *)(task + off_group_leader)))
    return -1;
  if (!leader ||
      bpf_probe_read_kernel(&start, sizeof(start), (void *)(leader + off_start_boottime)))
    return -1;
  *ticks = (start + boot_offset_ns) / tick_ns;
  return 0;
}

#endif
