/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by sockscan.bpf.c and its loader (calibration/net/). */
#ifndef OFFSETPROBE_BPF_SOCKSCAN_H
#define OFFSETPROBE_BPF_SOCKSCAN_H

/* Bytes copied from the sk pointer, in chunks so that one faulting chunk
 * (past the end of a slab page) does not void the others: 16 x 256 B = 4 KiB.
 * tcp_sock is 2.2-2.4 KiB on 6.1-6.18 (2304 B on 6.18 here), larger on debug
 * kernels. */
#define OP_SK_CHUNK 256
#define OP_SK_CHUNKS 16
#define OP_SK_BYTES (OP_SK_CHUNK * OP_SK_CHUNKS)
/* The first words of the sk that may point to its struct net: each is
 * followed, and the u32 at net.ns.inum read (skc_net sits in sock_common's
 * first 136 bytes; 64 words leave room for debug and randomized layouts). */
#define OP_SK_WORDS 64
/* The read-back: up to this many steps of up to 16 bytes each. */
#define OP_SK_MAX_STEPS 32
/* Kernel pointers are at or above this (chainscan.h's OP_KPTR_MIN). */
#define OP_SK_KPTR_MIN 0xff00000000000000ULL
#define OP_SK_NO_PARENT 0xffffffffu

/* One read-back step: `size` bytes at `offset` from the sk, or from the
 * pointer step `parent` read (OP_SK_NO_PARENT: from the sk). A step with
 * size 0 ends the plan. Parents come before their children. */
struct op_sk_step {
  unsigned int parent;
  unsigned int offset;
  unsigned int size;
  unsigned int pad;
};

/* One hit of sock:inet_sock_set_state by a task whose comm is a cookie. */
struct op_sk_event {
  unsigned long long sk;       /* args[0] */
  unsigned long long pid_tgid; /* bpf_get_current_pid_tgid() */
  unsigned long long readable; /* bit i set: chunk i was read */
  unsigned long long words_ok; /* bit i set: word i was followed */
  unsigned long long vals_ok;  /* bit i set: step i was read */
  unsigned int slot;           /* the cookie's slot */
  int oldstate;                /* args[1] */
  int newstate;                /* args[2] */
  unsigned int pad;
  unsigned int inum[OP_SK_WORDS]; /* u32 at word i + inum_offset */
  unsigned long long vals[OP_SK_MAX_STEPS][2];
  unsigned char data[OP_SK_BYTES];
};

#endif
