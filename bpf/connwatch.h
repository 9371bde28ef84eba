/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by connwatch.bpf.c and its loader (connwatch/). */
#ifndef OFFSETPROBE_BPF_CONNWATCH_H
#define OFFSETPROBE_BPF_CONNWATCH_H

/* An offset that is not known (the field was not calibrated): not read. */
#define OP_CONN_NONE 0xffffffffu
/* Bytes of the classic tracepoint's record copied into each event (the
 * record of sock:inet_sock_set_state is 72 bytes on 4.16-6.18). */
#define OP_CONN_REC_MAX 128
/* Connections followed at once (sockets seen and not yet closed). */
#define OP_CONN_DEFAULT_ENTRIES 65536

/* What is known of a socket between its first hit and its close. */
struct op_conn_state {
  unsigned long long start_ns;    /* bpf_ktime_get_ns() at the first hit */
  unsigned long long start_ticks; /* the owner's group leader start, USER_HZ ticks */
  unsigned int tgid;              /* the owner: the process that connected, else */
  unsigned int tid;               /* the first that closed (process context only) */
  unsigned int owner;             /* OP_OWNER_* */
  unsigned int pad;
  char comm[16];
};

enum op_conn_owner {
  OP_OWNER_NONE = 0,    /* no transition of a syscall seen (yet) */
  OP_OWNER_CONNECT = 1, /* CLOSE -> SYN_SENT: connect() */
  OP_OWNER_CLOSE = 2,   /* -> FIN_WAIT1 or -> LAST_ACK: close() or shutdown() */
  OP_OWNER_OTHER_NS = 3 /* a syscall of a task outside our pid namespace */
};

enum op_conn_kind { OP_CONN_OPEN = 1, OP_CONN_CLOSE = 2 };

/* Bits of op_conn_event.ok: the reads through the offsets that succeeded. */
enum op_conn_ok {
  OP_OK_FAMILY = 1 << 0,
  OP_OK_SPORT = 1 << 1,
  OP_OK_DPORT = 1 << 2,
  OP_OK_RCV_SADDR = 1 << 3,
  OP_OK_DADDR = 1 << 4,
  OP_OK_V6_RCV_SADDR = 1 << 5,
  OP_OK_V6_DADDR = 1 << 6,
  OP_OK_NETNS = 1 << 7,
  OP_OK_BYTES_RECEIVED = 1 << 8,
  OP_OK_BYTES_ACKED = 1 << 9,
  OP_OK_SEGS_IN = 1 << 10,
  OP_OK_SEGS_OUT = 1 << 11,
  OP_OK_TOTAL_RETRANS = 1 << 12,
  OP_OK_SRTT = 1 << 13,
  OP_OK_STATE = 1 << 14 /* the socket was seen before this event */
};

/* One connection event: opened (-> ESTABLISHED) or closed (-> CLOSE). */
struct op_conn_event {
  unsigned long long sk;
  unsigned long long time_ns; /* bpf_ktime_get_ns() */
  struct op_conn_state st;
  unsigned long long bytes_received;
  unsigned long long bytes_acked;
  unsigned int kind; /* op_conn_kind */
  unsigned int ok;   /* op_conn_ok bits */
  unsigned int netns;
  unsigned int rcv_saddr;
  unsigned int daddr;
  unsigned int segs_in;
  unsigned int segs_out;
  unsigned int total_retrans;
  unsigned int srtt_us;
  unsigned short family;
  unsigned short sport; /* network order (inet_sport) */
  unsigned short dport; /* network order, as the sk holds it */
  unsigned short pad;
  unsigned int rec_size;
  unsigned char v6_rcv_saddr[16];
  unsigned char v6_daddr[16];
  unsigned char rec[OP_CONN_REC_MAX]; /* the classic tracepoint's own record */
};

/* Slots of the per-CPU drops array. */
enum op_conn_drop {
  OP_CONN_DROP_MAP_FULL = 0, /* a socket could not be followed: the map was full */
  OP_CONN_DROP_RINGBUF = 1,  /* an event was lost: the ring buffer was full */
  OP_CONN_DROP_RECORD = 2,   /* the tracepoint's record could not be read */
  OP_CONN_DROP_SLOTS = 3,
};

#endif
