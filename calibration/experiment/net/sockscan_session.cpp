// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/net/sockscan_session.h"

#include "bpf/runtime/libbpf_object.h"
#include "calibration/model/error.h"

#include "scanner.h"
#include "sockscan.h"
#include "sockscan.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace offsetprobe::net {

static_assert(kSkBytes == OP_SK_BYTES && kSkChunk == OP_SK_CHUNK && kSkWords == OP_SK_WORDS &&
              kSkGrain == OP_SK_GRAIN && kDeepGrains == OP_SK_DEEP_GRAINS);
static_assert(kFollowWords == OP_SK_FOLLOW && kPeek == OP_SK_PEEK && kBack == OP_SK_BACK &&
              kDeep == OP_SK_DEEP && kNoWord == OP_SK_NO_PARENT);

namespace {

[[noreturn]] void fail(const char *what, int err) {
  err = err < 0 ? -err : err;
  if (err == EPERM || err == EACCES)
    throw Error(ErrorKind::permission, std::string("socket scanner: ") + what + ": " +
                                           errno_text(err) +
                                           ": run as root with CAP_BPF and CAP_PERFMON");
  throw Error(ErrorKind::bpf, std::string("socket scanner: ") + what + ": " + errno_text(err));
}

// The bytes of a read-back hit (readback_only): the event up to `data`, the
// fields before it. Nothing after it was filled in the program.
constexpr size_t kReadbackEventBytes = offsetof(op_sk_event, data);

// A copied hit without deep copies (no word of the sk pointed back to it)
// ends before `deep`.
constexpr size_t kNoDeepEventBytes = offsetof(op_sk_event, deep);

// `whole`: a scan's hit, every member but `deep` unless `deep`; otherwise a
// read-back's, which ends before `data` (the capture's bytes, words and
// pointees stay empty). Only the members the hit carries are read.
SockEvent to_event(const op_sk_event &e, bool whole, bool deep) {
  SockEvent out;
  auto &c = out.capture;
  c.sk = e.sk;
  c.oldstate = e.oldstate;
  c.newstate = e.newstate;
  c.readable = e.readable;
  for (uint32_t i = 0; i < OP_SK_WORDS; i++)
    c.inum[i] = e.inum[i];
  c.words_ok = e.words_ok;
  c.hook = e.hook == OP_HOOK_UDP ? Hook::udp : Hook::state;
  if (whole) {
    c.data.assign(e.data, e.data + OP_SK_BYTES);
    c.follow.assign(&e.follow[0][0], &e.follow[0][0] + sizeof(e.follow));
    // Left empty without them: the solver reads deep only behind a
    // back_word, which is then kNoWord (socket_solver.cpp).
    if (deep)
      c.deep.assign(&e.deep[0][0][0], &e.deep[0][0][0] + sizeof(e.deep));
    for (uint32_t k = 0; k < OP_SK_BACK; k++) {
      c.back_word[k] = e.back_word[k];
      c.deep_ok[k] = e.deep_ok[k];
    }
    for (uint32_t i = 0; i < OP_SK_FOLLOW / 64; i++)
      c.follow_ok[i] = e.follow_ok[i];
  }
  out.slot = e.slot;
  out.pid_tgid = e.pid_tgid;
  out.vals_ok = e.vals_ok;
  for (uint32_t i = 0; i < OP_SK_MAX_STEPS; i++)
    out.vals.push_back({e.vals[i][0], e.vals[i][1]});
  return out;
}

} // namespace

struct SockScanSession::Impl {
  std::unique_ptr<LoadedObject> obj;
  std::string udp_error;
  ring_buffer *rb = nullptr;
  std::vector<SockEvent> pending;
  bool readback_only = false;
  // Where a hit's first bytes are copied, zero beyond them (to_event reads
  // no further): made at the first such hit. It was a thread_local, whose
  // 21 KiB every thread of the process then zeroed as it started (~6 page
  // faults each, ~12 us apiece on this kind of VM).
  std::unique_ptr<op_sk_event> short_hit;
  ~Impl() {
    ring_buffer__free(rb);
    if (obj)
      obj->detach();
  }
};

ProgramSpec sockscan_spec(std::optional<uint32_t> inum_offset, bool readback_only) {
  ProgramSpec spec("the socket scanner");
  const auto copy_at = copy_at_words(kPickedTransitions);
  spec.u32("inum_offset", "OP_SK_INUM_OFFSET", inum_offset ? *inum_offset : OP_SK_NO_PARENT)
      .u64("kernel_min", "OP_SK_KERNEL_MIN", OP_SK_KPTR_MIN)
      .u64("copy_at_0", "OP_SK_COPY_AT_0", copy_at[0])
      .u64("copy_at_1", "OP_SK_COPY_AT_1", copy_at[1])
      .u64("copy_at_2", "OP_SK_COPY_AT_2", copy_at[2])
      .u64("copy_at_3", "OP_SK_COPY_AT_3", copy_at[3])
      .flag("readback_only", "OP_SK_READBACK_ONLY", readback_only)
      .map_size("events", "OP_SK_RINGBUF_BYTES", readback_only ? 64 * 1024 : 512 * 1024)
      .load("scan_sock")
      .load("scan_udp");
  return spec;
}

ObjectLoader sockscan_libbpf_loader() {
  return [](const ProgramSpec &spec) {
    LibbpfElf elf{"op_sockscan", nullptr, 0};
    elf.bytes = op_sockscan__elf_bytes(&elf.size);
    return try_load_libbpf(spec, elf);
  };
}

SockScanSession::SockScanSession(const ObjectLoader &load, std::optional<uint32_t> inum_offset,
                                 bool readback_only)
    : impl_(std::make_unique<Impl>()) {
  impl_->readback_only = readback_only;
  impl_->obj = load(sockscan_spec(inum_offset, readback_only)).take();
  LoadedObject &obj = *impl_->obj;
  if (auto e = obj.attach({HookKind::raw_tracepoint, "scan_sock", "inet_sock_set_state"}))
    throw_failure(attach_failure(obj,
                                 "socket scanner: attaching raw tracepoint inet_sock_set_state", *e,
                                 " (the kernel needs 4.16+)"));
  // The second hook is for sk_type, sk_protocol and socket.type only: where
  // it cannot be attached, those stay unresolved with the reason.
  if (auto e = obj.attach({HookKind::raw_tracepoint, "scan_udp", "udp_fail_queue_rcv_skb"}))
    impl_->udp_error =
        attach_failure(obj, "attaching raw tracepoint udp_fail_queue_rcv_skb", *e, "").message;
  impl_->rb = ring_buffer__new(
      obj.map_fd("events"),
      [](void *ctx, void *data, size_t size) -> int {
        auto *impl = static_cast<Impl *>(ctx);
        if (size < kReadbackEventBytes)
          return 0;
        if (!impl->readback_only && size >= kNoDeepEventBytes) {
          impl->pending.push_back(
              to_event(*static_cast<const op_sk_event *>(data), true, size >= sizeof(op_sk_event)));
          return 0;
        }
        // A read-back hit, or a scanning hit the program did not copy (a
        // move no subject picks: copy_at): its first bytes only, in an
        // event to_event() reads no further than them.
        if (!impl->short_hit)
          impl->short_hit = std::make_unique<op_sk_event>();
        op_sk_event &e = *impl->short_hit;
        std::memcpy(&e, data, kReadbackEventBytes);
        impl->pending.push_back(to_event(e, false, false));
        impl->pending.back().capture.uncopied = !impl->readback_only;
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
  offsetprobe::add_cookie(*impl_->obj, "the socket scanner", cookie, slot, OP_MAX_SLOTS);
  return slot;
}

void SockScanSession::set_plan(const std::vector<SockStep> &steps) {
  if (steps.size() > OP_SK_MAX_STEPS)
    throw Error(ErrorKind::failure, "socket scanner: read-back plan too long");
  op_sk_plan plan{};
  for (uint32_t i = 0; i < steps.size(); i++) {
    // The program reads 1-16 bytes, from the sk or from an earlier step.
    if (steps[i].size == 0 || steps[i].size > 16 || (steps[i].parent && *steps[i].parent >= i))
      throw Error(ErrorKind::failure, "socket scanner: read-back step " + std::to_string(i) +
                                          " has size " + std::to_string(steps[i].size) +
                                          " or a parent not before it");
    plan.steps[i].parent = steps[i].parent ? *steps[i].parent : OP_SK_NO_PARENT;
    plan.steps[i].offset = steps[i].offset;
    plan.steps[i].size = steps[i].size;
  }
  uint32_t zero = 0;
  if (bpf_map_update_elem(impl_->obj->map_fd("plan"), &zero, &plan, BPF_ANY))
    fail("writing the read-back plan", errno);
}

uint64_t SockScanSession::lost() const {
  auto n = percpu_sum(impl_->obj->map_fd("lost"), 0);
  if (!n)
    fail("reading the lost hits", errno);
  return *n;
}

std::vector<SockEvent> SockScanSession::drain() {
  if (ring_buffer__consume(impl_->rb) < 0)
    fail("reading the ring buffer", errno);
  return std::exchange(impl_->pending, {});
}

} // namespace offsetprobe::net
