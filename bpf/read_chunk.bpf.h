/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The chain scanner's chunk read (chainscan.bpf.c), in a header of its own
 * so that tests/test_read_chunk.cpp runs the same code against a real
 * unmapped page (bpf/chunktest.bpf.c).
 */
#ifndef OFFSETPROBE_BPF_READ_CHUNK_H
#define OFFSETPROBE_BPF_READ_CHUNK_H

#include "chainscan.h"
#include "read_ok.bpf.h"

/* Chunk c of the struct at p into dst + c * OP_CHAIN_CHUNK_SIZE; returns the
 * mask of the 64 B grains read, shifted to the chunk's place. A chunk that
 * faults (the helper zeroes it) is read again up to the end of its 4 KiB
 * page, in whole grains: the page after may be outside the direct map (the
 * end of a RAM range) while the struct's own bytes are not. Branchless, as
 * read_ok.bpf.h explains: when the first read worked the second reads 0
 * bytes; when the chunk does not cross a page the second read faults like
 * the first (the same page) and adds nothing, whatever its length. Only a
 * read that worked sets bits. */
static __always_inline __u64 read_chunk(unsigned char *dst, __u64 p, __u32 c) {
  __u64 at = p + c * OP_CHAIN_CHUNK_SIZE, whole, part, len;

  dst += c * OP_CHAIN_CHUNK_SIZE;
  whole = read_ok(bpf_probe_read_kernel(dst, OP_CHAIN_CHUNK_SIZE, (void *)at), 1);
  /* Bytes to the page's end, whole grains, below one chunk; none when the
   * first read worked. The mask comes last: it is the size's bound for the
   * verifier (5.10's refused the product with "R2 min value is negative,
   * either use unsigned or 'var &= const'"). */
  len = (4096 - (at & 4095)) * (whole ^ 1);
  len &= OP_CHAIN_CHUNK_SIZE - OP_CHAIN_GRAIN;
  part = read_ok(bpf_probe_read_kernel(dst, len, (void *)at), 1);
  return (whole * ((1ULL << OP_CHAIN_GRAINS) - 1) | part * ((1ULL << (len / OP_CHAIN_GRAIN)) - 1))
         << (c * OP_CHAIN_GRAINS);
}

#endif
