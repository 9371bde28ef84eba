// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/net/sock_subject.h"

#include "calibration/model/error.h"
#include "calibration/experiment/net/retrans_subject.h"
#include "calibration/experiment/net/seq_subject.h"
#include "calibration/experiment/net/sock_subject_parts.h"
#include "calibration/experiment/net/udp_subject.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/tcp.h> // struct tcp_info with its bytes and segment counts (glibc's is older)
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <chrono>
#include <algorithm>
#include <array>
#include <cstring>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <stdexcept>
#include <thread>

namespace offsetprobe::net {

namespace {

using namespace subject_parts;

class Subject {
public:
  explicit Subject(SockTrialRun &run) : run_(run) {}

  // The scanner, once it is loaded: setup() does without it (it moves no
  // TCP socket), run() needs it.
  void attach(SockScanSession &scan) { scan_ = &scan; }

  void setup() {
    if (::unshare(CLONE_NEWNET) != 0) {
      run_.cannot_run = err("unshare(CLONE_NEWNET)");
      return;
    }
    struct stat st {};
    if (::stat("/proc/thread-self/ns/net", &st) != 0) {
      run_.cannot_run = err("stat /proc/thread-self/ns/net");
      return;
    }
    run_.trial.netns_inum = static_cast<uint32_t>(st.st_ino);
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    bool up = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    up = up && ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    if (!up)
      run_.cannot_run = err("bringing lo up in the new network namespace");
    if (s >= 0)
      ::close(s);
    // Two random ULAs (fd00::/8) on lo: loopback has no duplicate address
    // detection, so they are usable at once.
    for (auto *a : {&a6_, &b6_}) {
      a->family = AF_INET6;
      a->addr[0] = 0xfd;
      // Its last 4 bytes are never a v6 socket's skc_daddr/skc_rcv_saddr
      // (0 or 127.0.0.6, LOOPBACK4_IPV6): the known_not values above.
      do {
        for (size_t i = 1; i < 16; i++)
          a->addr[i] = static_cast<uint8_t>(rnd());
      } while (a->addr[12] == 0 || a->addr[12] == 127);
      if (run_.no_v6.empty())
        add_v6(*a);
    }
    for (auto *a : {&a6_, &b6_})
      if (run_.no_v6.empty())
        wait_usable(*a);
  }

  // An address just added may be tentative for a moment (its duplicate
  // address detection completes in a work item, even on lo): bind fails
  // with EADDRNOTAVAIL until then. Waits up to 2 s.
  void wait_usable(const Endpoint &e) {
    for (int i = 0; i < 2000; i++) {
      int s = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s < 0)
        break;
      Endpoint any = e;
      any.port = 0;
      auto sa = any.sa();
      int rc = ::bind(s, reinterpret_cast<sockaddr *>(&sa), any.len());
      int e2 = errno;
      ::close(s);
      if (rc == 0)
        return;
      if (e2 != EADDRNOTAVAIL)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    run_.no_v6 = err("a ULA added to lo did not become usable");
  }

  void run() {
    std::vector<uint16_t> used;
    auto v4 = [&](uint8_t first) {
      Endpoint e;
      e.addr = {first, static_cast<uint8_t>(rnd_in(1, 254)), static_cast<uint8_t>(rnd_in(1, 254)),
                static_cast<uint8_t>(rnd_in(1, 254))};
      return e;
    };
    // A listener bound to a multicast address: the kernel keeps the address
    // in skc_rcv_saddr and zeroes inet_saddr (__inet_bind: "use device"),
    // the one case where the two differ. (A v6 TCP socket may not bind to a
    // multicast address: EINVAL.)
    Endpoint m = v4(239);
    m.port = fresh_port(used);
    multicast_listener(m, "v4 multicast listener");
    Endpoint a = v4(127), b = v4(127);
    while (b.addr == a.addr)
      b = v4(127);
    source_routed(a, b, v4(127), used);
    pair(a, b, used, "v4");
    if (run_.no_v6.empty())
      pair(a6_, b6_, used, "v6");
  }

private:
  void multicast_listener(const Endpoint &m, const std::string &what) {
    Sock ms = open(m.family, what.c_str());
    bind_to(ms, m, what.c_str());
    listener_known(ms, m);
    if (m.family == AF_INET)
      ms.known["inet_sock.inet_saddr"] = {0, 0, 0, 0};
    listen_on(ms, what);
    close_listener(ms, 0, what);
  }

  void add_v6(const Endpoint &e) {
    struct {
      in6_addr addr;
      uint32_t prefixlen;
      int ifindex;
    } req{}; // struct in6_ifreq (linux/ipv6.h, which clashes with netinet/in.h)
    std::memcpy(&req.addr, e.addr.data(), 16);
    req.prefixlen = 128;
    req.ifindex = static_cast<int>(if_nametoindex("lo"));
    int s = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || ::ioctl(s, SIOCSIFADDR, &req) != 0)
      run_.no_v6 = err("adding a ULA to lo");
    if (s >= 0)
      ::close(s);
  }

  // A TCP socket with random options, created under a random fsuid (its
  // sk_uid; the fsuid is this thread's alone: the raw syscall, not glibc's
  // process-wide set*id broadcast).
  Sock open(int family, const char *what) {
    Sock s;
    s.family = family;
    uint32_t uid = rnd_in(1000, 60000);
    ::syscall(SYS_setfsuid, uid);
    s.fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    // setfsuid returns the fsuid before the call: the one the socket got.
    auto had = static_cast<uint32_t>(::syscall(SYS_setfsuid, 0));
    if (s.fd < 0)
      throw TrialError(err(std::string("socket for ") + what));
    if (had == uid) // not refused (CAP_SETUID)
      s.known["sock.sk_uid"] = le_bytes(uid, 4);
    s.known["sock_common.skc_family"] = le_bytes(static_cast<uint16_t>(family), 2);
    stream_known(s);
    set_options(s);
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    if (::getsockopt(s.fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 && cookie)
      s.known["sock_common.skc_cookie"] = le_bytes(cookie, 8);
    return s;
  }

  // A TCP socket's type and protocol, in its sk and its struct socket.
  static void stream_known(Sock &s) {
    s.known["sock.sk_type"] = le_bytes(SOCK_STREAM, 2);
    s.known["sock.sk_protocol"] = le_bytes(IPPROTO_TCP, 2);
    s.known["socket.type"] = le_bytes(SOCK_STREAM, 2);
  }

  // Random options; each is known as getsockopt reads it back (the kernel
  // doubles buffer sizes). An option the host refuses (no CAP_NET_ADMIN in
  // a container, say) leaves its field unknown for this socket.
  void set_options(Sock &s) {
    auto set = [&](const char *field, int opt, int alt, uint32_t v) {
      int iv = static_cast<int>(v);
      if (::setsockopt(s.fd, SOL_SOCKET, opt, &iv, sizeof(iv)) != 0 &&
          (alt < 0 || ::setsockopt(s.fd, SOL_SOCKET, alt, &iv, sizeof(iv)) != 0))
        return;
      int got = 0;
      socklen_t len = sizeof(got);
      int get = opt == SO_RCVBUFFORCE ? SO_RCVBUF : opt == SO_SNDBUFFORCE ? SO_SNDBUF : opt;
      if (::getsockopt(s.fd, SOL_SOCKET, get, &got, &len) == 0)
        s.known[field] = le_bytes(static_cast<uint32_t>(got), 4);
    };
    set("sock.sk_mark", SO_MARK, -1, rnd_in(1, 0x7fffffff));
    // Above 6 needs CAP_NET_ADMIN; without it, 1..6.
    set("sock.sk_priority", SO_PRIORITY, -1, rnd_in(7, 0xffff));
    if (!s.known.count("sock.sk_priority"))
      set("sock.sk_priority", SO_PRIORITY, -1, rnd_in(1, 6));
    set("sock.sk_rcvbuf", SO_RCVBUFFORCE, SO_RCVBUF, rnd_in(8192, 1 << 20));
    set("sock.sk_sndbuf", SO_SNDBUFFORCE, SO_SNDBUF, rnd_in(8192, 1 << 20));
    bool bind_dev = rnd() & 1;
    const char *dev = bind_dev ? "lo" : "";
    s.known.erase("sock_common.skc_bound_dev_if");
    if (::setsockopt(s.fd, SOL_SOCKET, SO_BINDTODEVICE, dev, bind_dev ? 3 : 0) == 0)
      s.known["sock_common.skc_bound_dev_if"] = le_bytes(bind_dev ? if_nametoindex("lo") : 0, 4);
  }

  void bind_to(Sock &s, const Endpoint &e, const char *what) {
    auto sa = e.sa();
    int one = 1;
    ::setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(s.fd, reinterpret_cast<sockaddr *>(&sa), e.len()) != 0)
      throw TrialError(err(std::string("bind for ") + what));
    s.known["sock_common.skc_num"] = le_bytes(e.port, 2);
    s.known["inet_sock.inet_sport"] = be16_bytes(e.port);
    if (e.family == AF_INET) {
      s.known["sock_common.skc_rcv_saddr"] = e.v4();
      s.known["inet_sock.inet_saddr"] = e.v4();
    } else {
      s.known["sock_common.skc_v6_rcv_saddr"] = e.v6();
      s.known_not["sock_common.skc_rcv_saddr"] = {e.addr.begin() + 12, e.addr.end()};
    }
  }

  void listener_known(Sock &s, const Endpoint &e) {
    s.known["sock_common.skc_dport"] = {0, 0};
    if (e.family == AF_INET)
      s.known["sock_common.skc_daddr"] = {0, 0, 0, 0};
    else
      s.known["sock_common.skc_v6_daddr"] = std::vector<uint8_t>(16, 0);
  }

  void peer_known(Sock &s, const Endpoint &peer) {
    s.known["sock_common.skc_dport"] = be16_bytes(peer.port);
    if (peer.family == AF_INET) {
      s.known["sock_common.skc_daddr"] = peer.v4();
    } else {
      s.known["sock_common.skc_v6_daddr"] = peer.v6();
      // A v4 socket's skc_v6_daddr is its peer v4-mapped (sk_daddr_set):
      // its last 4 bytes hold skc_daddr's value. On a v6 socket they hold
      // the random ULA's, which skc_daddr (0 or 127.0.0.6) does not.
      s.known_not["sock_common.skc_daddr"] = {peer.addr.begin() + 12, peer.addr.end()};
    }
  }

  // The hit of the transition old -> new among those since the last call:
  // exactly one, or the trial is void. Extra values hold at this hit only.
  void expect(const Sock &s, int oldstate, int newstate, const std::string &what,
              std::map<std::string, std::vector<uint8_t>> extra = {}) {
    auto events = scan_->drain();
    std::string why;
    auto at = pick_hit(events, oldstate, newstate, why);
    if (!at)
      throw TrialError(what + ": " + why);
    SockEvent *hit = &events[*at];
    hit->capture.what = what;
    hit->capture.known = s.known;
    hit->capture.known["sock_common.skc_state"] = {static_cast<uint8_t>(oldstate)};
    // struct socket, through sk_socket (socket_solver.h): it points back to
    // the sk (at a close too: inet_release clears sock->sk after the
    // protocol's close, and sock_orphan comes after the transition); the
    // state is the one the last syscall left (connect sets SS_CONNECTING
    // only after the protocol's connect, which makes the transition).
    bool syscall_open = newstate == kListen || newstate == kSynSent;
    hit->capture.known["socket.sk"] = le_bytes(hit->capture.sk, 8);
    hit->capture.known["socket.state"] = le_bytes(syscall_open ? 1 : s.ss, 4);
    for (auto &[k, v] : extra)
      hit->capture.known[k] = v;
    hit->capture.known_not = s.known_not;
    hit->capture.known_shr = s.known_shr;
    run_.keep(std::move(*hit));
  }

  void listen_on(Sock &s, const std::string &what) {
    uint32_t backlog = rnd_in(16, 1000);
    if (::listen(s.fd, static_cast<int>(backlog)) != 0)
      throw TrialError(err("listen for " + what));
    // sk_max_ack_backlog is set after the LISTEN transition on some kernels
    // (5.10's inet_listen): it is known at the listener's close only.
    s.known["sock.sk_max_ack_backlog"] = le_bytes(backlog, 4);
    expect(s, kClose, kListen, what + " listen",
           {{"sock.sk_max_ack_backlog", {}}, {"sock.sk_ack_backlog", le_bytes(0, 4)}});
  }

  // Closes a listener with `pending` connections not accepted: the count
  // the kernel reports (TCP_INFO's tcpi_unacked of a listener is
  // sk_ack_backlog) is waited for, then taken as the known value.
  void close_listener(Sock &s, uint32_t pending, const std::string &what) {
    tcp_info ti{};
    for (int i = 0;; i++) {
      socklen_t len = sizeof(ti);
      if (::getsockopt(s.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        throw TrialError(err("TCP_INFO for " + what));
      if (ti.tcpi_unacked == pending)
        break;
      if (i > 10000) // 2 s
        throw TrialError(what + ": " + std::to_string(ti.tcpi_unacked) +
                         " connections pending, want " + std::to_string(pending));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::close(std::exchange(s.fd, -1));
    expect(s, kListen, kClose, what + " close", {{"sock.sk_ack_backlog", le_bytes(pending, 4)}});
  }

  void pair(const Endpoint &server_addr, const Endpoint &client_addr, std::vector<uint16_t> &used,
            const std::string &fam) {
    int family = server_addr.family;
    Endpoint srv = server_addr, cli = client_addr;
    srv.port = fresh_port(used);
    cli.port = fresh_port(used);
    Sock l = open(family, (fam + " listener").c_str());
    int mss = static_cast<int>(rnd_in(600, 1400));
    ::setsockopt(l.fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)); // inherited by the accepted one
    bind_to(l, srv, "listener");
    listener_known(l, srv);
    listen_on(l, fam + " listener");
    Sock c = open(family, (fam + " client").c_str());
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
    bind_to(c, cli, "client");
    peer_known(c, srv);
    connect_to(c, srv, fam + " client");
    // Connections left in the accept queue: sk_ack_backlog.
    uint32_t pending = rnd_in(0, 2);
    std::vector<Sock> waiting(pending);
    for (auto &w : waiting) {
      Endpoint e = cli;
      e.port = fresh_port(used);
      w = open(family, (fam + " pending client").c_str());
      bind_to(w, e, "pending client");
      peer_known(w, srv);
      connect_to(w, srv, fam + " pending client");
    }
    Sock s;
    s.family = family;
    s.fd = ::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (s.fd < 0)
      throw TrialError(err(fam + " accept"));
    // The accepted socket: what it inherited is not relied on; its options
    // are set again.
    s.known["sock_common.skc_family"] = le_bytes(static_cast<uint16_t>(family), 2);
    stream_known(s);
    s.ss = 3; // inet_accept: SS_CONNECTED
    set_options(s);
    bind_known_from(s, srv, cli);
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    if (::getsockopt(s.fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 && cookie)
      s.known["sock_common.skc_cookie"] = le_bytes(cookie, 8);
    exchange(c, s, fam);
    tcp_info_known(s, fam + " accepted");
    ::close(std::exchange(s.fd, -1));
    expect(s, kEstablished, kFinWait1, fam + " accepted close");
    // The client sees the FIN (CLOSE_WAIT) before its own close.
    pollfd p{c.fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 5000) != 1)
      throw TrialError(fam + " client: no FIN from the accepted socket in 5 s");
    ::close(std::exchange(c.fd, -1));
    expect(c, kCloseWait, kLastAck, fam + " client close");
    close_listener(l, pending, fam + " listener");
    waiting.clear();
    scan_->drain(); // the pending clients' ends, not used
  }

  // A v4 client with a loose source route through another local address
  // `hop`: tcp_v4_connect routes to the first hop ("nexthop =
  // inet_opt->opt.faddr"), so inet_sock's cork flow (cork.fl.u.ip4.daddr)
  // holds the hop while skc_daddr holds the destination: the one v4 socket
  // where the two differ. Non-blocking: the SYN is not forwarded anywhere;
  // the connect's own hit is all it is for. Where IP_OPTIONS is refused it
  // is left out (skc_daddr may then stay ambiguous, never wrong).
  void source_routed(Endpoint dst, Endpoint src, const Endpoint &hop, std::vector<uint16_t> &used) {
    dst.port = fresh_port(used);
    src.port = fresh_port(used);
    Sock r = open(AF_INET, "v4 source-routed client");
    uint8_t lsrr[8] = {0x83, 7, 4, hop.addr[0], hop.addr[1], hop.addr[2], hop.addr[3], 0};
    if (::setsockopt(r.fd, IPPROTO_IP, IP_OPTIONS, lsrr, sizeof(lsrr)) != 0)
      return;
    bind_to(r, src, "v4 source-routed client");
    peer_known(r, dst);
    ::fcntl(r.fd, F_SETFL, ::fcntl(r.fd, F_GETFL) | O_NONBLOCK);
    auto sa = dst.sa();
    if (::connect(r.fd, reinterpret_cast<sockaddr *>(&sa), dst.len()) != 0 && errno != EINPROGRESS)
      throw TrialError(err("connect for v4 source-routed client"));
    expect(r, kClose, kSynSent, "v4 source-routed client connect");
    ::close(std::exchange(r.fd, -1));
    scan_->drain();
  }

  // Random amounts of data both ways, each read whole by the other end.
  void exchange(Sock &c, Sock &s, const std::string &fam) {
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // Non-blocking both ways on this one thread: a send that filled the
    // buffers would otherwise wait for a reader that is this thread.
    auto move = [&](int from, int to, size_t n) {
      std::vector<char> &buf = move_buf_;
      if (buf.empty())
        buf.assign(65536, 'x');
      size_t sent = 0, got = 0;
      for (int idle = 0; got < n;) {
        bool moved = false;
        if (sent < n) {
          ssize_t w =
              ::send(from, buf.data(), std::min(n - sent, buf.size()), MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w < 0 && errno != EAGAIN)
            throw TrialError(err(fam + " send"));
          if (w > 0) {
            sent += static_cast<size_t>(w);
            moved = true;
          }
        }
        ssize_t r = ::recv(to, buf.data(), buf.size(), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN))
          throw TrialError(err(fam + " recv"));
        if (r > 0) {
          got += static_cast<size_t>(r);
          moved = true;
        }
        if (moved) {
          idle = 0;
        } else if (++idle > 5000) {
          throw TrialError(fam + ": data stopped moving");
        } else {
          pollfd p[2] = {{to, POLLIN, 0}, {from, POLLOUT, 0}};
          ::poll(p, sent < n ? 2 : 1, 1);
        }
      }
    };
    move(c.fd, s.fd, rnd_in(1, 40000));
    // Enough segments (of the small MSS the listener chose) for the sender
    // to be limited by its congestion window, which then grows (slow start)
    // to a value that differs from trial to trial.
    move(s.fd, c.fd, rnd_in(20000, 300000));
  }

  // TCP_INFO of a socket at rest (nothing unacknowledged, two readings 1 ms
  // apart equal), taken just before its close: the close's hit sees the
  // same values. tcpi_rtt is srtt_us >> 3, tcpi_rttvar mdev_us >> 2
  // (tcp_get_info).
  void tcp_info_known(Sock &s, const std::string &what) {
    auto read = [&] {
      tcp_info ti{};
      socklen_t len = sizeof(ti);
      if (::getsockopt(s.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        throw TrialError(err("TCP_INFO for " + what));
      return ti;
    };
    auto same = [](const tcp_info &a, const tcp_info &b) {
      return a.tcpi_unacked == 0 && b.tcpi_unacked == 0 && a.tcpi_rtt == b.tcpi_rtt &&
             a.tcpi_rttvar == b.tcpi_rttvar && a.tcpi_snd_cwnd == b.tcpi_snd_cwnd &&
             a.tcpi_bytes_received == b.tcpi_bytes_received &&
             a.tcpi_bytes_acked == b.tcpi_bytes_acked && a.tcpi_segs_in == b.tcpi_segs_in &&
             a.tcpi_segs_out == b.tcpi_segs_out && a.tcpi_total_retrans == b.tcpi_total_retrans;
    };
    tcp_info a = read(), b{};
    for (int i = 0;; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      b = read();
      if (same(a, b))
        break;
      if (i > 500)
        return; // never at rest: its TCP fields stay unknown here
      a = b;
    }
    s.known_shr["tcp_sock.srtt_us"] = {b.tcpi_rtt, 3};
    s.known_shr["tcp_sock.mdev_us"] = {b.tcpi_rttvar, 2};
    s.known["tcp_sock.snd_cwnd"] = le_bytes(b.tcpi_snd_cwnd, 4);
    s.known["tcp_sock.bytes_received"] = le_bytes(b.tcpi_bytes_received, 8);
    // Equal to bytes_sent here (a loss-free loopback): seq_subject.cpp's
    // acked pair tells the two apart.
    s.known["tcp_sock.bytes_acked"] = le_bytes(b.tcpi_bytes_acked, 8);
    s.known["tcp_sock.segs_in"] = le_bytes(b.tcpi_segs_in, 4);
    s.known["tcp_sock.segs_out"] = le_bytes(b.tcpi_segs_out, 4);
    // 0 on a loss-free loopback; retrans_subject.cpp's episodes move it.
    s.known["tcp_sock.total_retrans"] = le_bytes(b.tcpi_total_retrans, 4);
  }

  void bind_known_from(Sock &s, const Endpoint &local, const Endpoint &peer) {
    s.known["sock_common.skc_num"] = le_bytes(local.port, 2);
    s.known["inet_sock.inet_sport"] = be16_bytes(local.port);
    peer_known(s, peer);
    if (local.family == AF_INET) {
      s.known["sock_common.skc_rcv_saddr"] = local.v4();
      s.known["inet_sock.inet_saddr"] = local.v4();
    } else {
      s.known["sock_common.skc_v6_rcv_saddr"] = local.v6();
      s.known_not["sock_common.skc_rcv_saddr"] = {local.addr.begin() + 12, local.addr.end()};
    }
  }

  void connect_to(Sock &s, const Endpoint &e, const std::string &what) {
    auto sa = e.sa();
    if (::connect(s.fd, reinterpret_cast<sockaddr *>(&sa), e.len()) != 0)
      throw TrialError(err("connect for " + what));
    expect(s, kClose, kSynSent, what + " connect");
    s.ss = 3; // a blocking connect that returned: SS_CONNECTED
  }

  SockScanSession *scan_ = nullptr;
  SockTrialRun &run_;
  // exchange()'s 64 KiB, made once a trial: made per move, its pages went
  // back to the kernel at each free and were faulted in again (a cold
  // calibration's exchanges: ~113 page faults, now ~60; ~12 us apiece on
  // this kind of VM).
  std::vector<char> move_buf_;
  Endpoint a6_, b6_;
};

} // namespace

struct PendingSockTrial::State {
  std::string cookie;
  bool rto_episode = false;
  SockTrialRun run;
  // An Error (the scanner's ring buffer or maps failing under it) ends the
  // command as it would on any thread: it is carried out of the thread and
  // rethrown, never turned into a trial error that a retry recovers from.
  std::exception_ptr fatal;
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  SockScanSession *scan = nullptr; // nullptr once released: abandoned
  std::thread thread;

  // The subject thread: unshare(CLONE_NEWNET) moves only this thread, and
  // its comm is the cookie. It ends (and its namespace with it) before the
  // next trial.
  void subject() {
    ::prctl(PR_SET_NAME, cookie.c_str());
    Subject s(run);
    // The retransmission episodes run on a helper thread beside the other
    // sockets, from the namespace's set-up on; their clients are closed
    // last, by this thread.
    std::optional<RetransEpisodes> retrans;
    try {
      s.setup();
      if (run.cannot_run.empty())
        retrans.emplace(rto_episode);
    } catch (const std::exception &e) {
      run.error = std::string("subject: ") + e.what();
    }
    SockScanSession *sc = nullptr;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return released; });
      sc = scan;
    }
    if (!sc)
      return;
    sc->drain();
    uint64_t lost_before = 0;
    try {
      lost_before = sc->lost();
    } catch (const Error &) {
      fatal = std::current_exception();
      return;
    }
    s.attach(*sc);
    try {
      if (run.cannot_run.empty() && run.error.empty())
        s.run();
      if (run.cannot_run.empty() && run.error.empty())
        run_seq_sockets(*sc, run);
      if (run.cannot_run.empty() && run.error.empty())
        run_udp_socket(*sc, run);
      if (retrans && run.cannot_run.empty() && run.error.empty())
        retrans->finish(*sc, run);
    } catch (const TrialError &e) {
      run.error = e.what();
    } catch (const Error &) {
      fatal = std::current_exception();
      return;
    } catch (const std::exception &e) {
      run.error = std::string("subject: ") + e.what();
    }
    sc->drain();
    // A hit lost to a full ring buffer may have been the second hit of a
    // move that pick_hit then took for the only one: the trial is void.
    try {
      if (uint64_t n = sc->lost() - lost_before; n > 0 && run.error.empty())
        run.error = "the socket scanner's ring buffer was full: " + std::to_string(n) +
                    " hits lost, the trial is void";
    } catch (const Error &) {
      fatal = std::current_exception();
    }
  }

  void release(SockScanSession *sc) {
    {
      std::lock_guard lk(mu);
      if (released)
        return;
      released = true;
      scan = sc;
    }
    cv.notify_all();
  }
};

PendingSockTrial::PendingSockTrial(const std::string &cookie, bool rto_episode)
    : st_(std::make_unique<State>()) {
  st_->cookie = cookie;
  st_->rto_episode = rto_episode;
  st_->thread = std::thread([st = st_.get()] { st->subject(); });
}

PendingSockTrial::~PendingSockTrial() {
  st_->release(nullptr);
  if (st_->thread.joinable())
    st_->thread.join();
}

const std::string &PendingSockTrial::cookie() const {
  return st_->cookie;
}

SockTrialRun PendingSockTrial::run(SockScanSession &scan) {
  st_->release(&scan);
  st_->thread.join();
  if (st_->fatal)
    std::rethrow_exception(st_->fatal);
  return std::move(st_->run);
}

SockTrialRun run_sock_trial(SockScanSession &scan, const std::string &cookie, bool rto_episode) {
  return PendingSockTrial(cookie, rto_episode).run(scan);
}

} // namespace offsetprobe::net
