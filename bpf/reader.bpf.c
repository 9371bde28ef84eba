// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader: walks a fresh subject's task_struct through the calibrated
 * offsets and records what it finds. It knows no field: user space loads a
 * plan of steps (reader.h) and compares the values with what it knows; only a
 * calibration that reads back correctly is reported as calibrated.
 *
 * One source for both backends (compat.bpf.h). libbpf gets the plan as
 * const volatile rodata, so the verifier sees constants; BCC gets it as -D
 * macros, each step naming its offset by the field's export name
 * (-DOFFSETPROBE_TASK_STRUCT_PID=1264U), exactly as a BCC consumer of
 * `export --format bcc-cflags` compiles. It never names a member
 * of a kernel struct, so under BCC the host's headers may be of another
 * kernel: every access goes through the offsets.
 *
 * It follows only pointers it read from the current task at the given offsets;
 * it never dereferences an address that user space supplies.
 */
#include "compat.bpf.h"
#include "reader.h"
#include "read_step.bpf.h"
#include "subject.bpf.h"

OP_LICENSE_GPL;

OP_CONST(__u64, trigger_nr, OP_TRIGGER_NR, 0);

#ifdef OP_BCC
/* BCC: the plan is OP_PLAN, one OP_STEP(i, parent, offset, size, sites) per
 * step, expanded in place below. Not a static const array walked by the
 * loop: clang does not fold every load of such an array, and a load it keeps
 * reads .rodata, which BCC does not load (the verifier then rejects it). */
#ifndef OP_PLAN
#define OP_PLAN
#endif
#else
/* libbpf: the plan is steps [0, nr_steps) of `steps`. The steps read at exit
 * all lie in [0, nr_exit_steps) (the catalogue puts them first): the exit
 * program walks only those, and its verification does not walk the whole
 * plan. */
const volatile __u32 nr_steps = 0;
const volatile __u32 nr_exit_steps = 0;
const volatile struct op_read_step steps[OP_MAX_STEPS] = {};
#endif

/* One record per subject read back: a validation reads six (L, T, G, E, C,
 * N). The loaders size it (OP_READER_SLOTS for BCC): at OP_MAX_SLOTS it was
 * 100 KiB for the kernel to allocate and zero at every load. */
#ifndef OP_READER_SLOTS
#define OP_READER_SLOTS OP_MAX_SLOTS
#endif
OP_ARRAY_MAP(readbacks, struct op_readback, OP_READER_SLOTS);

#ifndef OP_BCC
/* Step i of the plan at `site` for the subject in `slot`, as op_read_step()
 * (read_step.bpf.h) does it: a global function, verified once for every i.
 * The unrolled loop of inlined steps made the verifier walk each step of the
 * plan: 2160 instructions processed, 1.5 ms of the trigger program's load on
 * 6.18, and its passes over the whole program, dead steps included. Reads of
 * the plan's rodata with a variable index are no longer constants: the size
 * is masked to 1..OP_STEP_BYTES (the loaders check the plan, so the mask
 * changes nothing) and the indices are bounded for the verifier. */
_Static_assert((OP_STEP_BYTES & (OP_STEP_BYTES - 1)) == 0, "read_step_at masks the size");
OP_SUBPROG int read_step_at(__u32 slot, __u64 task, __u32 site, __u32 step)
{
  struct op_readback *rb = bpf_map_lookup_elem(&readbacks, &slot);
  /* One 64-bit index, bounded once: every use derives from it (with the
   * __u32 argument clang bounded a zero-extended copy and indexed ok[] with
   * the argument's register, which the verifier knows nothing of). */
  __u64 i = step, base = task;
  __u32 parent, size, offset;

  if (!rb || i >= OP_MAX_STEPS || !(steps[i].sites & site))
    return 0;
  parent = steps[i].parent;
  offset = steps[i].offset;
  size = ((steps[i].size - 1) & (OP_STEP_BYTES - 1)) + 1;
  if (parent != OP_FROM_TASK) {
    parent -= 1;
    if (parent >= OP_MAX_STEPS)
      return 0;
    base = rb->values[parent][0];
  }
  rb->ok[i / 64] |= read_ok(bpf_probe_read_kernel(rb->values[i], size, (void *)(base + offset)),
                            1ull << (i % 64));
  return 0;
}
#endif

static __always_inline int read_fields(__u32 site, __u32 max_steps)
{
  struct op_readback *rb;
  __u64 task;
  __u32 *slot, i;

  slot = subject_slot();
  rb = slot ? bpf_map_lookup_elem(&readbacks, slot) : NULL;
  if (!rb)
    return 0;

  task = bpf_get_current_task();
  rb->task_addr = task;
  rb->pid_tgid = bpf_get_current_pid_tgid();
  rb->site = site;
  OP_UNROLL
  for (i = 0; i < sizeof(rb->ok) / sizeof(rb->ok[0]); i++)
    rb->ok[i] = 0;
#ifdef OP_BCC
  /* Every argument a constant: a step not read at `site` is dead code. */
#define OP_STEP(i, parent, offset, size, sites)                                                    \
  op_read_step(rb, task, site, i, parent, offset, size, sites);
  OP_PLAN
#undef OP_STEP
#else
  /* A bounded loop (the bound is rodata: a constant to the verifier) of
   * calls to the step's global function. */
  for (i = 0; i < max_steps; i++) {
    if (i >= (site == OP_SITE_EXIT ? nr_exit_steps : nr_steps))
      break;
    read_step_at(*slot, task, site, i);
  }
#endif
  return 0;
}

#if OP_WANT_TP
OP_SEC("tracepoint/syscalls/sys_enter_getppid")
int read_trigger_tp(void *ctx)
{
  return read_fields(OP_SITE_TRIGGER, OP_MAX_STEPS);
}
#endif

#if OP_WANT_RAW
/* Where per-syscall tracepoints are absent (no CONFIG_FTRACE_SYSCALLS, or no
 * tracefs): the raw sys_enter tracepoint, filtered by syscall number. */
OP_SEC("raw_tracepoint/sys_enter")
int read_trigger_raw(struct bpf_raw_tracepoint_args *ctx)
{
  if (ctx->args[1] != trigger_nr)
    return 0;
  return read_fields(OP_SITE_TRIGGER, OP_MAX_STEPS);
}
#endif

#if OP_WANT_UPROBE
OP_SEC("uprobe")
int read_trigger_uprobe(void *ctx)
{
  return read_fields(OP_SITE_TRIGGER, OP_MAX_STEPS);
}
#endif

#if OP_WANT_EXIT_TP
OP_SEC("tracepoint/sched/sched_process_exit")
int read_exit(void *ctx)
{
  return read_fields(OP_SITE_EXIT, OP_MAX_EXIT_STEPS);
}
#endif

/* The exit hook the loaders attach: detaching a raw tracepoint does not wait
 * for an RCU grace period, as a perf-event tracepoint's last detach does. */
OP_SEC("raw_tracepoint/sched_process_exit")
int read_exit_raw(void *ctx)
{
  return read_fields(OP_SITE_EXIT, OP_MAX_EXIT_STEPS);
}
