// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/net/retrans_subject.h"
#include "calibration/experiment/net/subject_fd.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/tcp.h> // struct tcp_info (glibc's is older)
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace offsetprobe::net {

namespace {

// The episodes cannot run here (the route or the filter refused, a socket
// step failed): total_retrans stays unknown, the trial goes on.
struct NoRetrans : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// rto_min (4 ms, locked as iproute2 locks it) on the local route to
// 127.0.0.1 of this thread's network namespace: the RTO of a loopback
// connection is then rto_min plus a little (8 ms at HZ=250), not 200 ms.
void set_rto_min_route() {
  Fd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (nl.get() < 0)
    throw NoRetrans(errno_text("netlink socket"));
  struct {
    nlmsghdr n;
    rtmsg r;
    char attrs[128];
  } req{};
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.n.nlmsg_type = RTM_NEWROUTE;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  req.n.nlmsg_seq = 1;
  req.r.rtm_family = AF_INET;
  req.r.rtm_dst_len = 32;
  req.r.rtm_table = RT_TABLE_LOCAL;
  req.r.rtm_protocol = RTPROT_BOOT;
  req.r.rtm_scope = RT_SCOPE_HOST;
  req.r.rtm_type = RTN_LOCAL;
  auto put = [&](rtattr *at, unsigned short type, const void *data, size_t len) {
    at->rta_type = type;
    at->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(at), data, len);
    return static_cast<uint32_t>(RTA_ALIGN(at->rta_len));
  };
  auto tail = [&] {
    return reinterpret_cast<rtattr *>(reinterpret_cast<char *>(&req) +
                                      NLMSG_ALIGN(req.n.nlmsg_len));
  };
  uint32_t dst = htonl(INADDR_LOOPBACK), oif = if_nametoindex("lo");
  req.n.nlmsg_len = NLMSG_ALIGN(req.n.nlmsg_len) + put(tail(), RTA_DST, &dst, 4);
  req.n.nlmsg_len += put(tail(), RTA_OIF, &oif, 4);
  rtattr *metrics = tail();
  metrics->rta_type = RTA_METRICS;
  uint32_t lock = 1u << RTAX_RTO_MIN, rto_min_ms = 4, mlen = RTA_LENGTH(0);
  mlen += put(reinterpret_cast<rtattr *>(reinterpret_cast<char *>(metrics) + mlen), RTAX_LOCK,
              &lock, 4);
  mlen += put(reinterpret_cast<rtattr *>(reinterpret_cast<char *>(metrics) + mlen), RTAX_RTO_MIN,
              &rto_min_ms, 4);
  metrics->rta_len = static_cast<unsigned short>(mlen);
  req.n.nlmsg_len += RTA_ALIGN(mlen);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &req, req.n.nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel),
               sizeof(kernel)) < 0)
    throw NoRetrans(errno_text("RTM_NEWROUTE rto_min"));
  char buf[1024];
  ssize_t n = ::recv(nl.get(), buf, sizeof(buf), 0);
  auto *h = reinterpret_cast<nlmsghdr *>(buf);
  if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) || h->nlmsg_type != NLMSG_ERROR)
    throw NoRetrans("RTM_NEWROUTE rto_min: no acknowledgement");
  int e = reinterpret_cast<nlmsgerr *>(NLMSG_DATA(h))->error;
  if (e != 0) {
    errno = -e;
    throw NoRetrans(errno_text("RTM_NEWROUTE rto_min (local 127.0.0.1 dev lo table local)"));
  }
}

tcp_info info_of(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof(ti);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    throw NoRetrans(errno_text("TCP_INFO"));
  return ti;
}

// Waits up to 2 s for `fd` to be readable.
void wait_in(int fd, const char *what) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1)
    throw NoRetrans(std::string(what) + ": nothing to read in 2 s");
}

} // namespace

// One client and its accepted peer.
struct Episode {
  int client = -1, server = -1;
  uint32_t target = 0;       // retransmissions waited for before the ACKs flow again
  std::vector<uint32_t> seg; // bytes of each segment written
  uint32_t known = 0;        // tcpi_total_retrans at rest, after the episode
  bool acked = false;        // the filter is off and the server's byte is sent
  ~Episode() {
    for (int fd : {client, server})
      if (fd >= 0)
        ::close(fd);
  }
};

struct RetransEpisodes::State {
  bool with_rto = false;
  std::thread helper;
  std::string no_retrans;
  int listener = -1;
  std::vector<std::unique_ptr<Episode>> eps;

  ~State() {
    if (helper.joinable())
      helper.join();
    eps.clear();
    if (listener >= 0)
      ::close(listener);
  }

  // The helper thread's work, in the subject's namespace.
  void run() {
    set_rto_min_route();
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in la{};
    la.sin_family = AF_INET;
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    la.sin_port = htons(static_cast<uint16_t>(random_in(10000, 60999)));
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr *>(&la), sizeof(la)) != 0 ||
        ::listen(listener, 4) != 0)
      throw NoRetrans(errno_text("retransmission listener"));
    // A tail loss probe alone (1: nothing marked lost, no RTO), and a probe
    // then an RTO (2: every segment in flight marked lost), each with 2 or 3
    // segments in flight: tcp_sock.lost, total_rto (6.7+) and undo_retrans
    // differ from total_retrans in the first, the counts that follow the
    // segments (delivered, data_segs_out) in one or the other.
    std::vector<uint32_t> targets = {1};
    if (with_rto)
      targets.push_back(2);
    for (uint32_t target : targets) {
      auto e = std::make_unique<Episode>();
      e->target = target;
      for (uint32_t i = 0, n = random_in(2, 3); i < n; i++)
        e->seg.push_back(random_in(1, 500));
      e->client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (e->client < 0 || ::connect(e->client, reinterpret_cast<sockaddr *>(&la), sizeof(la)) != 0)
        throw NoRetrans(errno_text("retransmission client connect"));
      e->server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (e->server < 0)
        throw NoRetrans(errno_text("retransmission accept"));
      int one = 1;
      ::setsockopt(e->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::setsockopt(e->server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      eps.push_back(std::move(e));
    }
    // Every incoming packet dropped: the ACKs of the data never arrive.
    sock_filter drop[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    sock_fprog prog{1, drop};
    for (auto &e : eps) {
      if (::setsockopt(e->client, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
        throw NoRetrans(errno_text("SO_ATTACH_FILTER"));
      std::vector<char> buf(500, 'r');
      for (uint32_t n : e->seg)
        if (::send(e->client, buf.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT) !=
            static_cast<ssize_t>(n))
          throw NoRetrans(errno_text("retransmission client send"));
    }
    // The targets, polled side by side (up to 1.5 s: past it the episode
    // ends anyway; its count is read at rest all the same).
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    for (size_t left = eps.size(); left;) {
      bool late = std::chrono::steady_clock::now() > until;
      for (auto &e : eps) {
        if (e->acked || (!late && info_of(e->client).tcpi_total_retrans < e->target))
          continue;
        int zero = 0;
        if (::setsockopt(e->client, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero)) != 0)
          throw NoRetrans(errno_text("SO_DETACH_FILTER"));
        // Its ACK of every segment rides on one byte of data.
        if (::send(e->server, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
          throw NoRetrans(errno_text("retransmission server send"));
        e->acked = true;
        left--;
      }
      if (left)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    for (auto &e : eps)
      settle(*e);
  }

  // Reads both ends empty (a close with unread data would reset), then the
  // client's TCP_INFO once nothing is in flight: no timer is armed then,
  // nothing can be retransmitted before its close.
  static void settle(Episode &e) {
    uint32_t total = 0;
    for (uint32_t n : e.seg)
      total += n;
    std::vector<char> buf(2048);
    for (uint32_t got = 0; got < total;) {
      wait_in(e.server, "retransmission server");
      ssize_t r = ::recv(e.server, buf.data(), buf.size(), MSG_DONTWAIT);
      if (r <= 0)
        throw NoRetrans(errno_text("retransmission server recv"));
      got += static_cast<uint32_t>(r);
    }
    wait_in(e.client, "retransmission client");
    if (::recv(e.client, buf.data(), 1, MSG_DONTWAIT) != 1)
      throw NoRetrans(errno_text("retransmission client recv"));
    for (int i = 0;; i++) {
      tcp_info t = info_of(e.client);
      if (t.tcpi_unacked == 0 && t.tcpi_notsent_bytes == 0) {
        e.known = t.tcpi_total_retrans;
        return;
      }
      if (i > 20000)
        throw NoRetrans("retransmission client: data still in flight after 2 s");
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
};

RetransEpisodes::RetransEpisodes(bool with_rto) : st_(std::make_unique<State>()) {
  State *st = st_.get();
  st->with_rto = with_rto;
  st->helper = std::thread([st] {
    // Not the subject's comm (inherited): the scanner must not see its
    // connects and accepts.
    ::prctl(PR_SET_NAME, "op-retrans");
    try {
      st->run();
    } catch (const std::exception &e) {
      st->no_retrans = e.what();
    }
  });
}

RetransEpisodes::~RetransEpisodes() = default;

void RetransEpisodes::finish(SockScanSession &scan, SockTrialRun &run) {
  if (st_->helper.joinable())
    st_->helper.join();
  if (!st_->no_retrans.empty()) {
    run.no_retrans = st_->no_retrans;
    st_->eps.clear();
    scan.drain();
    return;
  }
  for (auto &e : st_->eps) {
    scan.drain();
    ::close(std::exchange(e->client, -1));
    auto events = scan.drain();
    std::string why;
    auto at = pick_hit(events, kEstablished, kFinWait1, why);
    std::string what = "retransmission client close (" + std::to_string(e->known) + " of " +
                       std::to_string(e->seg.size()) + " segments)";
    if (!at) {
      run.error = what + ": " + why;
      break;
    }
    SockEvent &hit = events[*at];
    hit.capture.what = what;
    hit.capture.known["sock_common.skc_state"] = {kEstablished};
    hit.capture.known["tcp_sock.total_retrans"] = le_bytes(e->known, 4);
    run.keep(std::move(hit));
  }
  st_->eps.clear();
  scan.drain();
}

} // namespace offsetprobe::net
