// SPDX-License-Identifier: GPL-2.0-only
// Exit codes of the offsetprobe command: one table, documented in README.md.
// In the data model because the engine's Fatal errors carry them
// (calibration/model/error.h), so every layer may name them.
#pragma once

namespace offsetprobe {

enum ExitCode : int {
  exit_ok = 0,
  exit_failure = 1,        // internal or unexpected error
  exit_usage = 2,          // bad command line
  exit_not_calibrated = 3, // show/export/count: no valid cache entry for this kernel
  exit_incomplete = 4,     // calibrate: a field is ambiguous or unresolved
  exit_validation = 5,     // calibrate: the read-back of the found offsets failed
  exit_mismatch = 6,       // verify: an offset differs from the kernel's BTF
  exit_permission = 7,     // not root / missing CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN
  exit_tracing = 8,        // tracefs missing or no usable attach point
  exit_subject = 9,        // a subject process died, hung or misbehaved
  exit_bpf = 10,           // a BPF program failed to load or attach
  exit_cache = 11,         // the cache is unsafe, corrupt or cannot be written
  exit_no_btf = 12,        // verify: the kernel has no BTF to compare with
  exit_no_headers = 13,    // BCC backend: no kernel headers found
  exit_interrupted = 130,  // SIGINT (128 + 2)
  exit_terminated = 143,   // SIGTERM (128 + 15)
};

} // namespace offsetprobe
