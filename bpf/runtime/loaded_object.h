// SPDX-License-Identifier: GPL-2.0-only
// LoadedObject: a BPF program loaded by one of the backends (libbpf or BCC)
// from a ProgramSpec, as a Collection is in cilium/ebpf. The loaders above it
// (the scanner, chain scanner and reader sessions, the counting probe) attach
// and read it through this interface only, so each of them is written once
// for both backends.
#pragma once

#include "bpf/runtime/program_spec.h"
#include "calibration/model/error.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace offsetprobe {

// Where a program is attached.
enum class HookKind {
  tracepoint,     // target "category:name", e.g. "syscalls:sys_enter_getppid"
  raw_tracepoint, // target "name", e.g. "sys_enter"
  uprobe,         // uprobe_fn: a function of the running binary
};

struct Hook {
  HookKind kind;
  std::string program; // the function in NAME.bpf.c (the same for both backends)
  std::string target;
  const void *uprobe_fn = nullptr; // uprobe: a function of the running binary
};

// Why an attach failed: the errno (0 when the backend gives none) and the
// backend's own words.
struct AttachError {
  int err = 0;
  std::string message;
};

class LoadedObject {
public:
  virtual ~LoadedObject() = default;
  // The backend's name for messages: "libbpf" or "BCC".
  virtual const char *backend() const = 0;
  // Attaches; on failure returns why and attaches nothing. Links are kept
  // by the object, in attach order.
  virtual std::optional<AttachError> attach(const Hook &hook) = 0;
  // Detaches every link, the last attached first (the maps stay readable).
  virtual void detach() = 0;
  // The fd of map `name`. Throws Error(ErrorKind::bpf) when there is none.
  virtual int map_fd(const std::string &name) const = 0;
  // Whether every program of the object can still be attached, loaded or not
  // (BCC loads a program at its first attach), so that a failed hook can be
  // replaced by another without building the object again.
  virtual bool loads_at_attach() const = 0;
};

// Why attaching `what` to `obj` failed, as the command says it: "<what>
// [with BCC]: <the backend's words>", then ErrorKind::permission with the
// privileges to run with (EPERM/EACCES), else ErrorKind::tracing with `hint`.
Failure attach_failure(const LoadedObject &obj, const std::string &what, const AttachError &e,
                       const std::string &hint);

// Builds a program's LoadedObject from its spec, on one backend, or says why
// it could not (a caller with a fallback, such as the trigger's raw
// tracepoint to uprobe, tries the next; the others take() it).
using ObjectLoader = std::function<Expected<std::unique_ptr<LoadedObject>>(const ProgramSpec &)>;

// Reads slot `slot` of the array map `map` into `value` (its value size);
// false when the lookup fails.
bool lookup_slot(const LoadedObject &obj, const std::string &map, uint32_t slot, void *value);

// The sum over the possible CPUs of slot `slot` of the per-CPU array map
// `map_fd` (u64 values: a program's drop counters); nullopt when the CPUs
// cannot be counted or the lookup fails.
std::optional<uint64_t> percpu_sum(int map_fd, uint32_t slot);

// Registers a subject cookie (a comm, truncated to 15 characters) in the
// object's `cookies` map under `slot`. Throws Error(ErrorKind::failure) when slot
// is not below max_slots, Error(ErrorKind::bpf) when the update fails.
void add_cookie(const LoadedObject &obj, const std::string &what, const std::string &cookie,
                uint32_t slot, uint32_t max_slots);

} // namespace offsetprobe
