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
#include "read_chunk.bpf.h"

OP_LICENSE_GPL;

/* About 23 copied hits of 21 KiB. The subjects drain the ring after every
 * transition they expect: a calibration here peaked at 109 KiB (5 copied
 * hits) between two drains, and a lost hit voids its trial. Each page the
 * ring's producer first reaches costs a fault on both sides (~10 us each on a
 * VM that shadows page tables): a calibration pushes ~3.2 MiB through it, so
 * a 2 MiB ring was touched whole (~1000 faults), this one once (~256). */
#ifndef OP_SK_RINGBUF_BYTES
#define OP_SK_RINGBUF_BYTES (512 * 1024)
#endif
/* The loaders size it (OP_SK_RINGBUF_BYTES for BCC): a read-back's hits
 * end before `data` (1.4 KiB) and come at most 5 between two drains, so it
 * takes 64 KiB, which the kernel allocates, zeroes and maps at the load. */
OP_RINGBUF_MAP(events, OP_SK_RINGBUF_BYTES);

/* Each hit is built here, then copied to `events` whole: the per-word work
 * below runs in subprograms (OP_SUBPROG), which on 5.10 may take scalars
 * but no pointer to the ring buffer's memory. One event per nesting level
 * (`depth`): a hit in softirq on top of a hit in process context on the same
 * CPU (a TCP timer under a subject's syscall) builds its own. */
OP_PERCPU_ARRAY_MAP(scratch, struct op_sk_event, OP_SK_NEST);
OP_PERCPU_ARRAY_MAP(depth, __u32, 1);
/* Hits that did not fit in `events`: a lost hit could have been the second
 * hit of a move that user space then takes for the only one, so a trial
 * during which any was lost is void (SockScanSession::lost()). */
OP_PERCPU_ARRAY_MAP(lost, __u64, 1);

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
/* The TCP state moves at which the sk is copied: bit (old << 4 | new) % 64
 * of copy_at_<(old << 4 | new) / 64>, states 0-15 (user space sets the moves
 * its subjects pick hits of: kPickedTransitions in
 * calibration/solve/net/sock_solver.h). Every other hit carries its states,
 * pid and read-back values, as a read-back's does: the copy and the
 * pointer-following were most of the program's cost per hit, and about
 * half of a calibration's hits are moves no subject picks (loopback softirq
 * work for the peer sockets, FIN_WAIT1 -> FIN_WAIT2, ...). All ones: every
 * hit is copied. */
OP_CONST(__u64, copy_at_0, OP_SK_COPY_AT_0, ~0ULL);
OP_CONST(__u64, copy_at_1, OP_SK_COPY_AT_1, ~0ULL);
OP_CONST(__u64, copy_at_2, OP_SK_COPY_AT_2, ~0ULL);
OP_CONST(__u64, copy_at_3, OP_SK_COPY_AT_3, ~0ULL);

/* x != 0, as 0 or 1 and without a branch (x == 0 is its ^ 1). */
static __always_inline __u64 nonzero(__u64 x)
{
  x = (x | -x) >> 63;
  asm volatile("" : "+r"(x));
  return x;
}

/* 1 when the hit of old -> new is copied (copy_at), else 0. A state outside
 * 0-15 (none in tcp_states.h) is copied. Without a branch: the verifier
 * then walks the copy's paths once, not once per copy_at word (a switch
 * here doubled the instructions it processed for scan_sock, 12358 to
 * 22553). */
static __always_inline __u64 copied_move(int oldstate, int newstate)
{
  __u64 bit = (((__u64)(__u32)oldstate & 15) << 4) | ((__u64)(__u32)newstate & 15);
  __u64 word = bit >> 6, w;

  w = (copy_at_0 & -(nonzero(word) ^ 1)) | (copy_at_1 & -(nonzero(word ^ 1) ^ 1)) |
      (copy_at_2 & -(nonzero(word ^ 2) ^ 1)) | (copy_at_3 & -(nonzero(word ^ 3) ^ 1));
  return nonzero(((__u32)oldstate | (__u32)newstate) >> 4) | ((w >> (bit & 63)) & 1);
}

/* An index below `n` (a power of two) as the verifier can see it: a
 * subprogram knows nothing of its arguments, and a bounds check the compiler
 * applies to one copy of a register leaves the copy it indexes with
 * unbounded. The callers pass indices below `n` only. */
static __always_inline __u32 in_bounds(__u32 i, __u32 n)
{
  asm volatile("" : "+r"(i));
  return i & (n - 1);
}
/* The bounds in_bounds() is used with: a mask is a bound only for these. */
#define OP_POW2(n) ((n) > 0 && ((n) & ((n) - 1)) == 0)
_Static_assert(OP_POW2(OP_SK_FOLLOW) && OP_POW2(OP_SK_WORDS) && OP_POW2(OP_SK_BACK) &&
                   OP_POW2(OP_SK_PEEK / 8),
               "in_bounds() masks: its bounds must be powers of two");
_Static_assert(OP_SK_GRAIN == OP_GRAIN && OP_SK_BYTES / OP_SK_GRAIN <= 64 &&
                   OP_SK_PEEK / 8 * OP_SK_DEEP_GRAINS <= 64,
               "readable and deep_ok hold one bit per grain of read_chunk.bpf.h");

/* Step i of the plan, without a branch (read_ok.bpf.h says why): it reads,
 * and counts only when in use (size 1-16: a size of 0 ends the plan) and
 * its parent was read. A step whose parent was not read reads from address
 * 0 + offset, which faults harmlessly; its bit stays clear either way. A
 * subprogram verified once for every i: the loop of 48 inlined steps was
 * most of the verifier's work in the read-back-only mode (9765 of its
 * instructions for each program), with a map lookup and a branch per step
 * inlined 12002 (6.5 ms; 12.2 ms for the UDP program). */
OP_SUBPROG int plan_step(__u32 level, __u32 i, __u64 sk)
{
  struct op_sk_event *e = bpf_map_lookup_elem(&scratch, &level);
  __u32 zero = 0;
  struct op_sk_plan *pl = bpf_map_lookup_elem(&plan, &zero);
  struct op_sk_step *s;
  __u64 used, has_parent, parent_ok, mask, base;
  __u32 p, size;

  if (!e || !pl)
    return 0;
  i = in_bounds(i, OP_SK_VAL_ROWS);
  s = &pl->steps[i];
  p = s->parent;
  size = s->size;
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
  return 0;
}

/* Every step of the plan, in order (a step's parent comes before it). */
static __always_inline void read_plan(__u32 level, __u64 sk)
{
  __u32 zero = 0, i;
  struct op_sk_plan *pl = bpf_map_lookup_elem(&plan, &zero);

  /* No plan (a scan before its read-back): the 48 reads would each fault
   * on address 0 + offset, ~15 us of every hit here. */
  if (!pl || pl->steps[0].size == 0)
    return;
  for (i = 0; i < OP_SK_MAX_STEPS; i++)
    plan_step(level, i, sk);
}

/* Word i of the sk, for sk_socket: followed when it looks like a kernel
 * pointer, and when `deep`, noted in back_word if its pointee holds the sk (a
 * struct socket). A subprogram verified once for every i (global functions,
 * 5.6+, are checked on their own, whatever the caller), where the loop that
 * was inlined made the verifier walk each of the 128 words: 89887
 * instructions, 32 ms of the socket scanner's load here. */
OP_SUBPROG int follow_word(__u32 level, __u32 i, __u64 sk, __u32 deep)
{
  struct op_sk_event *e = bpf_map_lookup_elem(&scratch, &level);
  __u64 w = 0, eq = 0;
  __u32 j, n;

  if (!e)
    return 0;
  i = in_bounds(i, OP_SK_FOLLOW);
  if (!(e->readable & 1ULL << (i * 8 / OP_SK_GRAIN)))
    return 0;
  __builtin_memcpy(&w, e->data + i * 8, 8);
  if (w < kernel_min || bpf_probe_read_kernel(e->follow[i], OP_SK_PEEK, (void *)w))
    return 0;
  e->follow_ok[(i / 64) & 1] |= 1ULL << (i % 64);
  if (!deep)
    return 0;
  /* Branch-free (x == 0 is ((x | -x) >> 63) ^ 1). */
  for (j = 0; j < OP_SK_PEEK / 8; j++) {
    __u64 v = 0, x;

    __builtin_memcpy(&v, e->follow[i] + j * 8, 8);
    x = v ^ sk;
    eq |= ((x | -x) >> 63) ^ 1;
  }
  if (!eq)
    return 0;
  n = e->nback;
  if (n < OP_SK_BACK)
    e->back_word[n] = i;
  e->nback = n + 1;
  return 0;
}

/* Word m of the k-th pointee that held the sk: OP_SK_DEEP bytes of what it
 * points to (the struct file of a socket, for socket.file). */
OP_SUBPROG int deep_word(__u32 level, __u32 k, __u32 m)
{
  struct op_sk_event *e = bpf_map_lookup_elem(&scratch, &level);
  __u64 v = 0;
  __u32 idx;

  if (!e)
    return 0;
  k = in_bounds(k, OP_SK_BACK);
  m = in_bounds(m, OP_SK_PEEK / 8);
  idx = e->back_word[k];
  if (idx >= OP_SK_FOLLOW) /* OP_SK_NO_PARENT: no such pointee */
    return 0;
  idx = in_bounds(idx, OP_SK_FOLLOW);
  __builtin_memcpy(&v, e->follow[idx] + m * 8, 8);
  if (v < kernel_min)
    return 0;
  e->deep_ok[k] |= op_read_grains(e->deep[k][m], v, OP_SK_DEEP) << (m * OP_SK_DEEP_GRAINS);
  return 0;
}

/* Word i of the sk, for skc_net: the u32 at net.ns.inum behind it. */
OP_SUBPROG int inum_word(__u32 level, __u32 i)
{
  struct op_sk_event *e = bpf_map_lookup_elem(&scratch, &level);
  __u64 w = 0;

  if (!e)
    return 0;
  i = in_bounds(i, OP_SK_WORDS);
  e->inum[i] = 0;
  if (inum_offset == OP_SK_NO_PARENT || !(e->readable & 1ULL << (i * 8 / OP_SK_GRAIN)))
    return 0;
  __builtin_memcpy(&w, e->data + i * 8, 8);
  if (w < kernel_min)
    return 0;
  e->words_ok |= read_ok(bpf_probe_read_kernel(&e->inum[i], 4, (void *)(w + inum_offset)),
                         1ULL << i);
  return 0;
}

/* The words of the sk followed for sk_socket, and behind the first pointees
 * that point back to the sk (a struct socket), their own words followed for
 * socket.file (sockscan.h). */
static __always_inline void follow_words(struct op_sk_event *e, __u32 level, __u64 sk, __u32 deep)
{
  __u32 i, k, m;

  e->follow_ok[0] = 0;
  e->follow_ok[1] = 0;
  e->back_word[0] = OP_SK_NO_PARENT;
  e->back_word[1] = OP_SK_NO_PARENT;
  e->nback = 0;
  e->deep_ok[0] = 0;
  e->deep_ok[1] = 0;
  for (i = 0; i < OP_SK_FOLLOW; i++)
    follow_word(level, i, sk, deep);
  if (!deep)
    return;
  for (k = 0; k < OP_SK_BACK; k++)
    for (m = 0; m < OP_SK_PEEK / 8; m++)
      deep_word(level, k, m);
}

static __always_inline int scan(__u64 sk, int oldstate, int newstate, __u32 hook)
{
  struct op_sk_event *e;
  __u32 *slot, *d, level, zero = 0, i, copy;

  slot = subject_slot();
  if (!slot)
    return 0;
  d = bpf_map_lookup_elem(&depth, &zero);
  if (!d)
    return 0;
  level = *d;
  if (level >= OP_SK_NEST)
    return 0;
  e = bpf_map_lookup_elem(&scratch, &level);
  if (!e)
    return 0;
  *d = level + 1;
  e->sk = sk;
  e->pid_tgid = bpf_get_current_pid_tgid();
  e->slot = *slot;
  e->oldstate = oldstate;
  e->newstate = newstate;
  e->hook = hook;
  e->readable = 0;
  e->words_ok = 0;
  e->vals_ok = 0;
  /* First, so that the verifier walks it once, not once after the copy's
   * path and once after its absence. */
  read_plan(level, sk);
  /* The UDP hook's hits (states -1) are all copied. */
  copy = !readback_only && (hook != OP_HOOK_STATE || copied_move(oldstate, newstate));
  if (copy) {
    for (i = 0; i < OP_SK_CHUNKS; i++)
      e->readable |= op_read_grains(e->data + i * OP_SK_CHUNK, sk + i * OP_SK_CHUNK, OP_SK_CHUNK)
                     << (i * (OP_SK_CHUNK / OP_SK_GRAIN));
    for (i = 0; i < OP_SK_WORDS; i++)
      inum_word(level, i);
    /* socket.file is found at the TCP hits: the UDP program leaves the deep
     * copies out. */
    follow_words(e, level, sk, hook == OP_HOOK_STATE);
  }
  /* The read-back's hits, and the ones not copied, end before `data`:
   * nothing after it was filled, and copying the ~20 KiB of it into the
   * ring buffer (and out again) for every hit was most of the read-back's
   * time in the subject. A copied hit whose words held no pointer back to
   * the sk (nback 0: no deep copies, most hits) ends before `deep`, its
   * last 8 KiB. */
  if (bpf_ringbuf_output(&events, e,
                         copy ? (e->nback ? sizeof(*e) : __builtin_offsetof(struct op_sk_event, deep))
                              : __builtin_offsetof(struct op_sk_event, data),
                         0)) {
    __u64 *n = bpf_map_lookup_elem(&lost, &zero);

    if (n)
      *n += 1;
  }
  *d = level;
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
