// SPDX-License-Identifier: GPL-2.0-only
#include "offsetprobe/usecases/conn_offsets.h"

#include "calibration/model/error.h"
#include "offsetprobe/usecases/calibrate_cached.h"

namespace offsetprobe {

ConnOffsets conn_offsets(const GlobalOptions &g) {
  CalibrateOptions opt;
  std::string why;
  auto sel = FieldSelection::parse("net", why); // closed under Requires: task, ns.inum
  if (!sel)
    throw Error(ErrorKind::failure, "conn: the net family is not in the catalogue: " + why);
  opt.fields = *sel;
  CalibrateOutcome out = calibrate_cached(g, opt);
  if (out.source != "cache")
    log_info(g, "offsets: " + out.source + (out.path ? " (" + *out.path + ")" : ""));
  const CalibrationResult &r = out.entry.calibration;
  ConnOffsets o;
  auto get = [&](const char *name) -> std::optional<uint32_t> {
    const FieldResult *f = r.find(name);
    if (!f) {
      o.missing.push_back(std::string(name) + ": not in the calibration");
      return std::nullopt;
    }
    if (f->status != FieldStatus::calibrated || f->validation != Validation::passed || !f->offset) {
      o.missing.push_back(std::string(name) + ": " + to_string(f->status) + ", validation " +
                          to_string(f->validation) + (f->reason.empty() ? "" : ": " + f->reason));
      return std::nullopt;
    }
    log_debug(g, std::string(name) + " at offset " + std::to_string(*f->offset));
    return f->offset;
  };
  auto leader = get("task_struct.group_leader");
  auto start = get("task_struct.start_boottime");
  std::vector<std::string> needed = o.missing; // the ones conn cannot work without
  for (const auto &f : conn::sock_fields()) {
    size_t before = o.missing.size();
    o.sock.*f.offset = get(f.field);
    if (f.required && o.missing.size() > before)
      needed.push_back(o.missing.back());
  }
  if (!needed.empty()) {
    std::string list;
    for (const auto &m : needed)
      list += "\n  " + m;
    throw Error(ErrorKind::not_calibrated,
                "conn needs offsets that are not known for this kernel (run offsetprobe "
                "calibrate --fields net to see why):" +
                    list);
  }
  o.group_leader = *leader;
  o.start_boottime = *start;
  return o;
}

} // namespace offsetprobe
