/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One step of a read-back plan (reader.h), the same code for both backends:
 * the reader passes the plan's rodata (libbpf) or the plan's -D macros
 * (BCC); to the verifier (rodata of a frozen map) and to clang (macros)
 * every argument is a constant, so a step not read at `site`, or the base it
 * does not use, is dead code.
 */
#ifndef OFFSETPROBE_BPF_READ_STEP_H
#define OFFSETPROBE_BPF_READ_STEP_H

#include "reader.h"
#include "read_ok.bpf.h"

/* Reads `size` bytes at base + `offset` into step i's value and sets its ok
 * bit when the read worked. The base is the task, or the pointer step
 * `parent - 1` read; a parent whose read failed holds 0 (the helper zeroes
 * its destination on a fault), so the read through it faults instead of
 * being skipped: no branch for the verifier to walk, same result. */
static __always_inline void op_read_step(struct op_readback *rb, __u64 task, __u32 site, __u32 i,
                                         __u32 parent, __u32 offset, __u32 size, __u32 sites) {
  __u64 base = task;

  if (!(sites & site))
    return;
  if (parent != OP_FROM_TASK)
    base = rb->values[parent - 1][0];
  rb->ok[i / 64] |= read_ok(bpf_probe_read_kernel(rb->values[i], size, (void *)(base + offset)),
                            1ull << (i % 64));
}

#endif
