// SPDX-License-Identifier: GPL-2.0-only
/*
 * The socket scanner: at sock:inet_sock_set_state, copies the raw bytes of
 * the struct sock it is passed, for the net family's experiment
 * (calibration/experiment/net/).
 *
 * The raw tracepoint (4.16+) gives `struct sock *` with no kprobe and no
 * BTF; its args are (sk, oldstate, newstate). It is raw rather than the
 * classic tracefs event because detaching a perf-event tracepoint waits for
 * an RCU grace period (perf_trace_event_unreg: 50-70 ms measured here, see
 * calibration/experiment/capture.cpp), a raw one does not.
 *
 * Only hits by a task whose comm is a cookie of the running calibration are
 * taken (least reach, subject.bpf.h). That includes softirq work the
 * subject's own syscalls run on its stack (loopback delivery), for other
 * sockets: user space keeps only the hit of the transition its syscall makes
 * (connect: CLOSE -> SYN_SENT, ...), which always runs in the subject's
 * process context.
 *
 * Named scan_* like the scanner's programs, so that the leak checks of the
 * tests (tests/lib_live.sh) see it too.
 *
 * The same hit also reads back: `plan` (filled by user space after load)
 * lists offsets to read from the sk, or through a pointer read before.
 */
#include "compat.bpf.h"
#include "sockscan.h"
#include "subject.bpf.h"
#include "read_ok.bpf.h"

OP_LICENSE_GPL;

OP_RINGBUF_MAP(events, 2 * 1024 * 1024); /* about 100 hits of 21 KiB */

OP_ARRAY_MAP(plan, struct op_sk_plan, 1);

/* Offset of ns.inum in struct net (the ns family's net.ns.inum), or
 * OP_SK_NO_PARENT when unknown: the words are then not followed. */
OP_CONST(__u32, inum_offset, OP_SK_INUM_OFFSET, OP_SK_NO_PARENT);
/* The lowest value followed as a kernel pointer. Not the upper half's
 * 0xffff000000000000: with 5-level paging (Debian's x86-64 kernels from 6.1
 * run with LA57 where the CPU has it, as QEMU's -cpu max does) the direct map
 * starts at 0xff11000000000000, and arm64 kernels with 52-bit VAs (Debian's
 * 6.12) put it at 0xfff0000000000000. With the old bound skc_net was never
 * followed there. A word below it is not read; one above it that is no
 * pointer fails the read harmlessly. */
OP_CONST(__u64, kernel_min, OP_SK_KERNEL_MIN, OP_SK_KPTR_MIN);
/* 1: the read-back only (the net family's validation, whose plan holds
 * every offset it needs): nothing of the sk is copied or followed. A frozen
 * read-only constant, so the verifier knows its value and does not walk the
 * scan's paths, which are nearly all of its work: the read-back's object
 * loads in a few ms rather than ~50-250 ms. */
OP_CONST(__u32, readback_only, OP_SK_READBACK_ONLY, 0);

/* Every step of the plan, without a branch (read_ok.bpf.h says why): each
 * step reads, and only a step in use (size 1-16: a size of 0 ends the plan)
 * whose parent was read counts. A step whose parent was not read reads from
 * address 0 + offset, which faults harmlessly; its bit stays clear either
 * way. With a map lookup and a branch per step the verifier walked 12002
 * instructions of this loop (6.5 ms; 12.2 ms for the UDP program) in the
 * read-back-only mode. */
static __always_inline void read_plan(struct op_sk_event *e, __u64 sk)
{
  __u32 zero = 0, i;
  struct op_sk_plan *pl = bpf_map_lookup_elem(&plan, &zero);

  if (!pl)
    return;
  for (i = 0; i < OP_SK_MAX_STEPS; i++) {
    struct op_sk_step *s = &pl->steps[i];
    __u64 used, has_parent, parent_ok, mask, base;
    __u32 p = s->parent, size = s->size;

    used = ((__u64)size | -(__u64)size) >> 63; /* size != 0 */
    size = ((size - 1) & 15) + 1;              /* 1-16 for the verifier */
    has_parent = (__u64)(p ^ OP_SK_NO_PARENT);
    has_parent = (has_parent | -has_parent) >> 63; /* p != OP_SK_NO_PARENT */
    asm volatile("" : "+r"(has_parent));
    p &= OP_SK_VAL_ROWS - 1;
    parent_ok = ((e->vals_ok >> p) & 1) | (has_parent ^ 1);
    mask = -has_parent; /* all ones: from the parent's value */
    asm volatile("" : "+r"(mask));
    base = (sk & ~mask) | (e->vals[p][0] & mask);
    e->vals_ok |= read_ok(bpf_probe_read_kernel(e->vals[i], size, (void *)(base + s->offset)),
                          (used & parent_ok) << i);
  }
}

/* The words of the sk followed for sk_socket, and behind the first pointees
 * that point back to the sk (a struct socket), their own words followed for
 * socket.file (sockscan.h). */
static __always_inline void follow_words(struct op_sk_event *e, __u64 sk, int deep)
{
  __u32 i, j, k, m, n;

  e->follow_ok[0] = 0;
  e->follow_ok[1] = 0;
  e->back_word[0] = OP_SK_NO_PARENT;
  e->back_word[1] = OP_SK_NO_PARENT;
  e->nback = 0;
  for (i = 0; i < OP_SK_FOLLOW; i++) {
    __u64 w = 0, eq = 0;

    if (!(e->readable & 1ULL << (i * 8 / OP_SK_CHUNK)))
      continue;
    __builtin_memcpy(&w, e->data + i * 8, 8);
    if (w < kernel_min || bpf_probe_read_kernel(e->follow[i], OP_SK_PEEK, (void *)w))
      continue;
    e->follow_ok[i / 64] |= 1ULL << (i % 64);
    if (!deep)
      continue;
    /* Branch-free (x == 0 is ((x | -x) >> 63) ^ 1), and the count of
     * matches kept in the event rather than a register: the verifier tracks
     * a register's values path by path, and gave up (1M instructions) on
     * the 128 words; with these, about 90K. */
#pragma unroll
    for (j = 0; j < OP_SK_PEEK / 8; j++) {
      __u64 v = 0, x;

      __builtin_memcpy(&v, e->follow[i] + j * 8, 8);
      x = v ^ sk;
      eq |= ((x | -x) >> 63) ^ 1;
    }
    if (!eq)
      continue;
    n = e->nback;
    if (n < OP_SK_BACK)
      e->back_word[n] = i;
    e->nback = n + 1;
  }
  for (k = 0; k < OP_SK_BACK; k++) {
    __u32 idx = e->back_word[k];

    e->deep_ok[k] = 0;
    if (!deep || idx >= OP_SK_FOLLOW)
      continue;
    for (m = 0; m < OP_SK_PEEK / 8; m++) {
      __u64 v = 0;

      __builtin_memcpy(&v, e->follow[idx] + m * 8, 8);
      if (v < kernel_min)
        continue;
      e->deep_ok[k] |=
          read_ok(bpf_probe_read_kernel(e->deep[k][m], OP_SK_DEEP, (void *)v), 1ULL << m);
    }
  }
}

static __always_inline int scan(__u64 sk, int oldstate, int newstate, __u32 hook)
{
  struct op_sk_event *e;
  __u32 *slot, i;

  slot = subject_slot();
  if (!slot)
    return 0;
  e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e)
    return 0;
  e->sk = sk;
  e->pid_tgid = bpf_get_current_pid_tgid();
  e->slot = *slot;
  e->oldstate = oldstate;
  e->newstate = newstate;
  e->hook = hook;
  e->readable = 0;
  e->words_ok = 0;
  e->vals_ok = 0;
  if (readback_only) {
    read_plan(e, sk);
    bpf_ringbuf_submit(e, 0);
    return 0;
  }
  for (i = 0; i < OP_SK_CHUNKS; i++)
    e->readable |= read_ok(bpf_probe_read_kernel(e->data + i * OP_SK_CHUNK, OP_SK_CHUNK,
                                                 (void *)(sk + i * OP_SK_CHUNK)),
                           1ULL << i);
  for (i = 0; i < OP_SK_WORDS; i++) {
    __u64 w = 0;

    e->inum[i] = 0;
    if (inum_offset == OP_SK_NO_PARENT || !(e->readable & 1ULL << (i * 8 / OP_SK_CHUNK)))
      continue;
    __builtin_memcpy(&w, e->data + i * 8, 8);
    if (w < kernel_min)
      continue;
    e->words_ok |= read_ok(bpf_probe_read_kernel(&e->inum[i], 4, (void *)(w + inum_offset)),
                           1ULL << i);
  }
  /* socket.file is found at the TCP hits: the UDP program (verified on its
   * own) leaves the deep copies out, which halves its verification. */
  follow_words(e, sk, hook == OP_HOOK_STATE);
  read_plan(e, sk);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

OP_SEC("raw_tracepoint/inet_sock_set_state")
int scan_sock(struct bpf_raw_tracepoint_args *ctx)
{
  return scan(ctx->args[0], (int)ctx->args[1], (int)ctx->args[2], OP_HOOK_STATE);
}

/* A UDP socket whose receive queue is full (__udp_queue_rcv_skb), args
 * (rc, sk[, skb]): the subject's UDP socket, whose sk_type (SOCK_DGRAM) and
 * sk_protocol (IPPROTO_UDP) no TCP socket has. Loopback delivery runs in
 * softirq on the sender's stack: the subject's comm. (A raw socket's
 * sock:sock_rcvqueue_full did not fire on this host's 6.18: raw_v4_input
 * drops on a full queue before sock_queue_rcv_skb.) */
OP_SEC("raw_tracepoint/udp_fail_queue_rcv_skb")
int scan_udp(struct bpf_raw_tracepoint_args *ctx)
{
  return scan(ctx->args[1], -1, -1, OP_HOOK_UDP);
}
