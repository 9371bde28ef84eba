// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/model/result.h"

namespace offsetprobe {

std::string macro_name(const std::string &field_name) {
  std::string out = "OFFSETPROBE_";
  for (char c : field_name) {
    if (c >= 'a' && c <= 'z')
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      out.push_back(c);
    else
      out.push_back('_');
  }
  return out;
}

const char *to_string(FieldStatus s) {
  switch (s) {
  case FieldStatus::calibrated:
    return "calibrated";
  case FieldStatus::ambiguous:
    return "ambiguous";
  case FieldStatus::unresolved:
    return "unresolved";
  case FieldStatus::not_present:
    return "not_present";
  }
  return "unresolved";
}

std::optional<FieldStatus> field_status_from_string(const std::string &s) {
  for (auto v : {FieldStatus::calibrated, FieldStatus::ambiguous, FieldStatus::unresolved,
                 FieldStatus::not_present})
    if (s == to_string(v))
      return v;
  return std::nullopt;
}

const char *to_string(Validation v) {
  switch (v) {
  case Validation::not_run:
    return "not_run";
  case Validation::passed:
    return "passed";
  case Validation::failed:
    return "failed";
  }
  return "not_run";
}

std::optional<Validation> validation_from_string(const std::string &s) {
  for (auto v : {Validation::not_run, Validation::passed, Validation::failed})
    if (s == to_string(v))
      return v;
  return std::nullopt;
}

const FieldResult *CalibrationResult::find(const std::string &name) const {
  for (const auto &f : fields)
    if (f.name == name)
      return &f;
  return nullptr;
}

bool blocks_complete(const FieldResult &f) {
  if (f.status == FieldStatus::not_present)
    return false;
  if (!f.required && f.status != FieldStatus::calibrated)
    return false;
  return f.status != FieldStatus::calibrated || f.validation != Validation::passed;
}

bool CalibrationResult::complete() const {
  if (fields.empty())
    return false;
  for (const auto &f : fields)
    if (blocks_complete(f))
      return false;
  return true;
}

} // namespace offsetprobe
