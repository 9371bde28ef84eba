/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kptr_or_0: p when it is an aligned address in the kernel half (top byte
 * 0xff, see OP_KPTR_MIN in chainscan.h), else 0, whose reads fault: computed
 * without a branch (read_ok.bpf.h says why). Used by chainscan.bpf.c (both
 * backends).
 */
#ifndef OFFSETPROBE_BPF_KPTR_H
#define OFFSETPROBE_BPF_KPTR_H

static __always_inline __u64 kptr_or_0(__u64 p) {
  __u64 ok = (((p >> 56) + 1) >> 8) & ((((p & 7) + 7) >> 3) ^ 1);

  asm volatile("" : "+r"(ok));
  return p & -ok;
}

#endif
