// SPDX-License-Identifier: GPL-2.0-only
// Kernel access of `offsetprobe conn`: bpf/connwatch.bpf.c loaded by either
// backend's ObjectLoader (the libbpf object as built, or the same source
// compiled by BCC: connwatch/bcc_conn_loader.h), attached to the classic
// tracepoint sock:inet_sock_set_state, its events read from a ring buffer by
// the map's fd, whichever backend made it. RAII: destroying the session
// detaches the program and frees its maps.
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "bpf/runtime/program_spec.h"
#include "connwatch/conn_record.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace offsetprobe::conn {

// Offsets from the sk (and of ns.inum in struct net) the probe reads
// through; nullopt: not calibrated, not read (and not reported).
struct SockOffsets {
  std::optional<uint32_t> family, sport, dport, rcv_saddr, daddr, v6_rcv_saddr, v6_daddr;
  std::optional<uint32_t> net, inum;
  std::optional<uint32_t> bytes_received, bytes_acked, segs_in, segs_out, total_retrans, srtt;
};

// Each offset of SockOffsets: the calibrated field it comes from, and its
// constant in connwatch.bpf.c. The one list of them, for the cache lookup
// (offsetprobe/usecases/conn_offsets.cpp) and the spec.
struct SockField {
  const char *field;    // "sock_common.skc_family"
  const char *constant; // "off_family"
  std::optional<uint32_t> SockOffsets::*offset;
  bool required; // the 4-tuple of a v4 connection: conn cannot work without it
};
const std::vector<SockField> &sock_fields();

struct ConnConfig {
  RecordLayout layout;
  SockOffsets sock;
  uint32_t off_group_leader = 0;
  uint32_t off_start_boottime = 0;
  uint64_t tick_ns = 10'000'000;
  int64_t boot_offset_ns = 0;
  uint32_t filter_tgid = 0;
  bool use_pidns = false;
  uint64_t pidns_dev = 0, pidns_ino = 0;
  uint32_t max_entries = OP_CONN_DEFAULT_ENTRIES;
};

struct ConnDrops {
  uint64_t map_full = 0; // sockets that could not be followed
  uint64_t ringbuf = 0;  // events lost
  uint64_t record = 0;   // the tracepoint record could not be read
};

// The probe's spec: the record layout and the offsets as constants. To BCC
// each offset goes as `export --format bcc-cflags` spells it
// (-DOFFSETPROBE_SOCK_COMMON_SKC_FAMILY=16, ...), for the calibrated ones
// only (the program does not read the others).
ProgramSpec conn_spec(const ConnConfig &cfg);
// The libbpf loader of the probe (its object as built).
ObjectLoader conn_libbpf_loader();
// Which offsets a config gives (what decode() may check).
Known known_of(const ConnConfig &cfg);

class ConnSession {
public:
  // Loads with `load` (conn_libbpf_loader(), or BCC's) and attaches.
  // Throws Error: ErrorKind::permission, ErrorKind::bpf (BCC: the program did not
  // compile), or ErrorKind::tracing (the tracepoint could not be attached).
  ConnSession(const ObjectLoader &load, const ConnConfig &cfg);
  ~ConnSession();
  ConnSession(const ConnSession &) = delete;
  ConnSession &operator=(const ConnSession &) = delete;

  // Waits up to timeout_ms for events and hands each to `on_event`; returns
  // the number handled (0 also when a signal interrupted the wait).
  // Throws Error(ErrorKind::bpf) when the ring buffer cannot be read.
  int poll(int timeout_ms, const std::function<void(const op_conn_event &)> &on_event);
  // Connections followed now (seen, not yet closed).
  uint64_t open_count() const;
  ConnDrops drops() const;
  // Detaches the program (the maps stay readable; poll() drains the rest).
  void detach();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace offsetprobe::conn
