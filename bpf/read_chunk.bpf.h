/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A chunk read that keeps the bytes before a page that faults: the chain
 * scanner's chunks (chainscan.bpf.c), the socket scanner's (sockscan.bpf.c,
 * the sk and the struct file behind its socket) and the file walker's
 * (filewalk.bpf.c). In a header of its own so
 * that tests/test_read_chunk.cpp runs the same code against a real unmapped
 * page (bpf/chunktest.bpf.c).
 */
#ifndef OFFSETPROBE_BPF_READ_CHUNK_H
#define OFFSETPROBE_BPF_READ_CHUNK_H

#include "read_ok.bpf.h"

/* The unit a read chunk is marked in by op_read_grains: bit g of a mask is
 * bytes [g * OP_GRAIN, (g + 1) * OP_GRAIN) of the chunk. */
#define OP_GRAIN 64

/* `size` bytes at `at` into dst; returns how many bytes were read from `at`:
 * `size`, or those before a page that faults, or 0. `size` is a constant
 * power of two, at most 4096. A chunk that faults (the helper zeroes it) is
 * read again up to the end of its 4 KiB page: the page after may be outside
 * the direct map (the end of a RAM range) while the struct's own bytes are
 * not (C's cred 256 B before a guest's last RAM page,
 * tests/fixtures/failures/). Branchless, as read_ok.bpf.h explains: when
 * the first read worked the second reads 0 bytes. When the chunk does not
 * cross a page, the bytes to the page's end are `size` or more, and the
 * mask makes them some length within the page that faulted: the second
 * read faults like the first and adds nothing. The mask comes last: it is
 * the size's bound for the verifier (5.10's refused the product with "R2
 * min value is negative, either use unsigned or 'var &= const'"). */
static __always_inline __u32 op_read_prefix(unsigned char *dst, __u64 at, __u32 size) {
  __u64 whole, part, len;

  whole = read_ok(bpf_probe_read_kernel(dst, size, (void *)at), 1);
  len = (4096 - (at & 4095)) * (whole ^ 1);
  len &= size - 1;
  part = read_ok(bpf_probe_read_kernel(dst, len, (void *)at), 1);
  return whole * size + part * len;
}

/* The same read, as the mask of the whole OP_GRAIN grains it read (`size`
 * at most 32 * OP_GRAIN): the chain and socket scanners mark what they read
 * per grain. The bytes of a grain read only in part are left unmarked. */
static __always_inline __u64 op_read_grains(unsigned char *dst, __u64 at, __u32 size) {
  return (1ULL << (op_read_prefix(dst, at, size) / OP_GRAIN)) - 1;
}

#endif
