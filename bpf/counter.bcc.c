// SPDX-License-Identifier: GPL-2.0-only
/*
 * The counting probe, as BCC source: the same program as counter.bpf.c (same
 * key {tgid, start ticks}, same maps and the same per-thread key cache), with
 * its configuration as -D macros instead of const volatile rodata, the way a
 * BCC consumer of the offsets compiles. The offsets use the names that
 * `offsetprobe export --format bcc-cflags` prints:
 *   OFFSETPROBE_TASK_STRUCT_GROUP_LEADER, OFFSETPROBE_TASK_STRUCT_START_BOOTTIME
 * and the loader passes:
 *   OP_TICK_NS, OP_BOOT_OFFSET_NS, OP_FILTER_TGID (0: all), OP_COUNT_ENTRIES,
 *   OP_USE_PIDNS with OP_PIDNS_DEV and OP_PIDNS_INO (inside a pid namespace),
 *   OP_NO_TASK_CACHE (benchmark only),
 *   OP_SYSCALLS_W0 .. OP_SYSCALLS_W7: the syscall bitmap (raw tracepoint).
 *
 * Every kernel struct access goes through the offsets: the host's headers
 * (possibly of a nearby kernel) only get BCC's helpers through the compiler.
 * counter.h is inlined at build time (bpf/embed_bcc.py).
 */
#include "counter.h"

#if OP_COUNT_BITMAP_WORDS != 8
#error "the loader passes OP_SYSCALLS_W0..W7: update both"
#endif

/* Per process: the counts of its exited threads (and of events counted
 * directly when the tasks map was full). */
BPF_HASH(counts, struct op_count_key, u64, OP_COUNT_ENTRIES);
/* Per live thread, keyed by task_struct address: its process key and count. */
BPF_HASH(tasks, u64, struct op_task_count, OP_COUNT_ENTRIES);
BPF_PERCPU_ARRAY(drops, u64, OP_DROP_SLOTS);

static __always_inline void drop(u32 slot, u64 n)
{
  u64 *v = drops.lookup(&slot);

  if (v)
    *v += n; /* per-CPU: no atomic needed */
}

static __always_inline void add_count(struct op_count_key *key, u64 n)
{
  u64 *v = counts.lookup(key);

  if (v) {
    __sync_fetch_and_add(v, n);
    return;
  }
  if (counts.insert(key, &n) == 0)
    return;
  /* Another CPU may have added the key first (a thread of the same process). */
  v = counts.lookup(key);
  if (v)
    __sync_fetch_and_add(v, n);
  else
    drop(OP_DROP_MAP_FULL, n);
}

static __always_inline int read_key(u64 task, u64 pid_tgid, u32 tgid, struct op_count_key *key)
{
  unsigned long long leader, start;

  /* The main thread is its own group leader: one read saved. */
  if ((u32)pid_tgid == (u32)(pid_tgid >> 32))
    leader = task;
  else if (bpf_probe_read_kernel(&leader, sizeof(leader),
                                 (void *)(task + OFFSETPROBE_TASK_STRUCT_GROUP_LEADER)))
    return -1;
  if (!leader || bpf_probe_read_kernel(&start, sizeof(start),
                                       (void *)(leader + OFFSETPROBE_TASK_STRUCT_START_BOOTTIME)))
    return -1;
  key->tgid = tgid;
  key->pad = 0;
  /* Same truncated division as nsec_to_clock_t() for /proc/<pid>/stat. */
  key->start_ticks = (start + (long long)OP_BOOT_OFFSET_NS) / OP_TICK_NS;
  return 0;
}

static __always_inline int count_current(void)
{
  u64 pid_tgid = bpf_get_current_pid_tgid();
  u64 task = bpf_get_current_task();
  struct op_task_count *tc, fresh = {};
  u32 tgid;

#if OP_USE_PIDNS
  struct bpf_pidns_info ns = {};

  if (bpf_get_ns_current_pid_tgid(OP_PIDNS_DEV, OP_PIDNS_INO, &ns, sizeof(ns))) {
    drop(OP_DROP_OTHER_NS, 1);
    return 0;
  }
  tgid = ns.tgid;
#else
  tgid = pid_tgid >> 32;
#endif
  if (OP_FILTER_TGID && tgid != OP_FILTER_TGID)
    return 0;

#if OP_NO_TASK_CACHE
  if (read_key(task, pid_tgid, tgid, &fresh.key))
    drop(OP_DROP_READ, 1);
  else
    add_count(&fresh.key, 1);
  return 0;
#else
  tc = tasks.lookup(&task);
  if (tc) {
    /* Only this thread touches its entry, and only in task context. */
    tc->count += 1;
    return 0;
  }
  if (read_key(task, pid_tgid, tgid, &fresh.key)) {
    drop(OP_DROP_READ, 1);
    return 0;
  }
  fresh.count = 1;
  if (tasks.insert(&task, &fresh))
    add_count(&fresh.key, 1); /* tasks map full: count in place, slower */
  return 0;
#endif
}

static __always_inline u64 syscall_word(u64 i)
{
  switch (i) {
  case 0: return OP_SYSCALLS_W0;
  case 1: return OP_SYSCALLS_W1;
  case 2: return OP_SYSCALLS_W2;
  case 3: return OP_SYSCALLS_W3;
  case 4: return OP_SYSCALLS_W4;
  case 5: return OP_SYSCALLS_W5;
  case 6: return OP_SYSCALLS_W6;
  case 7: return OP_SYSCALLS_W7;
  }
  return 0;
}

/* Attached as raw_tracepoint__sys_enter. */
RAW_TRACEPOINT_PROBE(sys_enter)
{
  u64 nr = ctx->args[1];

  if (nr >= OP_COUNT_MAX_NR || !((syscall_word(nr / 64) >> (nr % 64)) & 1))
    return 0;
  return count_current();
}

/* Attached to syscalls:sys_enter_<name> for each chosen syscall (no filter). */
int count_tp(void *ctx)
{
  return count_current();
}

/* Every thread passes here in do_exit(), after its last syscall and before its
 * task_struct can be reused: move its count to its process, forget its address. */
RAW_TRACEPOINT_PROBE(sched_process_exit)
{
  u64 task = bpf_get_current_task();
  struct op_task_count *tc = tasks.lookup(&task);

  if (!tc)
    return 0;
  if (tc->count)
    add_count(&tc->key, tc->count);
  tasks.delete(&task);
  return 0;
}
