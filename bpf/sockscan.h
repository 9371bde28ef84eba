/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by sockscan.bpf.c and its loader (calibration/experiment/net/). */
#ifndef OFFSETPROBE_BPF_SOCKSCAN_H
#define OFFSETPROBE_BPF_SOCKSCAN_H

/* Bytes copied from the sk pointer, in chunks so that one faulting chunk
 * (past the end of a slab page) does not void the others: 16 x 256 B = 4 KiB.
 * tcp_sock is 2.2-2.4 KiB on 6.1-6.18 (2304 B on 6.18 here), larger on debug
 * kernels. A chunk that faults is read again up to its page's end
 * (read_chunk.bpf.h), so what was read is kept per 64 B grain: bit g of
 * `readable` is bytes [64 g, 64 g + 64), and of deep_ok[k] bit
 * m * OP_SK_DEEP_GRAINS + g is grain g of word m's pointee. */
#define OP_SK_CHUNK 256
#define OP_SK_CHUNKS 16
#define OP_SK_BYTES (OP_SK_CHUNK * OP_SK_CHUNKS)
#define OP_SK_GRAIN 64
/* The first words of the sk that may point to its struct net: each is
 * followed, and the u32 at net.ns.inum read (skc_net sits in sock_common's
 * first 136 bytes; 64 words leave room for debug and randomized layouts). */
#define OP_SK_WORDS 64
/* sk_socket and struct socket: the first OP_SK_FOLLOW words of the sk that
 * look like kernel pointers are followed, OP_SK_PEEK bytes of each pointee
 * copied (struct socket's state, type, flags, file, sk and ops lie in its
 * first 40 bytes on 5.3-6.18; sk_socket is at 272-288 on non-debug kernels,
 * below 1 KiB on debug ones). Of those, the first OP_SK_BACK pointees that
 * hold the sk itself (a struct socket, at a connect or a listen) have each
 * of their first OP_SK_PEEK / 8 words followed in turn, OP_SK_DEEP bytes
 * copied: the struct file a socket points to holds the socket pointer
 * (file.private_data: 24 on 6.18, about 200 on 5.10-6.1, more on rt and
 * debug kernels). */
#define OP_SK_FOLLOW 128
#define OP_SK_PEEK 64
#define OP_SK_BACK 2
#define OP_SK_DEEP 512
#define OP_SK_DEEP_GRAINS (OP_SK_DEEP / OP_SK_GRAIN)
/* The read-back: up to this many steps of up to 16 bytes each (vals_ok is
 * a u64). */
#define OP_SK_MAX_STEPS 48
/* Rows of the event's vals: a power of two at least OP_SK_MAX_STEPS, so that
 * a parent index masked with OP_SK_VAL_ROWS - 1 needs no bounds check. */
#define OP_SK_VAL_ROWS 64
/* Hits built at once on one CPU (a softirq's on top of a syscall's): one
 * scratch event each; a deeper one is dropped (its trial runs again). */
#define OP_SK_NEST 2
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

/* The whole plan, the one element of the `plan` map. OP_SK_VAL_ROWS long,
 * of which the first OP_SK_MAX_STEPS are used: a step's index masked to
 * OP_SK_VAL_ROWS - 1 is then in bounds for the verifier (the step is a
 * subprogram, sockscan.bpf.c). */
struct op_sk_plan {
  struct op_sk_step steps[OP_SK_VAL_ROWS];
};

/* Which raw tracepoint a hit comes from. */
#define OP_HOOK_STATE 0 /* sock:inet_sock_set_state (sk, oldstate, newstate) */
#define OP_HOOK_UDP 1   /* udp:udp_fail_queue_rcv_skb (rc, sk[, skb]): states are -1 */

/* One hit of sock:inet_sock_set_state (or udp:udp_fail_queue_rcv_skb) by a
 * task whose comm is a cookie. */
struct op_sk_event {
  unsigned long long sk;          /* args[0] */
  unsigned long long pid_tgid;    /* bpf_get_current_pid_tgid() */
  unsigned long long readable;    /* bit g set: grain g of data was read */
  unsigned long long words_ok;    /* bit i set: word i was followed */
  unsigned long long vals_ok;     /* bit i set: step i was read */
  unsigned int slot;              /* the cookie's slot */
  int oldstate;                   /* args[1] */
  int newstate;                   /* args[2] */
  unsigned int hook;              /* OP_HOOK_* */
  unsigned int inum[OP_SK_WORDS]; /* u32 at word i + inum_offset */
  unsigned long long vals[OP_SK_VAL_ROWS][2];
  unsigned char data[OP_SK_BYTES];
  /* bit i % 64 of follow_ok[i / 64]: word i was followed */
  unsigned long long follow_ok[OP_SK_FOLLOW / 64];
  /* the first words whose pointee holds the sk, or OP_SK_NO_PARENT */
  unsigned int back_word[OP_SK_BACK];
  unsigned int nback; /* pointees that held the sk (the program's counter) */
  /* bit m * OP_SK_DEEP_GRAINS + g of deep_ok[k]: grain g of what word m of
   * back_word[k]'s pointee points to was read */
  unsigned long long deep_ok[OP_SK_BACK];
  unsigned char follow[OP_SK_FOLLOW][OP_SK_PEEK];
  unsigned char deep[OP_SK_BACK][OP_SK_PEEK / 8][OP_SK_DEEP];
};

#endif
