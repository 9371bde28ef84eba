// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/net/udp_subject.h"
#include "calibration/experiment/net/subject_fd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

namespace offsetprobe::net {

namespace {

struct StepError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint32_t rnd_in(uint32_t lo, uint32_t hi) {
  try {
    return static_cast<uint32_t>(random_in(lo, hi));
  } catch (const std::runtime_error &e) {
    throw StepError(e.what());
  }
}

std::string err(const std::string &what) {
  return errno_text(what);
}

sockaddr_in loopback(uint32_t host) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(0x7f000000u | host);
  return a;
}

// A UDP socket bound to `at`.
int udp_socket(const sockaddr_in &at, const char *what) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw StepError(err(std::string(what) + ": socket"));
  if (::bind(fd, reinterpret_cast<const sockaddr *>(&at), sizeof(at)) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    throw StepError(err(std::string(what) + ": bind"));
  }
  return fd;
}

void capture(SockScanSession &scan, SockTrialRun &run) {
  uint32_t a = rnd_in(1, 0xfffffe), b = rnd_in(1, 0xfffffe);
  while (b == a)
    b = rnd_in(1, 0xfffffe);
  sockaddr_in to = loopback(a), from = loopback(b);
  to.sin_port = htons(static_cast<uint16_t>(rnd_in(10000, 60999)));
  Fd rx(udp_socket(to, "UDP receiver"));
  // The smallest receive buffer (SOCK_MIN_RCVBUF): full after a datagram
  // or two, none of which is read.
  int one = 1;
  if (::setsockopt(rx.get(), SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)) != 0)
    throw StepError(err("UDP receiver: SO_RCVBUF"));
  Fd tx(udp_socket(from, "UDP sender"));
  std::vector<char> payload(1000, 'u');
  scan.drain();
  // Each datagram past the full queue is a hit, in the sender's softirq
  // work unless ksoftirqd took it (then no hit: the next datagram).
  for (int i = 0; i < 2000; i++) {
    if (::sendto(tx.get(), payload.data(), payload.size(), MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr *>(&to), sizeof(to)) < 0 &&
        errno != ENOBUFS && errno != EAGAIN)
      throw StepError(err("UDP sender: sendto"));
    auto events = scan.drain();
    std::vector<SockEvent *> hits;
    std::set<uint64_t> sks;
    for (auto &e : events)
      if (e.capture.hook == Hook::udp) {
        hits.push_back(&e);
        sks.insert(e.capture.sk);
      }
    // None yet; or another socket's full queue too, for a packet whose
    // softirq work ran on this stack (a second sk): not used, the next.
    if (hits.empty() || sks.size() != 1)
      continue;
    SockEvent &hit = *hits.back();
    hit.capture.what = "UDP socket full";
    hit.capture.known["sock.sk_type"] = le_bytes(SOCK_DGRAM, 2);
    hit.capture.known["sock.sk_protocol"] = le_bytes(IPPROTO_UDP, 2);
    hit.capture.known["socket.type"] = le_bytes(SOCK_DGRAM, 2);
    hit.capture.known["socket.state"] = le_bytes(1, 4); // SS_UNCONNECTED
    hit.capture.known["socket.sk"] = le_bytes(hit.capture.sk, 8);
    run.keep(std::move(hit));
    return;
  }
  throw StepError("UDP socket: no hit of udp:udp_fail_queue_rcv_skb in 2000 datagrams");
}

} // namespace

void run_udp_socket(SockScanSession &scan, SockTrialRun &run) {
  if (!scan.udp_error().empty()) {
    run.no_udp = scan.udp_error();
    return;
  }
  try {
    capture(scan, run);
  } catch (const StepError &e) {
    run.error = e.what();
  }
  scan.drain();
}

} // namespace offsetprobe::net
