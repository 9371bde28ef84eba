// SPDX-License-Identifier: GPL-2.0-only
// The libbpf backend of LoadedObject: a NAME.bpf.c compiled at build time,
// its ELF embedded through the skeleton (NAME__elf_bytes()).
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "bpf/runtime/program_spec.h"
#include "calibration/model/error.h"

#include <cstddef>
#include <memory>
#include <string>

namespace offsetprobe {

// The ELF of a program compiled at build time, and the object's name (the
// skeleton's, e.g. "op_scanner": its maps are named after it, "op_scann.rodata").
struct LibbpfElf {
  const char *object_name;
  const void *bytes;
  size_t size;
};

// try_load_libbpf opens `elf`, writes the spec's constants into its .rodata,
// sets its map sizes, loads the programs the spec names (the others stay out:
// the verifier never sees them) and returns the loaded object, or why not:
// ErrorKind::permission on EPERM/EACCES ("loading the scanner: EPERM (...): run as
// root ..."), ErrorKind::bpf for any other failure, and ErrorKind::bpf when the spec
// names a constant, map or program the object does not have.
Expected<std::unique_ptr<LoadedObject>> try_load_libbpf(const ProgramSpec &spec,
                                                        const LibbpfElf &elf);
// The same, for a caller with no fallback: a failure ends the command.
std::unique_ptr<LoadedObject> load_libbpf(const ProgramSpec &spec, const LibbpfElf &elf);

// libbpf_spec_mismatch opens `elf` and applies `spec` as load_libbpf does,
// without loading (no privileges needed): "" when the object has every
// constant (of the spec's size), map and program the spec names, else what
// is missing. For the tests: a loader and its program cannot drift apart.
std::string libbpf_spec_mismatch(const ProgramSpec &spec, const LibbpfElf &elf);

// "ENOENT (No such file or directory)" for errno 2 (or -2).
std::string errno_text(int err);

} // namespace offsetprobe
