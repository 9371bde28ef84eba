// SPDX-License-Identifier: GPL-2.0-only
#include "offsetprobe/usecases/count_offsets.h"

#include "offsetprobe/usecases/calibrate_cached.h"

namespace offsetprobe {

namespace {

// The offset of a field that is calibrated and validated, else nullopt.
std::optional<uint32_t> trusted_offset(const GlobalOptions &g, const CalibrationResult &r,
                                       const char *name) {
  const FieldResult *f = r.find(name);
  if (!f) {
    log_warn(std::string(name) + ": not in the calibration");
    return std::nullopt;
  }
  if (f->status != FieldStatus::calibrated || f->validation != Validation::passed || !f->offset) {
    log_warn(std::string(name) + ": " + to_string(f->status) + ", validation " +
             to_string(f->validation) + (f->reason.empty() ? "" : ": " + f->reason));
    return std::nullopt;
  }
  log_debug(g, std::string(name) + " at offset " + std::to_string(*f->offset));
  return f->offset;
}

} // namespace

std::optional<CountOffsets> cached_offsets(const GlobalOptions &g,
                                           const std::atomic<int> * /*stop_signal*/) {
  // This kernel's cache entry, calibrating (and storing) first when there is
  // no valid one; the calibration installs its own stop handlers.
  CalibrateOptions opt;
  opt.fields = FieldSelection::base(); // the counting probe needs task_struct's own fields only
  CalibrateOutcome out = calibrate_cached(g, opt);
  if (out.source != "cache")
    log_info(g, "offsets: " + out.source + (out.path ? " (" + *out.path + ")" : ""));
  auto leader = trusted_offset(g, out.entry.calibration, "task_struct.group_leader");
  auto start = trusted_offset(g, out.entry.calibration, "task_struct.start_boottime");
  if (!leader || !start)
    return std::nullopt;
  CountOffsets o{*leader, *start, std::nullopt, 0, ""};
  const CalibrationResult &cal = out.entry.calibration;
  const FieldResult *comm = cal.find("task_struct.comm");
  if (comm && comm->status == FieldStatus::calibrated && comm->validation == Validation::passed &&
      comm->offset) {
    o.files = file_walk_offsets(cal, o.no_names);
    o.comm = *comm->offset;
  } else {
    o.no_names = "task_struct.comm is not calibrated";
  }
  return o;
}

} // namespace offsetprobe
