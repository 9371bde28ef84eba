// SPDX-License-Identifier: GPL-2.0-only
// The one attach routine of the calibration's programs, for both backends:
// a program (scanner, chain scanner) is caught at its subjects' trigger, by
// the hook of a TriggerMode, and some also at their exit. Which program to
// load for which mode, the automatic mode's fallback and the error a failed
// hook gives are decided here, over LoadedObject, whichever backend built it.
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "bpf/runtime/program_spec.h"
#include "calibration/model/calibrate_options.h"

#include <optional>
#include <string>

#include <memory>

namespace offsetprobe {

const char *to_string(TriggerMode m);
std::optional<TriggerMode> trigger_mode_from_string(const std::string &s);

// The programs of one BPF object that can catch a trigger or an exit (the
// functions of its NAME.bpf.c); exit_raw is empty when it has none.
struct TriggerHooks {
  std::string tp, raw, uprobe, exit_raw;
};

struct TriggeredObject {
  std::unique_ptr<LoadedObject> object;
  TriggerMode mode = TriggerMode::raw_tracepoint; // the one that attached
  bool exit_attached = false;
};

// with_trigger returns `spec` with what `mode` (never automatic) loads: the
// trigger's syscall number (trigger_nr, for the raw tracepoint's filter),
// the mode's trigger program, and the exit hook where there is one.
// `uprobe_too`: BCC compiles the uprobe program as well (the automatic mode's
// fallback; libbpf loads only what the spec names).
ProgramSpec with_trigger(ProgramSpec spec, TriggerMode mode, const TriggerHooks &hooks,
                         bool uprobe_too);

// load_triggered builds the object (`spec` plus what the mode loads) and
// attaches its trigger, then its exit hook (where it has one; failing to
// attach that one is not an error, see exit_attached).
//
// Automatic mode prefers the raw sys_enter tracepoint: it needs no tracefs,
// and detaching it does not block, while closing the last perf-event user of
// a syscalls:* tracepoint waits for an RCU grace period in
// perf_trace_event_unreg() (50-70 ms measured here). Its cost, our program
// running on every syscall for the few milliseconds of a calibration, is a
// comm lookup that returns at once for every task but the subjects. Only when
// the raw tracepoint cannot be loaded or attached is the uprobe tried: with
// libbpf the object is built again (loading the uprobe program alongside,
// just in case, would cost its verification on every run: 0.8 ms for the
// scanner, 3.7 ms for a reader with chain offsets, measured with
// OFFSETPROBE_LIBBPF_DEBUG); BCC compiles it alongside and loads a program at
// its attach, so the same object serves.
//
// Throws Error when no trigger works (the one failure it cannot recover
// from): the loader's failure, ErrorKind::permission when a hook is refused for
// privileges, ErrorKind::tracing when no trigger hook attaches.
TriggeredObject load_triggered(TriggerMode requested, const TriggerHooks &hooks,
                               const ProgramSpec &spec, const ObjectLoader &load);

} // namespace offsetprobe
