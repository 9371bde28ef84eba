// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/model/result_json.h"

namespace offsetprobe {

using nlohmann::json;

json to_json(const FieldResult &f) {
  // Built member by member into the object's map: an initializer list of
  // pairs made and converted a temporary array per member (a cache entry's
  // ~126 fields are converted on every save and every --json).
  json j(json::value_t::object);
  auto &o = *j.get_ptr<json::object_t *>();
  o.emplace("name", f.name);
  o.emplace("struct", f.struct_name);
  o.emplace("member", f.member);
  o.emplace("aliases", f.aliases);
  o.emplace("size", f.size);
  o.emplace("status", to_string(f.status));
  o.emplace("offset", f.offset ? json(*f.offset) : json(nullptr));
  o.emplace("trials", f.trials);
  o.emplace("validation", to_string(f.validation));
  if (!f.candidates.empty())
    o.emplace("candidates", f.candidates);
  if (!f.reason.empty())
    o.emplace("reason", f.reason);
  if (!f.validation_detail.empty())
    o.emplace("validation_detail", f.validation_detail);
  if (!f.required)
    o.emplace("required", false);
  if (f.interchangeable)
    o.emplace("interchangeable", true);
  return j;
}

json to_json(const CalibrationResult &r) {
  json fields = json::array();
  for (const auto &f : r.fields)
    fields.push_back(to_json(f));
  json j = {
      {"backend", r.backend},        {"trigger", r.trigger},       {"trials", r.trials},
      {"scan_bytes", r.scan_bytes},  {"elapsed_ms", r.elapsed_ms}, {"complete", r.complete()},
      {"fields", std::move(fields)},
  };
  j["task_struct_size"] = r.task_struct_size ? json(*r.task_struct_size) : json(nullptr);
  if (!r.layout.empty())
    j["layout"] = r.layout;
  return j;
}

namespace {

bool get_string(const json &j, const char *key, std::string &out, std::string &error,
                bool required = true) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required)
      error = std::string("missing \"") + key + "\"";
    return !required;
  }
  if (!it->is_string()) {
    error = std::string("\"") + key + "\" is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool get_u32(const json &j, const char *key, uint32_t &out, std::string &error, uint32_t max,
             bool required = true) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required)
      error = std::string("missing \"") + key + "\"";
    return !required;
  }
  // is_number_unsigned() is false for negative numbers and for floats (NaN
  // cannot appear in JSON, but 1e300 can).
  if (!it->is_number_unsigned()) {
    error = std::string("\"") + key + "\" is not a non-negative integer";
    return false;
  }
  auto v = it->get<uint64_t>();
  if (v > max) {
    error = std::string("\"") + key + "\" = " + std::to_string(v) + " is out of range (max " +
            std::to_string(max) + ")";
    return false;
  }
  out = static_cast<uint32_t>(v);
  return true;
}

} // namespace

std::optional<FieldResult> field_from_json(const json &j, std::string &error) {
  if (!j.is_object()) {
    error = "field is not an object";
    return std::nullopt;
  }
  FieldResult f;
  std::string status, validation;
  if (!get_string(j, "name", f.name, error) || !get_string(j, "struct", f.struct_name, error) ||
      !get_string(j, "member", f.member, error) || !get_u32(j, "size", f.size, error, 4096) ||
      !get_string(j, "status", status, error) || !get_u32(j, "trials", f.trials, error, 1 << 20) ||
      !get_string(j, "validation", validation, error) ||
      !get_string(j, "reason", f.reason, error, false) ||
      !get_string(j, "validation_detail", f.validation_detail, error, false)) {
    error = "field " + (f.name.empty() ? std::string("?") : f.name) + ": " + error;
    return std::nullopt;
  }
  auto st = field_status_from_string(status);
  auto va = validation_from_string(validation);
  if (!st || !va) {
    error = "field " + f.name + ": unknown status or validation";
    return std::nullopt;
  }
  f.status = *st;
  f.validation = *va;
  if (auto it = j.find("required"); it != j.end()) {
    if (!it->is_boolean()) {
      error = "field " + f.name + ": \"required\" is not a boolean";
      return std::nullopt;
    }
    f.required = it->get<bool>();
  }
  if (auto it = j.find("interchangeable"); it != j.end()) {
    if (!it->is_boolean()) {
      error = "field " + f.name + ": \"interchangeable\" is not a boolean";
      return std::nullopt;
    }
    f.interchangeable = it->get<bool>();
  }
  if (auto it = j.find("aliases"); it != j.end()) {
    if (!it->is_array()) {
      error = "field " + f.name + ": \"aliases\" is not an array";
      return std::nullopt;
    }
    for (const auto &a : *it) {
      if (!a.is_string()) {
        error = "field " + f.name + ": an alias is not a string";
        return std::nullopt;
      }
      f.aliases.push_back(a.get<std::string>());
    }
  }
  if (auto it = j.find("candidates"); it != j.end()) {
    if (!it->is_array()) {
      error = "field " + f.name + ": \"candidates\" is not an array";
      return std::nullopt;
    }
    for (const auto &c : *it) {
      if (!c.is_number_unsigned() || c.get<uint64_t>() >= kMaxSaneOffset) {
        error = "field " + f.name + ": a candidate is not a sane offset";
        return std::nullopt;
      }
      f.candidates.push_back(c.get<uint32_t>());
    }
  }
  auto off = j.find("offset");
  if (off == j.end()) {
    error = "field " + f.name + ": missing \"offset\"";
    return std::nullopt;
  }
  if (!off->is_null()) {
    uint32_t o = 0;
    if (!get_u32(j, "offset", o, error, kMaxSaneOffset - 1)) {
      error = "field " + f.name + ": " + error;
      return std::nullopt;
    }
    f.offset = o;
  }
  if (f.status == FieldStatus::calibrated && !f.offset) {
    error = "field " + f.name + ": calibrated but has no offset";
    return std::nullopt;
  }
  if (f.status != FieldStatus::calibrated && f.offset) {
    error = "field " + f.name + ": has an offset but is " + status;
    return std::nullopt;
  }
  return f;
}

std::optional<CalibrationResult> calibration_from_json(const json &j, std::string &error) {
  if (!j.is_object()) {
    error = "calibration is not an object";
    return std::nullopt;
  }
  CalibrationResult r;
  if (!get_string(j, "backend", r.backend, error) ||
      !get_string(j, "trigger", r.trigger, error, false) ||
      !get_string(j, "layout", r.layout, error, false) ||
      !get_u32(j, "trials", r.trials, error, 1 << 20) ||
      !get_u32(j, "scan_bytes", r.scan_bytes, error, 1 << 20, false))
    return std::nullopt;
  if (auto it = j.find("task_struct_size"); it != j.end() && !it->is_null()) {
    uint32_t s = 0;
    if (!get_u32(j, "task_struct_size", s, error, kMaxSaneOffset))
      return std::nullopt;
    r.task_struct_size = s;
  }
  if (auto it = j.find("elapsed_ms"); it != j.end() && it->is_number())
    r.elapsed_ms = it->get<double>();
  auto fields = j.find("fields");
  if (fields == j.end() || !fields->is_array()) {
    error = "missing \"fields\" array";
    return std::nullopt;
  }
  for (const auto &fj : *fields) {
    auto f = field_from_json(fj, error);
    if (!f)
      return std::nullopt;
    r.fields.push_back(std::move(*f));
  }
  return r;
}

} // namespace offsetprobe
