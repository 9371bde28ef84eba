// SPDX-License-Identifier: GPL-2.0-only
// The connection probe loaded by BCC: bpf/connwatch.bpf.c, embedded as source
// (bpf/embed_bcc.py) and compiled at run time by libbcc with conn_spec() as
// -D macros (the offsets under their export names), the way a BCC consumer of
// the offsets compiles. The same program, maps and ConnSession as libbpf's.
// Only offsetprobe-bcc links it (libbcc maps LLVM).
#pragma once

#include "bpf/runtime/bcc_object.h"
#include "bpf/runtime/loaded_object.h"

namespace offsetprobe::conn {

// BCC_KERNEL_SOURCE must be set before the loader runs (the bcc bridge does
// it); a program that does not compile is a Failure with ErrorKind::bpf and BCC's
// message.
ObjectLoader conn_bcc_loader(const BccCompileOptions &opts);

} // namespace offsetprobe::conn
