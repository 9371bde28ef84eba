/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by chunktest.bpf.c and tests/test_read_chunk.cpp. */
#ifndef OFFSETPROBE_BPF_CHUNKTEST_H
#define OFFSETPROBE_BPF_CHUNKTEST_H

#define OP_CHUNKTEST_CASES 8
/* The chunk sizes read: the chain scanner's chunks and the socket scanner's
 * deep copies (512, in grains), the file walker's chunks (256, in bytes). */
#define OP_CHUNKTEST_BIG 512
#define OP_CHUNKTEST_SMALL 256

struct op_chunktest_area {
  unsigned char b[2 * 4096];
};

struct op_chunktest_out {
  unsigned long long area;                     /* the area's address, to check its end */
  unsigned long long mask[OP_CHUNKTEST_CASES]; /* op_read_grains' grains, 512 B */
  unsigned char bytes[OP_CHUNKTEST_CASES][OP_CHUNKTEST_BIG];
  unsigned long long small_len[OP_CHUNKTEST_CASES]; /* op_read_prefix's bytes, 256 B */
  unsigned char small_bytes[OP_CHUNKTEST_CASES][OP_CHUNKTEST_SMALL];
};

struct op_chunktest_args {
  unsigned int back[OP_CHUNKTEST_CASES]; /* bytes before the area's end */
};

#endif
