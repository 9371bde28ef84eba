// SPDX-License-Identifier: GPL-2.0-only
// The loaded socket scanner (bpf/sockscan.bpf.c): captures the struct sock
// of every sock:inet_sock_set_state hit by a task whose comm is a registered
// cookie, and reads back a plan of offsets from it. RAII: destroying the
// session detaches and unloads the program.
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "calibration/solve/net/sock_solver.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::net {

// One read-back step: `size` (<= 16) bytes at `offset` from the sk, or from
// the pointer step `parent` read.
struct SockStep {
  std::optional<uint32_t> parent;
  uint32_t offset = 0;
  uint32_t size = 0;
};

// The socket scanner's spec: the ns family's net.ns.inum offset to follow
// (or none), and whether only the read-back plan is read.
ProgramSpec sockscan_spec(std::optional<uint32_t> inum_offset, bool readback_only);
// The libbpf loader of the socket scanner (its object as built).
ObjectLoader sockscan_libbpf_loader();

class SockScanSession {
public:
  // `inum_offset`: net.ns.inum in struct net (the ns family's), to follow the
  // sk's first words; nullopt: not followed. Throws Error (ErrorKind::bpf,
  // ErrorKind::permission, ErrorKind::tracing) when the program cannot be loaded or
  // attached. `readback_only`: each hit carries the plan's values only
  // (nothing of the sk copied or followed), and the program loads in a
  // fraction of the time: for a validation, whose plan holds every offset.
  // `load` builds the program on a backend (sockscan_libbpf_loader(), or
  // BCC's).
  SockScanSession(const ObjectLoader &load, std::optional<uint32_t> inum_offset,
                  bool readback_only = false);
  ~SockScanSession();
  SockScanSession(const SockScanSession &) = delete;
  SockScanSession &operator=(const SockScanSession &) = delete;

  uint32_t add_cookie(const std::string &cookie);
  // The read-back plan, from the next hit on. Throws Error(ErrorKind::bpf).
  void set_plan(const std::vector<SockStep> &steps);
  // Every hit since the last call, in order.
  std::vector<SockEvent> drain();
  // Hits the program could not put in its ring buffer since it was loaded
  // (it was full), summed over the CPUs. Throws Error(ErrorKind::bpf).
  uint64_t lost() const;
  // Why udp:udp_fail_queue_rcv_skb (the UDP socket's hook) is not
  // attached, or empty.
  const std::string &udp_error() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t next_slot_ = 0;
};

} // namespace offsetprobe::net
