// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader, as BCC source: walks the same plan as reader.bpf.c, with the
 * same step (read_step.bpf.h). It knows no field: the loader passes the plan
 * as -D macros,
 *
 *   -DOP_PLAN="OP_STEP(0, 0, OFFSETPROBE_TASK_STRUCT_PID, 4, 1) OP_STEP(...) ..."
 *
 * together with the offsets themselves, named as `offsetprobe export
 * --format bcc-cflags` prints them (-DOFFSETPROBE_TASK_STRUCT_PID=1264U):
 * this is exactly how a BCC consumer of the offsets compiles. Without OP_PLAN
 * the reader reads nothing.
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
#include "read_step.bpf.h"

#ifndef OP_PLAN
#define OP_PLAN
#endif

struct op_comm_key {
  char c[OP_COMM_LEN];
};

BPF_HASH(cookies, struct op_comm_key, u32, OP_MAX_SLOTS);
BPF_ARRAY(readbacks, struct op_readback, OP_MAX_SLOTS);

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
#pragma unroll
  for (unsigned int i = 0; i < sizeof(rb->ok) / sizeof(rb->ok[0]); i++)
    rb->ok[i] = 0;
#define OP_STEP(i, parent, offset, size, sites)                                                    \
  op_read_step(rb, task, site, i, parent, offset, size, sites);
  OP_PLAN
#undef OP_STEP
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
