// SPDX-License-Identifier: GPL-2.0-only
/*
 * The connection probe of `offsetprobe conn`: every TCP connection's life,
 * read at sock:inet_sock_set_state through the calibrated offsets: const
 * volatile rodata for libbpf, -D macros for BCC (compat.bpf.h), so the
 * verifier and the JIT see constants with either backend.
 *
 * The classic (tracefs) tracepoint, not the raw one: its record carries,
 * next to the sk pointer, the ports, family, protocol and addresses the
 * kernel decoded from the same sk at the same moment. The program copies the
 * record into each event, so user space checks every value it read through
 * an offset against the kernel's own (a disagreement is flagged, never
 * hidden), and it filters on the record's protocol (SCTP and MPTCP sockets
 * fire the same event). The record's layout comes from tracefs
 * (events/sock/inet_sock_set_state/format): rec_* below.
 *
 * A socket is followed from its first hit (connect, or the passive clone at
 * SYN_RECV) in the `conns` map, keyed by its address, until its move to
 * CLOSE, where everything is read and the entry deleted. Its owner is taken
 * only at transitions a syscall makes in process context (CLOSE -> SYN_SENT:
 * connect; -> FIN_WAIT1 or -> LAST_ACK: close or shutdown): other moves run
 * in softirq, where the current task is whoever was interrupted. A passive
 * socket closed by a reset has no owner: reported as unknown, not guessed.
 */
#include "compat.bpf.h"
#include "connwatch.h"
/* The owner's key, as `offsetprobe count` reads it (its offsets, clock,
 * --pid filter and pid namespace). */
#include "owner_key.bpf.h"
#include "read_ok.bpf.h"

OP_LICENSE_GPL;

/* Prefixed: under BCC the kernel's headers define some of these names. */
#define OP_TCP_ESTABLISHED 1
#define OP_TCP_SYN_SENT 2
#define OP_TCP_FIN_WAIT1 4
#define OP_TCP_CLOSE 7
#define OP_TCP_LAST_ACK 9
#define OP_TCP_LISTEN 10
#define OP_IPPROTO_TCP 6
#define OP_AF_INET6 10

/* The record's layout (tracefs format), in bytes from its start. */
OP_CONST(__u32, rec_size, OP_REC_SIZE, 0);
OP_CONST(__u32, rec_skaddr, OP_REC_SKADDR, 0);
OP_CONST(__u32, rec_oldstate, OP_REC_OLDSTATE, 0);
OP_CONST(__u32, rec_newstate, OP_REC_NEWSTATE, 0);
OP_CONST(__u32, rec_protocol, OP_REC_PROTOCOL, 0);

/* BCC gets each offset as a consumer of `offsetprobe export --format
 * bcc-cflags` does: -D under its export name, for the calibrated fields
 * only. One it was not given is not read (OP_CONN_NONE). */
#ifdef OP_BCC
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_FAMILY
#define OFFSETPROBE_SOCK_COMMON_SKC_FAMILY OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_INET_SOCK_INET_SPORT
#define OFFSETPROBE_INET_SOCK_INET_SPORT OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_DPORT
#define OFFSETPROBE_SOCK_COMMON_SKC_DPORT OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_RCV_SADDR
#define OFFSETPROBE_SOCK_COMMON_SKC_RCV_SADDR OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_DADDR
#define OFFSETPROBE_SOCK_COMMON_SKC_DADDR OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_V6_RCV_SADDR
#define OFFSETPROBE_SOCK_COMMON_SKC_V6_RCV_SADDR OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_V6_DADDR
#define OFFSETPROBE_SOCK_COMMON_SKC_V6_DADDR OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_SOCK_COMMON_SKC_NET
#define OFFSETPROBE_SOCK_COMMON_SKC_NET OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_NET_NS_INUM
#define OFFSETPROBE_NET_NS_INUM OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_TCP_SOCK_BYTES_RECEIVED
#define OFFSETPROBE_TCP_SOCK_BYTES_RECEIVED OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_TCP_SOCK_BYTES_ACKED
#define OFFSETPROBE_TCP_SOCK_BYTES_ACKED OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_TCP_SOCK_SEGS_IN
#define OFFSETPROBE_TCP_SOCK_SEGS_IN OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_TCP_SOCK_SEGS_OUT
#define OFFSETPROBE_TCP_SOCK_SEGS_OUT OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_TCP_SOCK_TOTAL_RETRANS
#define OFFSETPROBE_TCP_SOCK_TOTAL_RETRANS OP_CONN_NONE
#endif
#ifndef OFFSETPROBE_TCP_SOCK_SRTT_US
#define OFFSETPROBE_TCP_SOCK_SRTT_US OP_CONN_NONE
#endif
#endif

/* Offsets from the sk (OP_CONN_NONE: not calibrated, not read). */
OP_CONST(__u32, off_family, OFFSETPROBE_SOCK_COMMON_SKC_FAMILY, OP_CONN_NONE);
/* The local port from inet_sock.inet_sport, not sock_common.skc_num: the
 * move to CLOSE releases the port (inet_put_port() zeroes skc_num) before
 * the tracepoint fires, inet_sport stays (the record's sport is read from
 * it too). */
OP_CONST(__u32, off_sport, OFFSETPROBE_INET_SOCK_INET_SPORT, OP_CONN_NONE);
OP_CONST(__u32, off_dport, OFFSETPROBE_SOCK_COMMON_SKC_DPORT, OP_CONN_NONE);
OP_CONST(__u32, off_rcv_saddr, OFFSETPROBE_SOCK_COMMON_SKC_RCV_SADDR, OP_CONN_NONE);
OP_CONST(__u32, off_daddr, OFFSETPROBE_SOCK_COMMON_SKC_DADDR, OP_CONN_NONE);
OP_CONST(__u32, off_v6_rcv_saddr, OFFSETPROBE_SOCK_COMMON_SKC_V6_RCV_SADDR, OP_CONN_NONE);
OP_CONST(__u32, off_v6_daddr, OFFSETPROBE_SOCK_COMMON_SKC_V6_DADDR, OP_CONN_NONE);
OP_CONST(__u32, off_net, OFFSETPROBE_SOCK_COMMON_SKC_NET, OP_CONN_NONE);
OP_CONST(__u32, off_inum, OFFSETPROBE_NET_NS_INUM, OP_CONN_NONE); /* in struct net */
OP_CONST(__u32, off_bytes_received, OFFSETPROBE_TCP_SOCK_BYTES_RECEIVED, OP_CONN_NONE);
OP_CONST(__u32, off_bytes_acked, OFFSETPROBE_TCP_SOCK_BYTES_ACKED, OP_CONN_NONE);
OP_CONST(__u32, off_segs_in, OFFSETPROBE_TCP_SOCK_SEGS_IN, OP_CONN_NONE);
OP_CONST(__u32, off_segs_out, OFFSETPROBE_TCP_SOCK_SEGS_OUT, OP_CONN_NONE);
OP_CONST(__u32, off_total_retrans, OFFSETPROBE_TCP_SOCK_TOTAL_RETRANS, OP_CONN_NONE);
OP_CONST(__u32, off_srtt, OFFSETPROBE_TCP_SOCK_SRTT_US, OP_CONN_NONE);

/* The map's size: libbpf's loader resizes it, BCC gets OP_CONN_ENTRIES. */
#ifndef OP_CONN_ENTRIES
#define OP_CONN_ENTRIES OP_CONN_DEFAULT_ENTRIES
#endif

OP_HASH_MAP(conns, __u64, struct op_conn_state, OP_CONN_ENTRIES);
OP_RINGBUF_MAP(events, 1024 * 1024);
OP_PERCPU_ARRAY_MAP(drops, __u64, OP_CONN_DROP_SLOTS);

static __always_inline void drop(__u32 slot)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &slot);

  if (v)
    *v += 1; /* per-CPU: no atomic needed */
}

/* The current task as owner: its process key (group leader's start time),
 * tid and comm. Called in process context only. */
static __always_inline void take_owner(struct op_conn_state *st, __u32 how)
{
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 ticks;
  __u32 tgid, tid;

  if (op_current_ids(pid_tgid, &tgid, &tid)) {
    st->owner = OP_OWNER_OTHER_NS;
    return;
  }
  if (op_start_ticks(bpf_get_current_task(), pid_tgid, &ticks))
    return;
  st->tgid = tgid;
  st->tid = tid;
  st->start_ticks = ticks;
  bpf_get_current_comm(st->comm, sizeof(st->comm));
  st->owner = how;
}

static __always_inline __u32 rd(void *dst, __u32 size, __u64 base, __u32 off, __u32 bit)
{
  if (off == OP_CONN_NONE)
    return 0;
  return read_ok(bpf_probe_read_kernel(dst, size, (void *)(base + off)), bit);
}

static __always_inline void read_sock(struct op_conn_event *e, __u64 sk)
{
  __u32 ok = 0;
  __u64 net = 0;

  ok |= rd(&e->family, 2, sk, off_family, OP_OK_FAMILY);
  ok |= rd(&e->sport, 2, sk, off_sport, OP_OK_SPORT);
  ok |= rd(&e->dport, 2, sk, off_dport, OP_OK_DPORT);
  ok |= rd(&e->rcv_saddr, 4, sk, off_rcv_saddr, OP_OK_RCV_SADDR);
  ok |= rd(&e->daddr, 4, sk, off_daddr, OP_OK_DADDR);
  if (e->family == OP_AF_INET6) {
    ok |= rd(e->v6_rcv_saddr, 16, sk, off_v6_rcv_saddr, OP_OK_V6_RCV_SADDR);
    ok |= rd(e->v6_daddr, 16, sk, off_v6_daddr, OP_OK_V6_DADDR);
  }
  if (rd(&net, 8, sk, off_net, 1) && net)
    ok |= rd(&e->netns, 4, net, off_inum, OP_OK_NETNS);
  ok |= rd(&e->bytes_received, 8, sk, off_bytes_received, OP_OK_BYTES_RECEIVED);
  ok |= rd(&e->bytes_acked, 8, sk, off_bytes_acked, OP_OK_BYTES_ACKED);
  ok |= rd(&e->segs_in, 4, sk, off_segs_in, OP_OK_SEGS_IN);
  ok |= rd(&e->segs_out, 4, sk, off_segs_out, OP_OK_SEGS_OUT);
  ok |= rd(&e->total_retrans, 4, sk, off_total_retrans, OP_OK_TOTAL_RETRANS);
  ok |= rd(&e->srtt_us, 4, sk, off_srtt, OP_OK_SRTT);
  e->ok |= ok;
}

static __always_inline void emit(__u64 sk, __u32 kind, const struct op_conn_state *st,
                                 const unsigned char *rec)
{
  struct op_conn_event *e;

  if (filter_tgid && (!st || st->tgid != filter_tgid))
    return;
  e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    drop(OP_CONN_DROP_RINGBUF);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  e->sk = sk;
  e->time_ns = bpf_ktime_get_ns();
  e->kind = kind;
  if (st) {
    e->st = *st;
    e->ok = OP_OK_STATE;
  }
  e->rec_size = rec_size;
  __builtin_memcpy(e->rec, rec, OP_CONN_REC_MAX);
  read_sock(e, sk);
  bpf_ringbuf_submit(e, 0);
}

OP_SEC("tracepoint/sock/inet_sock_set_state")
int conn_tp(void *ctx)
{
  unsigned char rec[OP_CONN_REC_MAX] = {};
  struct op_conn_state *st, fresh = {};
  __u64 sk = 0;
  int oldstate = 0, newstate = 0;
  __u16 protocol = 0;

  /* Constants: the verifier drops whichever branch cannot be taken. */
  if (rec_size == 0 || rec_size > OP_CONN_REC_MAX || rec_skaddr > OP_CONN_REC_MAX - 8 ||
      rec_oldstate > OP_CONN_REC_MAX - 4 || rec_newstate > OP_CONN_REC_MAX - 4 ||
      rec_protocol > OP_CONN_REC_MAX - 2)
    return 0;
  if (bpf_probe_read_kernel(rec, rec_size, ctx)) {
    drop(OP_CONN_DROP_RECORD);
    return 0;
  }
  __builtin_memcpy(&protocol, rec + rec_protocol, 2);
  if (protocol != OP_IPPROTO_TCP)
    return 0;
  __builtin_memcpy(&sk, rec + rec_skaddr, 8);
  __builtin_memcpy(&oldstate, rec + rec_oldstate, 4);
  __builtin_memcpy(&newstate, rec + rec_newstate, 4);
  /* Listeners are not connections. */
  if (newstate == OP_TCP_LISTEN || (oldstate == OP_TCP_LISTEN && newstate == OP_TCP_CLOSE))
    return 0;

  st = bpf_map_lookup_elem(&conns, &sk);
  if (newstate == OP_TCP_CLOSE) {
    /* Began before we attached (st NULL): reported, its start unknown. */
    emit(sk, OP_CONN_CLOSE, st, rec);
    if (st)
      bpf_map_delete_elem(&conns, &sk);
    return 0;
  }
  if (!st) {
    fresh.start_ns = bpf_ktime_get_ns();
    if (bpf_map_update_elem(&conns, &sk, &fresh, BPF_NOEXIST)) {
      drop(OP_CONN_DROP_MAP_FULL);
      return 0;
    }
    st = bpf_map_lookup_elem(&conns, &sk);
    if (!st)
      return 0;
  }
  if (newstate == OP_TCP_SYN_SENT)
    take_owner(st, OP_OWNER_CONNECT);
  else if ((newstate == OP_TCP_FIN_WAIT1 || newstate == OP_TCP_LAST_ACK) &&
           st->owner == OP_OWNER_NONE)
    take_owner(st, OP_OWNER_CLOSE);
  else if (newstate == OP_TCP_ESTABLISHED)
    emit(sk, OP_CONN_OPEN, st, rec);
  return 0;
}
