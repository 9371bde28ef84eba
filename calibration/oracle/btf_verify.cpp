// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/oracle/btf_verify.h"

#include "calibration/experiment/kernel_config.h"
#include "calibration/solve/layout_order.h"

#include <algorithm>

namespace offsetprobe {

const char *to_string(Verdict v) {
  switch (v) {
  case Verdict::match:
    return "match";
  case Verdict::mismatch:
    return "mismatch";
  case Verdict::not_calibrated:
    return "not_calibrated";
  case Verdict::not_in_btf:
    return "not_in_btf";
  }
  return "not_in_btf";
}

bool VerifyReport::ok() const {
  return !fields.empty() &&
         std::all_of(fields.begin(), fields.end(), [](const FieldVerdict &f) { return f.ok; });
}

namespace {

FieldVerdict verify_field(const FieldResult &f, const BtfOracle &oracle) {
  FieldVerdict v;
  v.name = f.name;
  v.status = f.status;
  v.offset = f.offset;
  v.size = f.size;

  std::string error;
  LookupFailure why = LookupFailure::no_member;
  auto truth = oracle.member(f.struct_name, f.member, f.aliases, error, &why);
  if (truth) {
    v.btf_offset = truth->offset;
    v.btf_size = truth->size;
  }
  const std::string as =
      truth && truth->found_as != f.member ? " (in BTF as " + truth->found_as + ")" : "";

  switch (f.status) {
  case FieldStatus::calibrated:
    if (!truth) {
      v.verdict = Verdict::not_in_btf;
      v.detail = error;
      return v;
    }
    if (*f.offset == truth->offset && f.size == truth->size) {
      v.verdict = Verdict::match;
      v.ok = true;
      v.detail = as.empty() ? "" : as.substr(1);
      return v;
    }
    v.verdict = Verdict::mismatch;
    if (*f.offset != truth->offset)
      v.detail = "offset " + std::to_string(*f.offset) + " != BTF " + std::to_string(truth->offset);
    if (f.size != truth->size)
      v.detail += (v.detail.empty() ? "" : "; ") + std::string("size ") + std::to_string(f.size) +
                  " != BTF " + std::to_string(truth->size);
    v.detail += as;
    return v;

  case FieldStatus::not_present:
    if (!truth) {
      // Both agree the kernel has no such field: not a failure. A BTF that
      // cannot describe it (a bitfield) is not agreement, though.
      v.verdict = Verdict::not_in_btf;
      v.ok = why == LookupFailure::no_member || why == LookupFailure::no_struct;
      v.detail = error;
      return v;
    }
    v.verdict = Verdict::not_calibrated;
    v.detail = "calibration says not present, but BTF has it at offset " +
               std::to_string(truth->offset) + as;
    if (!f.reason.empty())
      v.detail += " (reason given: " + f.reason + ")";
    return v;

  case FieldStatus::ambiguous:
  case FieldStatus::unresolved:
    v.verdict = Verdict::not_calibrated;
    v.detail = to_string(f.status);
    if (!f.reason.empty())
      v.detail += ": " + f.reason;
    // For the matrix: did the truth survive among the candidates?
    if (truth && !f.candidates.empty()) {
      bool among =
          std::find(f.candidates.begin(), f.candidates.end(), truth->offset) != f.candidates.end();
      v.detail += among ? "; BTF offset is among the candidates"
                        : "; BTF offset is NOT among the candidates";
    }
    if (!truth)
      v.detail += "; BTF: " + error;
    return v;
  }
  return v;
}

nlohmann::json opt(const std::optional<uint32_t> &v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

} // namespace

VerifyReport verify_against_btf(const CalibrationResult &calibration, const BtfOracle &oracle) {
  VerifyReport r;
  r.btf = oracle.source();
  for (const auto &f : calibration.fields)
    r.fields.push_back(verify_field(f, oracle));
  return r;
}

nlohmann::json to_json(const VerifyReport &r) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto &f : r.fields)
    fields.push_back({
        {"name", f.name},
        {"status", to_string(f.status)},
        {"offset", opt(f.offset)},
        {"btf_offset", opt(f.btf_offset)},
        {"size", f.size},
        {"btf_size", opt(f.btf_size)},
        {"verdict", to_string(f.verdict)},
        {"detail", f.detail},
    });
  nlohmann::json j = {{"btf", r.btf}, {"fields", fields}, {"ok", r.ok()}};
  if (!r.btf_untrusted.empty())
    j["btf_untrusted"] = r.btf_untrusted;
  return j;
}

void explain_untrusted_btf(VerifyReport &r, const std::string &why) {
  r.btf_untrusted = why;
  for (auto &f : r.fields)
    if (f.verdict == Verdict::mismatch)
      f.detail += std::string(f.detail.empty() ? "" : "; ") +
                  "BTF cannot be trusted here: randomized layout (" + why +
                  "); BTF and DWARF describe the declared order, the code uses the shuffled one";
}

std::string untrusted_btf_reason(const CalibrationResult &calibration) {
  if (auto l = layout_from_kernel_config(); l && l->randomized)
    return l->evidence;
  if (!calibration.layout.empty())
    return calibration.layout;
  auto l = detect_layout_order(calibration.fields);
  return l.randomized ? "calibrated fields: " + l.evidence : "";
}

} // namespace offsetprobe
