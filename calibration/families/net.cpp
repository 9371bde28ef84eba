// SPDX-License-Identifier: GPL-2.0-only
// The network family: struct sock_common, sock and inet_sock, found from the
// sk pointer sock:inet_sock_set_state passes (a raw tracepoint: no kprobe,
// no BTF). Its experiment is in calibration/experiment/net/, its solver and
// read-back check in calibration/solve/net/ (the family runs its own experiment, not the task
// chains').
//
// Offsets are from the sk pointer. sock_common sits at offset 0 of sock,
// sock at 0 of inet_sock, inet_sock at 0 of inet_connection_sock and that at
// 0 of tcp_sock (and tcp_sock at 0 of tcp6_sock), so an offset from the sk pointer is also the
// member's offset in its own struct: `verify` looks each field up in the struct it names
// (sock_common.skc_daddr, inside the anonymous skc_addrpair union).
#include "calibration/families/families.h"

#include <stdexcept>
#include <string>

namespace offsetprobe::families {

namespace {

FieldDef field(const char *st, const char *member, uint32_t size, uint32_t align,
               const char *known) {
  FieldDef d;
  d.struct_name = st;
  d.member = member;
  d.size = size;
  d.align = align;
  d.known = known;
  return d;
}

// The fields, in the order of the family's unit tests and docs.
std::vector<FieldDef> net_fields() {
  return {
      field("sock_common", "skc_daddr", 4, 4,
            "the peer's random 127.x.y.z of a v4 connection; 0 in a listener"),
      field("sock_common", "skc_rcv_saddr", 4, 4,
            "the random 127.x.y.z (or a listener's 239.x.y.z) the socket was bound to"),
      field("sock_common", "skc_dport", 2, 2,
            "the peer's random port, network order; 0 in a listener"),
      field("sock_common", "skc_num", 2, 2, "the random local port, host order"),
      field("sock_common", "skc_family", 2, 2, "AF_INET or AF_INET6"),
      field("sock_common", "skc_state", 1, 1,
            "the old state of the transition hit (CLOSE at connect and listen, ESTABLISHED, "
            "CLOSE_WAIT, LISTEN at close)"),
      field("sock_common", "skc_bound_dev_if", 4, 4,
            "lo's ifindex after SO_BINDTODEVICE \"lo\", 0 without (chosen at random)"),
      field("sock_common", "skc_net", 8, 8,
            "points to a struct net whose ns.inum (the ns family's net.ns.inum) is the inode of "
            "the subject's /proc/thread-self/ns/net, a fresh namespace each trial"),
      field("sock_common", "skc_v6_daddr", 16, 4, "the peer's random ULA; :: in a listener"),
      field("sock_common", "skc_v6_rcv_saddr", 16, 4, "the random ULA the socket was bound to"),
      field("sock_common", "skc_cookie", 8, 8, "getsockopt(SO_COOKIE)"),
      field("sock", "sk_mark", 4, 4, "a random SO_MARK"),
      field("sock", "sk_priority", 4, 4, "a random SO_PRIORITY (7..65535)"),
      field("sock", "sk_rcvbuf", 4, 4, "a random SO_RCVBUFFORCE, as getsockopt reads it back"),
      field("sock", "sk_sndbuf", 4, 4, "a random SO_SNDBUFFORCE, as getsockopt reads it back"),
      field("sock", "sk_max_ack_backlog", 4, 4, "listen()'s random backlog, at the close"),
      field("sock", "sk_ack_backlog", 4, 4,
            "connections not accepted (0-2 at random) at a listener's close, as TCP_INFO's "
            "tcpi_unacked reports; 0 at listen"),
      field("sock", "sk_uid", 4, 4, "the random fsuid the socket was created under"),
      field("inet_sock", "inet_sport", 2, 2, "the random local port, network order"),
      field("inet_sock", "inet_saddr", 4, 4,
            "the bound 127.x.y.z; 0 in a listener bound to a multicast address"),
      // tcp_sock: TCP_INFO of the accepted socket at rest, just before its
      // close, after random amounts of data both ways with a random MSS.
      field("tcp_sock", "srtt_us", 4, 4, "TCP_INFO: tcpi_rtt == srtt_us >> 3"),
      field("tcp_sock", "mdev_us", 4, 4, "TCP_INFO: tcpi_rttvar == mdev_us >> 2"),
      field("tcp_sock", "snd_cwnd", 4, 4,
            "TCP_INFO's tcpi_snd_cwnd, grown by slow start over a random amount of data"),
      field("tcp_sock", "bytes_received", 8, 8, "TCP_INFO's tcpi_bytes_received"),
      field("tcp_sock", "segs_in", 4, 4, "TCP_INFO's tcpi_segs_in"),
      field("tcp_sock", "segs_out", 4, 4, "TCP_INFO's tcpi_segs_out"),
      // tcp_sock's sequence numbers: TCP_REPAIR sockets with no peer
      // (calibration/experiment/net/seq_subject.cpp), captured at their disconnect.
      field("tcp_sock", "snd_una", 4, 4,
            "the random initial send sequence set with TCP_REPAIR (nothing is ever acked)"),
      field("tcp_sock", "snd_nxt", 4, 4,
            "write_seq (TCP_QUEUE_SEQ) - tcpi_notsent_bytes, after data queued in repair mode "
            "(sent, not transmitted) or corked into a zero window (not sent)"),
      field("tcp_sock", "rcv_nxt", 4, 4,
            "TCP_QUEUE_SEQ of the receive queue: a random initial value plus data queued "
            "unread in repair mode"),
      field("tcp_sock", "bytes_acked", 8, 8,
            "TCP_INFO's tcpi_bytes_acked at rest; apart from bytes_sent after the peer acked "
            "bytes queued in repair mode (never transmitted)"),
      // tcp_sock.total_retrans: retransmission episodes on loopback
      // (calibration/experiment/net/retrans_subject.cpp), captured at the
      // client's close.
      field("tcp_sock", "total_retrans", 4, 4,
            "TCP_INFO's tcpi_total_retrans at rest: 0 on the accepted sockets, 1 (a tail loss "
            "probe) and 2 (a probe then an RTO) on clients whose ACKs a socket filter dropped, "
            "with a route rto_min of 4 ms"),
      // sk_socket and struct socket: through the pointees of the sk's words
      // (calibration/solve/net/socket_solver.h), each read back by a round trip.
      field("sock", "sk_socket", 8, 8,
            "points to a struct socket whose sk is the sk itself and whose state and type hold "
            "their known values"),
      // sk_type and sk_protocol: TCP sockets, and a UDP socket whose full
      // receive queue fires udp:udp_fail_queue_rcv_skb.
      field("sock", "sk_type", 2, 2, "SOCK_STREAM for TCP, SOCK_DGRAM for the UDP socket"),
      field("sock", "sk_protocol", 2, 2, "IPPROTO_TCP for TCP, IPPROTO_UDP for the UDP socket"),
      field("socket", "sk", 8, 8,
            "the sk, at every hit (at a close too: inet_release clears it only after the "
            "protocol's close)"),
      field("socket", "file", 8, 8,
            "points to a struct file that holds the socket pointer (file.private_data) at one "
            "offset in every hit; never the sk"),
      field("socket", "type", 2, 2, "SOCK_STREAM for TCP, SOCK_DGRAM for the UDP socket"),
      field("socket", "state", 4, 4,
            "SS_UNCONNECTED at a connect (SS_CONNECTING comes after the protocol's connect), a "
            "listen, a listener's close and the UDP socket's hit; SS_CONNECTED at the close of a "
            "connected or accepted socket"),
  };
}

} // namespace

Family net() {
  Family f;
  f.name = "net";
  f.summary = "struct sock_common, sock, inet_sock, tcp_sock and socket from the sk of "
              "sock:inet_sock_set_state (and udp:udp_fail_queue_rcv_skb)";
  f.experiment = "net";
  f.fields = net_fields();
  // Not required, for now: the family is new and has been measured on this
  // host only (docs/net-family.md); a kernel where its experiment cannot
  // tell a field leaves it unresolved without failing the calibration of
  // the others. net_live asserts every one of them here.
  for (auto &d : f.fields)
    d.required = false;
  auto at = [&f](const char *name) -> FieldDef & {
    for (auto &d : f.fields)
      if (d.name() == name)
        return d;
    throw std::logic_error(std::string("families::net: no field ") + name);
  };
  at("sock_common.skc_net").uses = {"net.ns.inum"};
  at("sock_common.skc_cookie").absent = "kernels before 4.12 (no SO_COOKIE)";
  for (auto *n : {"tcp_sock.bytes_received", "tcp_sock.segs_in", "tcp_sock.segs_out"})
    at(n).absent = "kernels older than the TCP_INFO field (bytes_received 4.1+, segs_in and "
                   "segs_out 4.2+)";
  at("tcp_sock.bytes_acked").absent = "kernels older than tcpi_bytes_acked (4.1)";
  at("tcp_sock.total_retrans").absent =
      "hosts where the subject may not set its namespace's route metrics or attach a socket "
      "filter (unresolved: the value 0 only)";
  for (auto *n : {"sock.sk_type", "sock.sk_protocol"})
    at(n).absent = "kernels before 5.6 (bit-fields sk_type:16 and sk_protocol:8 in one "
                   "word: reported not present, no bit offset is guessed)";
  for (auto *n : {"sock.sk_type", "sock.sk_protocol", "socket.type"}) { // the UDP socket's hook
    auto &d = at(n);
    d.absent += std::string(d.absent.empty() ? "" : "; ") +
                "hosts where udp:udp_fail_queue_rcv_skb cannot be attached "
                "(unresolved: one value only)";
  }
  for (auto *n : {"sock_common.skc_v6_daddr", "sock_common.skc_v6_rcv_saddr"})
    at(n).absent = "kernels without IPv6";
  f.roles = {{Role::leader, "a thread of the calibrator (not a process): its comm is a cookie, it "
                            "unshares its network namespace, brings lo up, adds two random ULAs, "
                            "and runs TCP listeners and connections over v4 and v6"}};
  f.rule = "Each syscall that moves a subject socket (listen, connect, close) is matched to the "
           "one hit of its own transition, which runs in the subject's process context. A "
           "by-value field's candidates are the offsets, aligned to its size, that hold its known "
           "bytes in every hit that knows it, in every trial; skc_net's are the first 64 words "
           "whose pointee's net.ns.inum is the subject's namespace inode. Exactly one candidate "
           "and at least two distinct known values, or no offset. No declaration-order rule. "
           "sk_socket and socket.sk: the (word, pointee word) pairs where the pointee holds the "
           "known socket.sk (the sk) and whose pointee holds socket.state and socket.type; those "
           "by value in that pointee; socket.file: the socket's word, not the sk, whose pointee "
           "holds the "
           "socket pointer at one offset.";
  // Read back by the net experiment itself, from the sk of a fresh trial.
  f.verify = [](ReadbackCheck &) {};
  return f;
}

} // namespace offsetprobe::families
