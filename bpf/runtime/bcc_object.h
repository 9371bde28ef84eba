// SPDX-License-Identifier: GPL-2.0-only
// The BCC backend of LoadedObject: a NAME.bpf.c embedded as source
// (bpf/embed_bcc.py) and compiled at run time by libbcc with the spec as -D
// macros, the way a BCC consumer of the offsets compiles. Only
// offsetprobe-bcc links it (libbcc maps LLVM).
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "bpf/runtime/program_spec.h"

#include <memory>
#include <string>

namespace offsetprobe {

struct BccCompileOptions {
  std::string headers_origin; // the kernel headers used, for error messages
  // Show BCC's own stderr chatter (e.g. "cannot get prog tag" on kernels
  // without AF_ALG) instead of keeping it for error messages only.
  bool verbose = false;
};

// load_bcc compiles `source` with spec.bcc_cflags() (BCC_KERNEL_SOURCE must
// be set: the bcc bridge does it). BCC loads each program at its first
// attach. Fails with ErrorKind::bpf when the source does not compile ("compiling
// the scanner with BCC (kernel headers: ...): BCC's message").
Expected<std::unique_ptr<LoadedObject>> load_bcc(const ProgramSpec &spec, const char *source,
                                                 const BccCompileOptions &opts);

} // namespace offsetprobe
