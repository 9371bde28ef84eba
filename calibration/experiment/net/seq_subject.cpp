// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/net/seq_subject.h"
#include "calibration/experiment/net/subject_fd.h"

#include <arpa/inet.h>
#include <linux/tcp.h> // TCP_REPAIR_*, struct tcp_info with tcpi_notsent_bytes (glibc's is older)
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace offsetprobe::net {

namespace {

struct StepError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// TCP_REPAIR refused: the fields cannot be known here (not an error).
struct NoRepair : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// random_in (random.h), its failure this step's.
uint32_t rnd_in(uint32_t lo, uint32_t hi) {
  try {
    return static_cast<uint32_t>(random_in(lo, hi));
  } catch (const std::runtime_error &e) {
    throw StepError(e.what());
  }
}
uint32_t rnd32() {
  return rnd_in(0, UINT32_MAX);
}

std::string err(const std::string &what) {
  return errno_text(what);
}

void set_int(int fd, int opt, int v, const char *what) {
  if (::setsockopt(fd, IPPROTO_TCP, opt, &v, sizeof(v)) != 0)
    throw StepError(err(what));
}

uint32_t queue_seq(int fd, int queue) {
  set_int(fd, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE");
  uint32_t v = 0;
  socklen_t len = sizeof(v);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &v, &len) != 0)
    throw StepError(err("getsockopt TCP_QUEUE_SEQ"));
  return v;
}

tcp_info info_of(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof(ti);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    throw StepError(err("TCP_INFO"));
  return ti;
}

void send_all(int fd, size_t n, int flags, const char *what) {
  std::vector<char> buf(n, 's');
  ssize_t w = ::send(fd, buf.data(), n, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w != static_cast<ssize_t>(n))
    throw StepError(w < 0 ? err(what) : std::string(what) + ": short send");
}

// What a repair socket is made with.
struct SeqPlan {
  const char *what;
  uint32_t mss;    // TCP_MAXSEG before connect: the segment size of the queued data
  uint32_t inject; // bytes queued in the receive queue (rcv_nxt moves, copied_seq stays)
  uint32_t queued; // bytes queued in the send queue in repair mode ("sent", never transmitted)
  bool oob;        // the queued data as urgent (snd_up moves to write_seq)
  uint32_t unsent; // bytes sent after repair mode is left, corked into a zero window
};

class SeqSubject {
public:
  SeqSubject(SockScanSession &scan, SockTrialRun &run) : scan_(scan), run_(run) {}

  // The three sockets, chosen so that every word that equals one of the
  // fields in one of them differs from it in another:
  // - full: queued data of whole segments: snd_nxt = S + n moves away from
  //   snd_una = snd_sml = snd_up = S (snd_sml moves only for a segment
  //   shorter than the MSS, tcp_minshall_update); rcv_nxt = R + m away
  //   from copied_seq = rcv_wup = R.
  // - small: queued data shorter than a segment, urgent: snd_sml and snd_up
  //   move to S + n, away from snd_una = S.
  // - unsent: repair mode left, data sent into the zero window
  //   tcp_connect_init leaves (snd_wnd = 0) and corked: write_seq and
  //   pushed_seq move to S + k, away from snd_nxt = snd_una = S.
  void run() {
    uint32_t mss = rnd_in(600, 1400);
    one({"seq full", mss, rnd_in(1, 3000), mss * rnd_in(1, 3), false, 0});
    one({"seq small", mss, rnd_in(1, 3000), rnd_in(1, mss - 1), true, 0});
    one({"seq unsent", mss, 0, 0, false, rnd_in(1, mss - 1)});
    acked_pair();
  }

private:
  void one(const SeqPlan &p) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0)
      throw StepError(err(std::string("socket for ") + p.what));
    int on = TCP_REPAIR_ON;
    if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) != 0) {
      if (errno == EPERM || errno == EACCES || errno == ENOPROTOOPT)
        throw NoRepair(err("TCP_REPAIR"));
      throw StepError(err("TCP_REPAIR"));
    }
    // The initial sequence numbers: random, set before connect (the kernel
    // allows it in CLOSE only).
    uint32_t s = rnd32(), r = rnd32();
    set_int(fd.get(), TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
    set_int(fd.get(), TCP_QUEUE_SEQ, static_cast<int>(s), "TCP_QUEUE_SEQ send");
    set_int(fd.get(), TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
    set_int(fd.get(), TCP_QUEUE_SEQ, static_cast<int>(r), "TCP_QUEUE_SEQ recv");
    set_int(fd.get(), TCP_MAXSEG, static_cast<int>(p.mss), "TCP_MAXSEG");
    // Reno, whatever the namespace's default: CUBIC (the usual default, and
    // a new namespace inherits the host's) keeps in its private state
    // (icsk_ca_priv's end_seq, bictcp_hystart_reset) the snd_nxt of its
    // init, which here is S in every trial: a second home of snd_una's
    // known value (seen on 6.1 and 6.12 guests). Choosing a congestion
    // control zeroes icsk_ca_priv, and Reno keeps nothing in it.
    static const char reno[] = "reno";
    if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_CONGESTION, reno, sizeof(reno) - 1) != 0)
      throw StepError(err(std::string("TCP_CONGESTION reno for ") + p.what));
    // A repair connect sends no SYN: tcp_connect_init sets snd_una =
    // snd_nxt = snd_sml = snd_up = write_seq and rcv_wup = copied_seq =
    // rcv_nxt, then tcp_finish_connect moves it to ESTABLISHED at once.
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(rnd_in(10000, 60999)));
    to.sin_addr.s_addr = htonl(0x7f000000u | rnd_in(1, 0xfffffe));
    if (::connect(fd.get(), reinterpret_cast<sockaddr *>(&to), sizeof(to)) != 0)
      throw StepError(err(std::string("repair connect for ") + p.what));
    if (p.inject) {
      // tcp_send_rcvq: rcv_nxt moves past the data; nothing reads it.
      set_int(fd.get(), TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
      send_all(fd.get(), p.inject, 0, "queueing received data");
    }
    if (p.queued) {
      // In repair mode tcp_write_xmit marks queued data sent without
      // transmitting it: snd_nxt moves, snd_una stays (no ACK can come).
      set_int(fd.get(), TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
      send_all(fd.get(), p.queued, p.oob ? MSG_OOB : 0, "queueing sent data");
    }
    if (p.unsent) {
      set_int(fd.get(), TCP_REPAIR, TCP_REPAIR_OFF_NO_WP, "leaving repair mode");
      set_int(fd.get(), TCP_CORK, 1, "TCP_CORK");
      send_all(fd.get(), p.unsent, 0, "sending into a zero window");
      set_int(fd.get(), TCP_REPAIR, TCP_REPAIR_ON, "repair mode again");
    }
    // What the kernel says, not what was asked: write_seq and rcv_nxt
    // through TCP_QUEUE_SEQ, write_seq - snd_nxt as tcpi_notsent_bytes.
    uint32_t write_seq = queue_seq(fd.get(), TCP_SEND_QUEUE);
    uint32_t rcv_nxt = queue_seq(fd.get(), TCP_RECV_QUEUE);
    tcp_info ti = info_of(fd.get());
    uint32_t snd_nxt = write_seq - ti.tcpi_notsent_bytes;
    if (write_seq != s + p.queued + p.unsent || rcv_nxt != r + p.inject || snd_nxt != s + p.queued)
      throw StepError(std::string(p.what) + ": the kernel's sequence numbers are not the ones set");
    // snd_una moves only when an ACK comes, and none can (no packet left).
    uint32_t snd_una = s;
    scan_.drain(); // the connect's hits
    // A repair socket's close disconnects it (tcp_disconnect: no FIN, no
    // RST), and tcp_disconnect moves it to CLOSE before it resets anything.
    fd.close();
    auto events = scan_.drain();
    std::string why;
    auto at = pick_hit(events, kEstablished, kClose, why);
    if (!at)
      throw StepError(std::string(p.what) + " close: " + why);
    SockEvent &hit = events[*at];
    hit.capture.what = std::string(p.what) + " close";
    hit.capture.known["sock_common.skc_state"] = {kEstablished};
    hit.capture.known["tcp_sock.snd_una"] = le_bytes(snd_una, 4);
    hit.capture.known["tcp_sock.snd_nxt"] = le_bytes(snd_nxt, 4);
    hit.capture.known["tcp_sock.rcv_nxt"] = le_bytes(rcv_nxt, 4);
    run_.keep(std::move(hit));
  }

  // tcp_sock.bytes_acked apart from bytes_sent, which equals it on a
  // loss-free loopback: the client queues n bytes in repair mode (snd_nxt
  // moves, nothing is transmitted, bytes_sent stays) while the accepted
  // socket, in repair mode, takes the same n bytes as received (rcv_nxt
  // moves). The accepted socket's next segment acknowledges them: the
  // client's bytes_acked grows by n (tcp_snd_una_update), its bytes_sent
  // does not. Known at the client's close, at rest: tcpi_bytes_acked.
  void acked_pair() {
    auto addr = [](uint16_t port) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(0x7f000000u | rnd_in(1, 0xfffffe));
      return a;
    };
    sockaddr_in la = addr(static_cast<uint16_t>(rnd_in(10000, 60999)));
    Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l.get() < 0 || ::bind(l.get(), reinterpret_cast<sockaddr *>(&la), sizeof(la)) != 0 ||
        ::listen(l.get(), 4) != 0)
      throw StepError(err("acked pair: listener"));
    Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (c.get() < 0 || ::connect(c.get(), reinterpret_cast<sockaddr *>(&la), sizeof(la)) != 0)
      throw StepError(err("acked pair: connect"));
    Fd a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (a.get() < 0)
      throw StepError(err("acked pair: accept"));
    // Some real data first, random, so that bytes_acked differs by trial.
    move(c.get(), a.get(), rnd_in(1, 8000));
    uint32_t n = rnd_in(1, 4000);
    set_int(a.get(), TCP_REPAIR, TCP_REPAIR_ON, "acked pair: repair (accepted)");
    set_int(a.get(), TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
    send_all(a.get(), n, 0, "acked pair: queueing received data");
    set_int(c.get(), TCP_REPAIR, TCP_REPAIR_ON, "acked pair: repair (client)");
    set_int(c.get(), TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
    send_all(c.get(), n, 0, "acked pair: queueing sent data");
    set_int(c.get(), TCP_REPAIR, TCP_REPAIR_OFF_NO_WP, "acked pair: leaving repair (client)");
    set_int(a.get(), TCP_REPAIR, TCP_REPAIR_OFF_NO_WP, "acked pair: leaving repair (accepted)");
    // Its ACK of the n bytes rides on one byte of data.
    move(a.get(), c.get(), 1);
    tcp_info ti = at_rest(c.get());
    scan_.drain();
    c.close();
    auto events = scan_.drain();
    std::string why;
    auto at = pick_hit(events, kEstablished, kFinWait1, why);
    if (!at)
      throw StepError("acked pair client close: " + why);
    SockEvent &hit = events[*at];
    hit.capture.what = "acked pair client close";
    hit.capture.known["sock_common.skc_state"] = {kEstablished};
    hit.capture.known["tcp_sock.bytes_acked"] = le_bytes(ti.tcpi_bytes_acked, 8);
    hit.capture.known["tcp_sock.total_retrans"] = le_bytes(ti.tcpi_total_retrans, 4);
    run_.keep(std::move(hit));
  }

  // n bytes from one socket to the other, read whole (n small enough for
  // the socket buffers: one blocking send, then reads).
  static void move(int from, int to, size_t n) {
    send_all(from, n, 0, "acked pair: send");
    std::vector<char> buf(n);
    for (size_t got = 0; got < n;) {
      pollfd p{to, POLLIN, 0};
      if (::poll(&p, 1, 2000) != 1)
        throw StepError("acked pair: no data in 2 s");
      ssize_t r = ::recv(to, buf.data(), n - got, MSG_DONTWAIT);
      if (r <= 0)
        throw StepError(err("acked pair: recv"));
      got += static_cast<size_t>(r);
    }
  }

  // TCP_INFO once nothing is in flight (tcpi_unacked: packets_out) and
  // nothing waits to be sent: bytes_acked then moves only with an ACK of new
  // data, and none can come, so the close's hit sees the same value. The
  // byte just read carried the ACK, so this holds at once unless softirq
  // work is still pending (ksoftirqd under load): polled, up to 2 s.
  static tcp_info at_rest(int fd) {
    for (int i = 0; i < 20000; i++) {
      tcp_info t = info_of(fd);
      if (t.tcpi_unacked == 0 && t.tcpi_notsent_bytes == 0)
        return t;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    throw StepError("acked pair: never at rest in 2 s");
  }

  SockScanSession &scan_;
  SockTrialRun &run_;
};

} // namespace

void run_seq_sockets(SockScanSession &scan, SockTrialRun &run) {
  try {
    SeqSubject(scan, run).run();
  } catch (const NoRepair &e) {
    run.no_repair = e.what();
  } catch (const StepError &e) {
    run.error = e.what();
  }
  scan.drain();
}

} // namespace offsetprobe::net
