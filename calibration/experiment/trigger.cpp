// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/trigger.h"

#include "calibration/model/error.h"
#include "calibration/experiment/subject.h"

#include <cerrno>
#include <cstdlib>

#include <sys/syscall.h>

namespace offsetprobe {

const char *to_string(TriggerMode m) {
  switch (m) {
  case TriggerMode::automatic:
    return "auto";
  case TriggerMode::tracepoint:
    return "tracepoint";
  case TriggerMode::raw_tracepoint:
    return "raw_tracepoint";
  case TriggerMode::uprobe:
    return "uprobe";
  }
  return "auto";
}

std::optional<TriggerMode> trigger_mode_from_string(const std::string &s) {
  for (auto m : {TriggerMode::automatic, TriggerMode::tracepoint, TriggerMode::raw_tracepoint,
                 TriggerMode::uprobe})
    if (s == to_string(m))
      return m;
  return std::nullopt;
}

namespace {

// The exit hook is always the raw sched_process_exit tracepoint (4.17+):
// detaching a perf-event tracepoint waits for an RCU grace period in
// perf_trace_event_unreg() (tens of ms here), a raw one does not.
} // namespace

ProgramSpec with_trigger(ProgramSpec spec, TriggerMode mode, const TriggerHooks &h,
                         bool uprobe_too) {
  spec.u64("trigger_nr", "OP_TRIGGER_NR", SYS_getppid);
  switch (mode) {
  case TriggerMode::tracepoint:
    spec.load(h.tp).bcc_define("OP_WANT_TP");
    break;
  case TriggerMode::raw_tracepoint:
    spec.load(h.raw).bcc_define("OP_WANT_RAW");
    break;
  case TriggerMode::uprobe:
    spec.load(h.uprobe);
    uprobe_too = true;
    break;
  case TriggerMode::automatic:
    break;
  }
  if (uprobe_too)
    spec.bcc_define("OP_WANT_UPROBE");
  if (!h.exit_raw.empty())
    spec.load(h.exit_raw);
  return spec;
}

namespace {

Hook trigger_hook(TriggerMode mode, const TriggerHooks &h) {
  switch (mode) {
  case TriggerMode::tracepoint:
    return {HookKind::tracepoint, h.tp, "syscalls:sys_enter_getppid"};
  case TriggerMode::uprobe:
    return {HookKind::uprobe, h.uprobe, "", reinterpret_cast<const void *>(&offsetprobe_trigger)};
  default:
    return {HookKind::raw_tracepoint, h.raw, "sys_enter"};
  }
}

// Attaches the trigger hook of `mode`; why not, when it cannot.
std::optional<Failure> attach_trigger(LoadedObject &obj, TriggerMode mode, const TriggerHooks &h,
                                      const std::string &what) {
  std::optional<AttachError> e;
  // Test only (tests/live_calibrate.sh): a kernel whose raw tracepoint
  // cannot be attached, for the automatic mode's fallback.
  if (mode == TriggerMode::raw_tracepoint && getenv("OFFSETPROBE_TEST_NO_RAW_TRACEPOINT"))
    e = AttachError{ENOENT, "ENOENT (raw tracepoints disabled for the test)"};
  else
    e = obj.attach(trigger_hook(mode, h));
  if (!e)
    return std::nullopt;
  return attach_failure(obj, "attaching the trigger hook of " + what + " (" + to_string(mode) + ")",
                        *e,
                        ". Is tracefs mounted? mount -t tracefs nodev /sys/kernel/tracing; or "
                        "try --trigger uprobe");
}

} // namespace

TriggeredObject load_triggered(TriggerMode requested, const TriggerHooks &hooks,
                               const ProgramSpec &spec, const ObjectLoader &load) {
  TriggeredObject t;
  // Loads (unless the object can serve again) and attaches with mode `m`.
  auto build = [&](TriggerMode m, bool uprobe_too) -> std::optional<Failure> {
    if (!t.object || !t.object->loads_at_attach()) {
      t.object.reset(); // the failed object goes before its replacement loads
      auto loaded = load(with_trigger(spec, m, hooks, uprobe_too));
      if (!loaded.ok())
        return loaded.failure();
      t.object = loaded.take();
    }
    t.mode = m;
    return attach_trigger(*t.object, m, hooks, spec.what());
  };
  if (requested != TriggerMode::automatic) {
    if (auto f = build(requested, false))
      throw_failure(*f);
  } else if (auto f = build(TriggerMode::raw_tracepoint, true)) {
    // A refusal for privileges would refuse the uprobe too: said as it is.
    if (f->kind == ErrorKind::permission)
      throw_failure(*f);
    if (auto g = build(TriggerMode::uprobe, true))
      throw_failure(*g);
  }
  if (!hooks.exit_raw.empty())
    t.exit_attached =
        !t.object->attach({HookKind::raw_tracepoint, hooks.exit_raw, "sched_process_exit"});
  return t;
}

} // namespace offsetprobe
