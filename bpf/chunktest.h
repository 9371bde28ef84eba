/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by chunktest.bpf.c and tests/test_read_chunk.cpp. */
#ifndef OFFSETPROBE_BPF_CHUNKTEST_H
#define OFFSETPROBE_BPF_CHUNKTEST_H

#include "chainscan.h"

#define OP_CHUNKTEST_CASES 8

struct op_chunktest_area {
  unsigned char b[2 * 4096];
};

struct op_chunktest_out {
  unsigned long long area;                     /* the area's address, to check its end */
  unsigned long long mask[OP_CHUNKTEST_CASES]; /* read_chunk's grains */
  unsigned char bytes[OP_CHUNKTEST_CASES][OP_CHAIN_CHUNK_SIZE];
};

struct op_chunktest_args {
  unsigned int back[OP_CHUNKTEST_CASES]; /* bytes before the area's end */
};

#endif
