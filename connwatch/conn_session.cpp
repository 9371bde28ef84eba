// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/loaded_object.h"
#include "connwatch/conn_session.h"

#include "bpf/runtime/libbpf_object.h"
#include "calibration/model/result.h"
#include "calibration/model/error.h"

#include "connwatch.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <vector>

namespace offsetprobe::conn {

const std::vector<SockField> &sock_fields() {
  static const std::vector<SockField> fields = {
      {"sock_common.skc_family", "off_family", &SockOffsets::family, true},
      {"inet_sock.inet_sport", "off_sport", &SockOffsets::sport, true},
      {"sock_common.skc_dport", "off_dport", &SockOffsets::dport, true},
      {"sock_common.skc_rcv_saddr", "off_rcv_saddr", &SockOffsets::rcv_saddr, true},
      {"sock_common.skc_daddr", "off_daddr", &SockOffsets::daddr, true},
      {"sock_common.skc_v6_rcv_saddr", "off_v6_rcv_saddr", &SockOffsets::v6_rcv_saddr, false},
      {"sock_common.skc_v6_daddr", "off_v6_daddr", &SockOffsets::v6_daddr, false},
      {"sock_common.skc_net", "off_net", &SockOffsets::net, false},
      {"net.ns.inum", "off_inum", &SockOffsets::inum, false},
      {"tcp_sock.bytes_received", "off_bytes_received", &SockOffsets::bytes_received, false},
      {"tcp_sock.bytes_acked", "off_bytes_acked", &SockOffsets::bytes_acked, false},
      {"tcp_sock.segs_in", "off_segs_in", &SockOffsets::segs_in, false},
      {"tcp_sock.segs_out", "off_segs_out", &SockOffsets::segs_out, false},
      {"tcp_sock.total_retrans", "off_total_retrans", &SockOffsets::total_retrans, false},
      {"tcp_sock.srtt_us", "off_srtt", &SockOffsets::srtt, false},
  };
  return fields;
}

ProgramSpec conn_spec(const ConnConfig &c) {
  const auto &s = c.sock;
  // skc_net is followed only with net.ns.inum: one without the other is none.
  bool netns = s.net && s.inum;
  ProgramSpec spec("the connection probe");
  spec.u32("rec_size", "OP_REC_SIZE", c.layout.size)
      .u32("rec_skaddr", "OP_REC_SKADDR", c.layout.skaddr.offset)
      .u32("rec_oldstate", "OP_REC_OLDSTATE", c.layout.oldstate.offset)
      .u32("rec_newstate", "OP_REC_NEWSTATE", c.layout.newstate.offset)
      .u32("rec_protocol", "OP_REC_PROTOCOL", c.layout.protocol.offset);
  // In rodata for libbpf (OP_CONN_NONE when not calibrated); to BCC under
  // the export name, when calibrated only.
  for (const auto &f : sock_fields()) {
    std::optional<uint32_t> v = s.*f.offset;
    if (!netns && (f.offset == &SockOffsets::net || f.offset == &SockOffsets::inum))
      v.reset();
    if (v)
      spec.offset(f.constant, macro_name(f.field), *v);
    else
      spec.constant({f.constant, 4, {OP_CONN_NONE}, {}});
  }
  spec.offset("off_group_leader", "OFFSETPROBE_TASK_STRUCT_GROUP_LEADER", c.off_group_leader)
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

ObjectLoader conn_libbpf_loader() {
  return [](const ProgramSpec &spec) {
    LibbpfElf elf{"op_connwatch", nullptr, 0};
    elf.bytes = op_connwatch__elf_bytes(&elf.size);
    return try_load_libbpf(spec, elf);
  };
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

ConnSession::ConnSession(const ObjectLoader &load, const ConnConfig &cfg)
    : impl_(std::make_unique<Impl>()) {
  impl_->obj = load(conn_spec(cfg)).take();
  if (auto e = impl_->obj->attach(
          {HookKind::tracepoint, "conn_tp", "sock:inet_sock_set_state", nullptr}))
    throw_failure(attach_failure(*impl_->obj,
                                 "connection probe: attaching tracepoint sock:inet_sock_set_state",
                                 *e, " (is tracefs mounted at /sys/kernel/tracing?)"));
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
    throw Error(ErrorKind::bpf, "connection probe: ring buffer: " + errno_text(errno));
}

ConnSession::~ConnSession() = default;

int ConnSession::poll(int timeout_ms, const std::function<void(const op_conn_event &)> &on_event) {
  impl_->on_event = &on_event;
  int n = ring_buffer__poll(impl_->rb, timeout_ms);
  impl_->on_event = nullptr;
  if (n == -EINTR)
    return 0;
  if (n < 0)
    throw Error(ErrorKind::bpf, "connection probe: reading the ring buffer: " + errno_text(n));
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
  // A slot that cannot be read counts 0, as it did before percpu_sum.
  auto sum = [&](uint32_t slot) {
    return percpu_sum(impl_->obj->map_fd("drops"), slot).value_or(0);
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
