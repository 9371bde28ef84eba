// SPDX-License-Identifier: GPL-2.0-only
// The counting probe loaded by BCC: bpf/counter.bpf.c, embedded as source and
// compiled at run time by libbcc, with its configuration (and the two offsets,
// under the names `offsetprobe export --format bcc-cflags` prints) passed as
// -D macros, the way a BCC consumer of the offsets compiles. Same program,
// same maps and the same session (LoadedCounter) as the libbpf
// CounterSession. Only offsetprobe-bcc links the session (it needs libbcc);
// counter_cflags() is pure.
#pragma once

#include "counting/counter_session.h"

#include <memory>
#include <string>
#include <vector>

namespace offsetprobe {

// The -D macros that configure counter.bpf.c under BCC for `cfg`
// (counter_spec(cfg).bcc_cflags()): the offsets as
// -DOFFSETPROBE_TASK_STRUCT_GROUP_LEADER=N and
// -DOFFSETPROBE_TASK_STRUCT_START_BOOTTIME=N (exactly as export prints them),
// then OP_TICK_NS, OP_BOOT_OFFSET_NS, OP_FILTER_TGID, OP_COUNT_ENTRIES,
// OP_USE_PIDNS/OP_PIDNS_DEV/OP_PIDNS_INO, OP_NO_TASK_CACHE and the syscall
// bitmap OP_SYSCALLS_W0..W7. Throws Error(ErrorKind::usage) for a syscall number
// beyond the bitmap.
std::vector<std::string> counter_cflags(const CounterConfig &cfg);

struct BccCounterOptions {
  std::string headers_origin; // for error messages
  bool verbose = false;       // show BCC's load-time chatter on stderr
};

class BccCounterSession : public LoadedCounter {
public:
  // Compiles, loads and attaches (BCC_KERNEL_SOURCE must be set: the bcc
  // bridge does it). Throws Error: ErrorKind::bpf when the program does not compile
  // or load (BCC's message included), ErrorKind::permission on EPERM, ErrorKind::tracing
  // when a hook does not attach.
  BccCounterSession(const CounterConfig &cfg, const BccCounterOptions &opts);
};

} // namespace offsetprobe
