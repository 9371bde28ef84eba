// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader, as BCC source: reads a fresh subject's fields through the
 * calibrated offsets, like reader.bpf.c. The offsets come in as -D macros
 * named as `offsetprobe export --format bcc-cflags` prints them
 * (OFFSETPROBE_TASK_STRUCT_PID, ...): a field whose macro is undefined is not
 * read. This is exactly how a BCC consumer of the offsets compiles.
 *
 * Other macros from the loader: OP_TRIGGER_NR and OP_WANT_TP / OP_WANT_RAW /
 * OP_WANT_UPROBE, as for the scanner.
 *
 * It follows only pointers it read from the current task at the given
 * offsets; it never dereferences an address that user space supplies, and it
 * never names a member of a kernel struct (the headers may be of another
 * kernel: every access goes through the offsets).
 */
#include "reader.h"

struct op_comm_key {
  char c[OP_COMM_LEN];
};

BPF_HASH(cookies, struct op_comm_key, u32, OP_MAX_SLOTS);
BPF_ARRAY(readbacks, struct op_readback, OP_MAX_SLOTS);

#define READ(dst, base, off, bit)                                                                  \
  do {                                                                                             \
    if ((base) && bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)((base) + (off))) == 0)       \
      rb->ok |= (bit);                                                                             \
  } while (0)

static __always_inline int read_fields(unsigned int site)
{
  struct op_comm_key comm = {};
  struct op_readback *rb;
  unsigned long long task;
  u32 *slot;

  if (bpf_get_current_comm(&comm.c, sizeof(comm.c)))
    return 0;
  slot = cookies.lookup(&comm);
  if (!slot)
    return 0;
  rb = readbacks.lookup(slot);
  if (!rb)
    return 0;

  task = bpf_get_current_task();
  rb->task_addr = task;
  rb->pid_tgid = bpf_get_current_pid_tgid();
  rb->site = site;
  rb->ok = 0;
#ifdef OFFSETPROBE_TASK_STRUCT_PID
  READ(rb->pid, task, OFFSETPROBE_TASK_STRUCT_PID, OP_RD_PID);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_TGID
  READ(rb->tgid, task, OFFSETPROBE_TASK_STRUCT_TGID, OP_RD_TGID);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_COMM
  READ(rb->comm, task, OFFSETPROBE_TASK_STRUCT_COMM, OP_RD_COMM);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_START_TIME
  READ(rb->start_time, task, OFFSETPROBE_TASK_STRUCT_START_TIME, OP_RD_START_TIME);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_START_BOOTTIME
  READ(rb->start_boottime, task, OFFSETPROBE_TASK_STRUCT_START_BOOTTIME, OP_RD_START_BOOTTIME);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_GROUP_LEADER
  READ(rb->group_leader, task, OFFSETPROBE_TASK_STRUCT_GROUP_LEADER, OP_RD_GROUP_LEADER);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_REAL_PARENT
  READ(rb->real_parent, task, OFFSETPROBE_TASK_STRUCT_REAL_PARENT, OP_RD_REAL_PARENT);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_PARENT
  READ(rb->parent, task, OFFSETPROBE_TASK_STRUCT_PARENT, OP_RD_PARENT);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_EXIT_CODE
  if (site == OP_SITE_EXIT)
    READ(rb->exit_code, task, OFFSETPROBE_TASK_STRUCT_EXIT_CODE, OP_RD_EXIT_CODE);
#endif
  /* One pointer further: the chains the counting probe and agents use. */
#ifdef OFFSETPROBE_TASK_STRUCT_GROUP_LEADER
  if (rb->ok & OP_RD_GROUP_LEADER) {
#ifdef OFFSETPROBE_TASK_STRUCT_START_BOOTTIME
    READ(rb->leader_start_boottime, rb->group_leader, OFFSETPROBE_TASK_STRUCT_START_BOOTTIME,
         OP_RD_LEADER_START_BOOTTIME);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_PID
    READ(rb->leader_pid, rb->group_leader, OFFSETPROBE_TASK_STRUCT_PID, OP_RD_LEADER_PID);
#endif
  }
#endif
#if defined(OFFSETPROBE_TASK_STRUCT_REAL_PARENT) && defined(OFFSETPROBE_TASK_STRUCT_TGID)
  if (rb->ok & OP_RD_REAL_PARENT)
    READ(rb->real_parent_tgid, rb->real_parent, OFFSETPROBE_TASK_STRUCT_TGID,
         OP_RD_REAL_PARENT_TGID);
#endif
#if defined(OFFSETPROBE_TASK_STRUCT_PARENT) && defined(OFFSETPROBE_TASK_STRUCT_PID)
  if (rb->ok & OP_RD_PARENT)
    READ(rb->parent_pid, rb->parent, OFFSETPROBE_TASK_STRUCT_PID, OP_RD_PARENT_PID);
#endif
  /* loginuid and sessionid: plain task fields the scanner finds, read back
   * through chain_ok as in reader.bpf.c (this backend has no chain scanner,
   * so the pointer chains stay unread). */
  rb->chain_ok = 0;
#ifdef OFFSETPROBE_TASK_STRUCT_LOGINUID
  if (bpf_probe_read_kernel(&rb->loginuid, sizeof(rb->loginuid),
                            (void *)(task + OFFSETPROBE_TASK_STRUCT_LOGINUID)) == 0)
    rb->chain_ok |= OP_RDC_LOGINUID;
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_SESSIONID
  if (bpf_probe_read_kernel(&rb->sessionid, sizeof(rb->sessionid),
                            (void *)(task + OFFSETPROBE_TASK_STRUCT_SESSIONID)) == 0)
    rb->chain_ok |= OP_RDC_SESSIONID;
#endif
  return 0;
}

#ifdef OP_WANT_TP
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
  return read_fields(OP_SITE_TRIGGER);
}
#endif

#ifdef OP_WANT_RAW
RAW_TRACEPOINT_PROBE(sys_enter)
{
  if (ctx->args[1] != OP_TRIGGER_NR)
    return 0;
  return read_fields(OP_SITE_TRIGGER);
}
#endif

#ifdef OP_WANT_UPROBE
int read_trigger_uprobe(struct pt_regs *ctx)
{
  return read_fields(OP_SITE_TRIGGER);
}
#endif

RAW_TRACEPOINT_PROBE(sched_process_exit)
{
  return read_fields(OP_SITE_EXIT);
}
