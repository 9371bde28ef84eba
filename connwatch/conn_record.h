// SPDX-License-Identifier: GPL-2.0-only
// The user-space half of the connection probe (bpf/connwatch.bpf.c): the
// layout of the classic tracepoint's record (from tracefs), the decoding of
// an event into a connection record, and the check of every value read
// through an offset against the kernel's own record of the same hit. Pure:
// tested without root.
#pragma once

#include "connwatch.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace offsetprobe::conn {

// Where a field sits in the record: bytes from its start.
struct RecordField {
  uint32_t offset = 0;
  uint32_t size = 0;
};

// The fields of sock:inet_sock_set_state's record that conn uses.
struct RecordLayout {
  RecordField skaddr, oldstate, newstate, sport, dport, family, protocol, saddr, daddr;
  std::optional<RecordField> saddr_v6, daddr_v6; // absent in a kernel without IPv6
  uint32_t size = 0;                             // the end of the last field
};

// Parses the text of tracefs's events/sock/inet_sock_set_state/format.
// Returns nullopt and sets `error` when a needed field is missing, has an
// unexpected size, or the record is longer than OP_CONN_REC_MAX.
std::optional<RecordLayout> parse_record_format(std::string_view text, std::string &error);

// The layout on this host (tracefs at /sys/kernel/tracing, else
// /sys/kernel/debug/tracing); nullopt with `error` when it cannot be read.
std::optional<RecordLayout> read_record_layout(std::string &error);

// Who owns a connection, as the probe saw it.
struct Owner {
  uint32_t how = OP_OWNER_NONE; // op_conn_owner
  uint32_t tgid = 0, tid = 0;
  uint64_t start_ticks = 0;
  std::string comm;
  bool known() const { return how == OP_OWNER_CONNECT || how == OP_OWNER_CLOSE; }
};

// One connection event, decoded. Optional values are those whose offset is
// not calibrated (or whose read faulted).
struct ConnRecord {
  uint32_t kind = 0; // op_conn_kind
  uint64_t sk = 0;
  uint64_t time_ns = 0;                // CLOCK_MONOTONIC (bpf_ktime_get_ns)
  std::optional<uint64_t> duration_ns; // from the first hit seen; none if before attach
  Owner owner;
  int oldstate = 0, newstate = 0; // from the record
  uint16_t family = 0;            // read through the offset
  std::string local, remote;      // addresses as text ("" when not read)
  uint16_t lport = 0, rport = 0;  // host order
  std::optional<uint32_t> netns;
  std::optional<uint64_t> bytes_received, bytes_acked;
  std::optional<uint32_t> segs_in, segs_out, total_retrans, srtt_us;
  // The check against the record: the fields compared, and those that
  // differ ("sport: read 80, record 8080") or could not be read.
  uint32_t compared = 0;
  std::vector<std::string> mismatches;
  bool ok() const { return compared > 0 && mismatches.empty(); }
};

// Which offsets the probe was given (a field without one is not checked).
struct Known {
  bool family = false, sport = false, dport = false, rcv_saddr = false, daddr = false;
  bool v6_rcv_saddr = false, v6_daddr = false;
};

// Decodes an event and checks it against its record.
ConnRecord decode(const op_conn_event &e, const RecordLayout &layout, const Known &known);

// "ESTABLISHED" for 1, ...; "?" for a value outside the TCP states.
const char *tcp_state_name(int state);
// "127.0.0.1:80" or "[::1]:80".
std::string endpoint(const std::string &addr, uint16_t family, uint16_t port);

} // namespace offsetprobe::conn
