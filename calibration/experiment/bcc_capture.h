// SPDX-License-Identifier: GPL-2.0-only
// The BCC backend: the scanner, the chain scanner and the reader as BCC C
// source (the one source of each, bpf/NAME.bpf.c), compiled at run time by
// libbcc. Linked only into offsetprobe-bcc, so the
// default offsetprobe process never maps libbcc or LLVM.
#pragma once

#include "calibration/experiment/capture.h"

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

// make_bcc_backend returns the BCC backend. Its sessions throw Error:
// ErrorKind::bpf when a program does not compile, load or attach (BCC's message
// included), ErrorKind::permission on EPERM, ErrorKind::tracing when no trigger hook
// attaches.
Backend make_bcc_backend(const BccConfig &config);

} // namespace offsetprobe
