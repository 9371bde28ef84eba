// SPDX-License-Identifier: GPL-2.0-only
#include "connwatch/conn_session.h"

#include "bpf/runtime/libbpf_object.h"
#include "calibration/error.h"
#include "offsetprobe/exit_codes.h"

#include "connwatch.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <vector>

namespace offsetprobe::conn {

namespace {

uint32_t or_none(const std::optional<uint32_t> &v) {
  return v ? *v : OP_CONN_NONE;
}

} // namespace

ProgramSpec conn_spec(const ConnConfig &c) {
  const auto &s = c.sock;
  // skc_net is followed only with net.ns.inum: one without the other is none.
  bool netns = s.net && s.inum;
  ProgramSpec spec("the connection probe");
  spec.u32("rec_size", "OP_REC_SIZE", c.layout.size)
      .u32("rec_skaddr", "OP_REC_SKADDR", c.layout.skaddr.offset)
      .u32("rec_oldstate", "OP_REC_OLDSTATE", c.layout.oldstate.offset)
      .u32("rec_newstate", "OP_REC_NEWSTATE", c.layout.newstate.offset)
      .u32("rec_protocol", "OP_REC_PROTOCOL", c.layout.protocol.offset)
      .u32("off_family", "OP_OFF_FAMILY", or_none(s.family))
      .u32("off_sport", "OP_OFF_SPORT", or_none(s.sport))
      .u32("off_dport", "OP_OFF_DPORT", or_none(s.dport))
      .u32("off_rcv_saddr", "OP_OFF_RCV_SADDR", or_none(s.rcv_saddr))
      .u32("off_daddr", "OP_OFF_DADDR", or_none(s.daddr))
      .u32("off_v6_rcv_saddr", "OP_OFF_V6_RCV_SADDR", or_none(s.v6_rcv_saddr))
      .u32("off_v6_daddr", "OP_OFF_V6_DADDR", or_none(s.v6_daddr))
      .u32("off_net", "OP_OFF_NET", netns ? *s.net : OP_CONN_NONE)
      .u32("off_inum", "OP_OFF_INUM", netns ? *s.inum : OP_CONN_NONE)
      .u32("off_bytes_received", "OP_OFF_BYTES_RECEIVED", or_none(s.bytes_received))
      .u32("off_bytes_acked", "OP_OFF_BYTES_ACKED", or_none(s.bytes_acked))
      .u32("off_segs_in", "OP_OFF_SEGS_IN", or_none(s.segs_in))
      .u32("off_segs_out", "OP_OFF_SEGS_OUT", or_none(s.segs_out))
      .u32("off_total_retrans", "OP_OFF_TOTAL_RETRANS", or_none(s.total_retrans))
      .u32("off_srtt", "OP_OFF_SRTT", or_none(s.srtt))
      .offset("off_group_leader", "OFFSETPROBE_TASK_STRUCT_GROUP_LEADER", c.off_group_leader)
      .offset("off_start_boottime", "OFFSETPROBE_TASK_STRUCT_START_BOOTTIME", c.off_start_boottime)
      .u64("tick_ns", "OP_TICK_NS", c.tick_ns)
      .s64("boot_offset_ns", "OP_BOOT_OFFSET_NS", c.boot_offset_ns)
      .u32("filter_tgid", "OP_FILTER_TGID", c.filter_tgid)
      .flag("use_pidns", "OP_USE_PIDNS", c.use_pidns)
      .u64("pidns_dev", "OP_PIDNS_DEV", c.pidns_dev)
      .u64("pidns_ino", "OP_PIDNS_INO", c.pidns_ino)
      .map_size("conns", "OP_CONN_ENTRIES", c.max_entries)
      .load("conn_tp");
  return spec;
}

Known known_of(const ConnConfig &c) {
  const auto &s = c.sock;
  return {bool(s.family), bool(s.sport),        bool(s.dport),   bool(s.rcv_saddr),
          bool(s.daddr),  bool(s.v6_rcv_saddr), bool(s.v6_daddr)};
}

struct ConnSession::Impl {
  std::unique_ptr<LoadedObject> obj;
  ring_buffer *rb = nullptr;
  const std::function<void(const op_conn_event &)> *on_event = nullptr;
  ~Impl() {
    ring_buffer__free(rb);
    // obj's destructor detaches and unloads.
  }
};

ConnSession::ConnSession(const ConnConfig &cfg) : impl_(std::make_unique<Impl>()) {
  LibbpfElf elf{"op_connwatch", nullptr, 0};
  elf.bytes = op_connwatch__elf_bytes(&elf.size);
  impl_->obj = load_libbpf(conn_spec(cfg), elf);
  if (auto e = impl_->obj->attach(
          {HookKind::tracepoint, "conn_tp", "sock:inet_sock_set_state", nullptr})) {
    std::string msg =
        "connection probe: attaching tracepoint sock:inet_sock_set_state: " + e->message;
    if (e->err == EPERM || e->err == EACCES)
      throw Fatal(exit_permission, msg + ": run as root with CAP_BPF and CAP_PERFMON");
    throw Fatal(exit_tracing, msg + " (is tracefs mounted at /sys/kernel/tracing?)");
  }
  impl_->rb = ring_buffer__new(
      impl_->obj->map_fd("events"),
      [](void *ctx, void *data, size_t size) -> int {
        auto *impl = static_cast<Impl *>(ctx);
        if (size >= sizeof(op_conn_event) && impl->on_event)
          (*impl->on_event)(*static_cast<const op_conn_event *>(data));
        return 0;
      },
      impl_.get(), nullptr);
  if (!impl_->rb)
    throw Fatal(exit_bpf, "connection probe: ring buffer: " + errno_text(errno));
}

ConnSession::~ConnSession() = default;

int ConnSession::poll(int timeout_ms, const std::function<void(const op_conn_event &)> &on_event) {
  impl_->on_event = &on_event;
  int n = ring_buffer__poll(impl_->rb, timeout_ms);
  impl_->on_event = nullptr;
  if (n == -EINTR)
    return 0;
  if (n < 0)
    throw Fatal(exit_bpf, "connection probe: reading the ring buffer: " + errno_text(n));
  return n;
}

uint64_t ConnSession::open_count() const {
  int fd = impl_->obj->map_fd("conns");
  uint64_t key = 0, next = 0, n = 0;
  uint64_t *prev = nullptr;
  // Bounded: a map that changes under the walk can restart it.
  while (n < (1u << 22) && bpf_map_get_next_key(fd, prev, &next) == 0) {
    n++;
    key = next;
    prev = &key;
  }
  return n;
}

ConnDrops ConnSession::drops() const {
  ConnDrops d;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return d;
  std::vector<uint64_t> v(static_cast<size_t>(ncpu));
  auto sum = [&](uint32_t slot) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(impl_->obj->map_fd("drops"), &slot, v.data()) == 0)
      for (auto x : v)
        total += x;
    return total;
  };
  d.map_full = sum(OP_CONN_DROP_MAP_FULL);
  d.ringbuf = sum(OP_CONN_DROP_RINGBUF);
  d.record = sum(OP_CONN_DROP_RECORD);
  return d;
}

void ConnSession::detach() {
  impl_->obj->detach();
}

} // namespace offsetprobe::conn
