// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/net/sockscan_session.h"

#include "calibration/error.h"
#include "offsetprobe/exit_codes.h"

#include "scanner.h"
#include "sockscan.h"
#include "sockscan.skel.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace offsetprobe::net {

static_assert(kSkBytes == OP_SK_BYTES && kSkChunk == OP_SK_CHUNK && kSkWords == OP_SK_WORDS);
static_assert(kFollowWords == OP_SK_FOLLOW && kPeek == OP_SK_PEEK && kBack == OP_SK_BACK &&
              kDeep == OP_SK_DEEP && kNoWord == OP_SK_NO_PARENT);

namespace {

std::string errno_text(int err) {
  err = err < 0 ? -err : err;
  return std::string(strerrorname_np(err) ? strerrorname_np(err) : "E?") + " (" +
         std::strerror(err) + ")";
}

[[noreturn]] void fail(const char *what, int err) {
  err = err < 0 ? -err : err;
  if (err == EPERM || err == EACCES)
    throw Fatal(exit_permission, std::string("socket scanner: ") + what + ": " + errno_text(err) +
                                     ": run as root with CAP_BPF and CAP_PERFMON");
  throw Fatal(exit_bpf, std::string("socket scanner: ") + what + ": " + errno_text(err));
}

SockEvent to_event(const op_sk_event &e) {
  SockEvent out;
  auto &c = out.capture;
  c.sk = e.sk;
  c.oldstate = e.oldstate;
  c.newstate = e.newstate;
  c.data.assign(e.data, e.data + OP_SK_BYTES);
  c.readable = e.readable;
  for (uint32_t i = 0; i < OP_SK_WORDS; i++)
    c.inum[i] = e.inum[i];
  c.words_ok = e.words_ok;
  c.hook = e.hook == OP_HOOK_UDP ? Hook::udp : Hook::state;
  c.follow.assign(&e.follow[0][0], &e.follow[0][0] + sizeof(e.follow));
  c.deep.assign(&e.deep[0][0][0], &e.deep[0][0][0] + sizeof(e.deep));
  for (uint32_t k = 0; k < OP_SK_BACK; k++) {
    c.back_word[k] = e.back_word[k];
    c.deep_ok[k] = e.deep_ok[k];
  }
  for (uint32_t i = 0; i < OP_SK_FOLLOW / 64; i++)
    c.follow_ok[i] = e.follow_ok[i];
  out.slot = e.slot;
  out.pid_tgid = e.pid_tgid;
  out.vals_ok = e.vals_ok;
  for (uint32_t i = 0; i < OP_SK_MAX_STEPS; i++)
    out.vals.push_back({e.vals[i][0], e.vals[i][1]});
  return out;
}

} // namespace

struct SockScanSession::Impl {
  op_sockscan *skel = nullptr;
  bpf_link *link = nullptr;
  bpf_link *udp = nullptr;
  std::string udp_error;
  ring_buffer *rb = nullptr;
  std::vector<SockEvent> pending;
  ~Impl() {
    ring_buffer__free(rb);
    bpf_link__destroy(udp);
    bpf_link__destroy(link);
    op_sockscan__destroy(skel);
  }
};

SockScanSession::SockScanSession(std::optional<uint32_t> inum_offset, bool readback_only)
    : impl_(std::make_unique<Impl>()) {
  auto &s = impl_->skel;
  s = op_sockscan__open();
  if (!s)
    fail("open", errno);
  s->rodata->inum_offset = inum_offset ? *inum_offset : OP_SK_NO_PARENT;
  s->rodata->readback_only = readback_only ? 1 : 0;
  // With OFFSETPROBE_LIBBPF_DEBUG, the verifier's statistics of each program
  // (as the other programs' loader prints them).
  if (getenv("OFFSETPROBE_LIBBPF_DEBUG")) {
    bpf_program__set_log_level(s->progs.scan_sock, 4);
    bpf_program__set_log_level(s->progs.scan_udp, 4);
  }
  if (int err = op_sockscan__load(s))
    fail("load", err);
  impl_->link = bpf_program__attach_raw_tracepoint(s->progs.scan_sock, "inet_sock_set_state");
  if (!impl_->link) {
    int err = errno;
    if (err == EPERM || err == EACCES)
      fail("attaching raw tracepoint inet_sock_set_state", err);
    throw Fatal(exit_tracing, "socket scanner: attaching raw tracepoint inet_sock_set_state: " +
                                  errno_text(err) + " (the kernel needs 4.16+)");
  }
  // The second hook is for sk_type, sk_protocol and socket.type only: where
  // it cannot be attached, those stay unresolved with the reason.
  impl_->udp = bpf_program__attach_raw_tracepoint(s->progs.scan_udp, "udp_fail_queue_rcv_skb");
  if (!impl_->udp)
    impl_->udp_error = "attaching raw tracepoint udp_fail_queue_rcv_skb: " + errno_text(errno);
  impl_->rb = ring_buffer__new(
      bpf_map__fd(s->maps.events),
      [](void *ctx, void *data, size_t size) -> int {
        if (size < sizeof(op_sk_event))
          return 0;
        static_cast<Impl *>(ctx)->pending.push_back(
            to_event(*static_cast<const op_sk_event *>(data)));
        return 0;
      },
      impl_.get(), nullptr);
  if (!impl_->rb)
    fail("ring buffer", errno);
}

SockScanSession::~SockScanSession() = default;

const std::string &SockScanSession::udp_error() const {
  return impl_->udp_error;
}

uint32_t SockScanSession::add_cookie(const std::string &cookie) {
  uint32_t slot = next_slot_++;
  if (slot >= OP_MAX_SLOTS)
    throw Fatal(exit_failure, "socket scanner: too many subjects for one session");
  char key[OP_COMM_LEN] = {};
  std::memcpy(key, cookie.data(), std::min(cookie.size(), sizeof(key) - 1));
  if (bpf_map__update_elem(impl_->skel->maps.cookies, key, sizeof(key), &slot, sizeof(slot),
                           BPF_ANY) != 0)
    fail("registering a subject cookie", errno);
  return slot;
}

void SockScanSession::set_plan(const std::vector<SockStep> &steps) {
  if (steps.size() > OP_SK_MAX_STEPS)
    throw Fatal(exit_failure, "socket scanner: read-back plan too long");
  op_sk_plan plan{};
  for (uint32_t i = 0; i < steps.size(); i++) {
    // The program reads 1-16 bytes, from the sk or from an earlier step.
    if (steps[i].size == 0 || steps[i].size > 16 || (steps[i].parent && *steps[i].parent >= i))
      throw Fatal(exit_failure, "socket scanner: read-back step " + std::to_string(i) +
                                    " has size " + std::to_string(steps[i].size) +
                                    " or a parent not before it");
    plan.steps[i].parent = steps[i].parent ? *steps[i].parent : OP_SK_NO_PARENT;
    plan.steps[i].offset = steps[i].offset;
    plan.steps[i].size = steps[i].size;
  }
  uint32_t zero = 0;
  if (bpf_map__update_elem(impl_->skel->maps.plan, &zero, sizeof(zero), &plan, sizeof(plan),
                           BPF_ANY))
    fail("writing the read-back plan", errno);
}

std::vector<SockEvent> SockScanSession::drain() {
  if (ring_buffer__consume(impl_->rb) < 0)
    fail("reading the ring buffer", errno);
  return std::exchange(impl_->pending, {});
}

} // namespace offsetprobe::net
