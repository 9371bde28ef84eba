/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by chains.bpf.c and its user-space loader. */
#ifndef OFFSETPROBE_BPF_CHAINSCAN_H
#define OFFSETPROBE_BPF_CHAINSCAN_H

#include "scanner.h"

/* Candidate pointer offsets in task_struct the chain scanner follows (set at
 * load time from the stage-1 snapshots), and how much of each pointed-to
 * struct it copies: 1.5 KiB holds mm_struct's layout fields (at 424..511 on
 * 6.18) with room for debug kernels, and all of struct cred.
 *
 * Pointees are read in 512 B chunks: twice the task_struct scanner's 256 B,
 * because each read is work for the verifier in a loop it unrolls (162 reads
 * of 256 B took 1.4 ms to verify on 6.18). A chunk that faults is read again
 * up to the end of its 4 KiB page, in whole 64 B grains: a struct near the
 * end of a RAM range (the next page outside the direct map) faulted its
 * whole first chunk before, and C's cred 256 B before a 1 GiB guest's last
 * RAM page left cred `cannot tell` (tests/fixtures/failures/). What was read
 * is kept per grain: bit g of a readable mask is bytes [64 g, 64 g + 64). */
#define OP_CHAIN_CHUNK_SIZE 512
#define OP_CHAIN_GRAIN 64
#define OP_CHAIN_GRAINS (OP_CHAIN_CHUNK_SIZE / OP_CHAIN_GRAIN)
#define OP_MAX_PTRS 24
#define OP_PTEE_CHUNKS 3
#define OP_PTEE_BYTES (OP_CHAIN_CHUNK_SIZE * OP_PTEE_CHUNKS)
/* Candidates followed one level further (a pointer to a struct of pointers,
 * the plan's nested_of): each 8-byte word of the
 * first OP_NESTED_SLOTS * 8 bytes of the pointee that holds a kernel pointer
 * is followed and 2 KiB of its struct copied (ipc_namespace's ns_common sits
 * at 1120 on 6.18). */
#define OP_MAX_NESTED 2
#define OP_NESTED_SLOTS 12
#define OP_NESTED_CHUNKS 4
#define OP_NESTED_BYTES (OP_CHAIN_CHUNK_SIZE * OP_NESTED_CHUNKS)
/* Only values in the kernel half of the address space are followed (with
 * 5-level paging it starts at 0xff00000000000000: see chains.cpp). */
#define OP_KPTR_MIN 0xff00000000000000ULL

struct op_chain_snapshot {
  unsigned long long task_addr;
  unsigned long long pid_tgid;
  unsigned int count;
  unsigned int pad;
  unsigned long long ptr[OP_MAX_PTRS];          /* *(task + ptr_off[i]) */
  unsigned long long ptr_readable[OP_MAX_PTRS]; /* bit g: grain g of ptee[i] read */
  unsigned long long nested_ptr[OP_MAX_NESTED][OP_NESTED_SLOTS];
  unsigned long long nested_readable[OP_MAX_NESTED][OP_NESTED_SLOTS];
  unsigned char ptee[OP_MAX_PTRS][OP_PTEE_BYTES];
  unsigned char nested[OP_MAX_NESTED][OP_NESTED_SLOTS][OP_NESTED_BYTES];
};

#endif
