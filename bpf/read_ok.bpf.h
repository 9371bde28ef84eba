/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `bits` if a bpf_probe_read_kernel() returned 0 (it returns 0 or a negative
 * errno, and zeroes its destination on a fault), else 0, computed without a
 * branch. Every branch in a loop the verifier unrolls is one more path for it
 * to walk: with a branch per read the chain scanner took 7.2 ms to verify
 * (10650 instructions), without 2.6 ms (4400), measured with
 * OFFSETPROBE_LIBBPF_DEBUG on 6.18.
 */
#ifndef OFFSETPROBE_BPF_READ_OK_H
#define OFFSETPROBE_BPF_READ_OK_H

static __always_inline __u64 read_ok(long ret, __u64 bits) {
  __u64 ok = ((__u64)ret >> 63) ^ 1; /* 1 on success, 0 on a fault */

  /* Opaque to the compiler, which would turn `ok * bits` back into a
   * conditional jump. */
  asm volatile("" : "+r"(ok));
  return ok * bits;
}

#endif
