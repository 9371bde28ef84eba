// SPDX-License-Identifier: GPL-2.0-only
// Exit codes of the offsetprobe command: one table, documented in README.md.
// The command line's alone: the engine reports an ErrorKind
// (calibration/model/error.h) and main() turns it into a code here.
#pragma once

#include "calibration/model/error.h"

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

// The exit code of an error of kind `k`. No default: a new kind must be given
// its code here (-Wswitch).
inline int exit_code_for(ErrorKind k) {
  switch (k) {
  case ErrorKind::failure:
    return exit_failure;
  case ErrorKind::usage:
    return exit_usage;
  case ErrorKind::not_calibrated:
    return exit_not_calibrated;
  case ErrorKind::incomplete:
    return exit_incomplete;
  case ErrorKind::validation:
    return exit_validation;
  case ErrorKind::mismatch:
    return exit_mismatch;
  case ErrorKind::permission:
    return exit_permission;
  case ErrorKind::tracing:
    return exit_tracing;
  case ErrorKind::subject:
    return exit_subject;
  case ErrorKind::bpf:
    return exit_bpf;
  case ErrorKind::cache:
    return exit_cache;
  case ErrorKind::no_btf:
    return exit_no_btf;
  case ErrorKind::no_headers:
    return exit_no_headers;
  case ErrorKind::interrupted:
    return exit_interrupted;
  case ErrorKind::terminated:
    return exit_terminated;
  }
  return exit_failure;
}

} // namespace offsetprobe
