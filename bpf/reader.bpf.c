// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader: walks a fresh subject's task_struct through the calibrated
 * offsets and records what it finds. It knows no field: user space loads a
 * plan of steps (reader.h) as const volatile rodata, so the verifier sees
 * constants, and compares the values with what it knows; only a calibration
 * that reads back correctly is reported as calibrated.
 *
 * It follows only pointers it read from the current task at the given offsets;
 * it never dereferences an address that user space supplies.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "reader.h"
#include "read_step.bpf.h"
#include "subject.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 trigger_nr = 0;
/* The plan: steps [0, nr_steps) of `steps`. The steps read at exit all lie
 * in [0, nr_exit_steps) (the catalogue puts them first): the exit program
 * walks only those, and its verification does not walk the whole plan. */
const volatile __u32 nr_steps = 0;
const volatile __u32 nr_exit_steps = 0;
const volatile struct op_read_step steps[OP_MAX_STEPS] = {};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct op_readback);
} readbacks SEC(".maps");

static __always_inline int read_fields(__u32 site)
{
  struct op_readback *rb;
  __u64 task;
  __u32 i;

  rb = subject_record(&readbacks);
  if (!rb)
    return 0;

  task = bpf_get_current_task();
  rb->task_addr = task;
  rb->pid_tgid = bpf_get_current_pid_tgid();
  rb->site = site;
  for (i = 0; i < sizeof(rb->ok) / sizeof(rb->ok[0]); i++)
    rb->ok[i] = 0;
  /* Unrolled: each step's index, and so its rodata, is a constant; the steps
   * past the hook's bound are dead code the verifier skips. */
#pragma unroll
  for (i = 0; i < OP_MAX_STEPS; i++) {
    if (i >= (site == OP_SITE_EXIT ? nr_exit_steps : nr_steps))
      break;
    op_read_step(rb, task, site, i, steps[i].parent, steps[i].offset, steps[i].size,
                 steps[i].sites);
  }
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_trigger_tp(void *ctx)
{
  return read_fields(OP_SITE_TRIGGER);
}

/* Where per-syscall tracepoints are absent (no CONFIG_FTRACE_SYSCALLS, or no
 * tracefs): the raw sys_enter tracepoint, filtered by syscall number. */
SEC("raw_tracepoint/sys_enter")
int read_trigger_raw(struct bpf_raw_tracepoint_args *ctx)
{
  if (ctx->args[1] != trigger_nr)
    return 0;
  return read_fields(OP_SITE_TRIGGER);
}

SEC("uprobe")
int read_trigger_uprobe(void *ctx)
{
  return read_fields(OP_SITE_TRIGGER);
}

SEC("tracepoint/sched/sched_process_exit")
int read_exit(void *ctx)
{
  return read_fields(OP_SITE_EXIT);
}

SEC("raw_tracepoint/sched_process_exit")
int read_exit_raw(void *ctx)
{
  return read_fields(OP_SITE_EXIT);
}
