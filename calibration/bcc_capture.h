// SPDX-License-Identifier: GPL-2.0-only
// The BCC backend: the scanner, the chain scanner and the reader as BCC C source (bpf/*.bcc.c),
// compiled at run time by libbcc. Linked only into offsetprobe-bcc, so the
// default offsetprobe process never maps libbcc or LLVM.
#pragma once

#include "calibration/capture.h"

#include <map>
#include <string>
#include <vector>

namespace offsetprobe {

struct BccConfig {
  // The header tree BCC compiles against (a merged view for split trees);
  // exported as BCC_KERNEL_SOURCE before the first compile.
  std::string kernel_source;
  std::string headers_origin; // for error messages
  // Show BCC's own stderr chatter (e.g. "cannot get prog tag" on kernels
  // without AF_ALG) instead of keeping it for error messages only.
  bool verbose = false;
};

// make_bcc_backend returns the BCC backend. Its sessions throw Fatal:
// exit_bpf when a program does not compile, load or attach (BCC's message
// included), exit_permission on EPERM, exit_tracing when no trigger hook
// attaches.
Backend make_bcc_backend(const BccConfig &config);

// reader_cflags returns the -D macros that carry the reader's plan: each
// step's offset named as `export --format bcc-cflags` names it
// (OFFSETPROBE_TASK_STRUCT_PID=..., OFFSETPROBE_CRED_UID=...), and OP_PLAN,
// the steps as OP_STEP(index, parent, offset macro, size, sites). Throws
// Fatal(exit_failure) when one field comes with two offsets.
std::vector<std::string> reader_cflags(const ReadPlan &plan);

// chainscan_cflags returns the -D macros that carry the chain scanner's plan
// (bpf/chainscan.bcc.c): OP_NR_PTRS and OP_PTR_OFFS (an initializer list),
// OP_NR_NESTED and OP_NESTED_OF, and OP_MAX_SUBJECTS (its records).
std::vector<std::string> chainscan_cflags(const ChainPlan &plan, uint32_t max_subjects);

} // namespace offsetprobe
