// SPDX-License-Identifier: GPL-2.0-only
// reader/entry.hpp: a cache entry's bytes -> its header and usable offsets
// (Offsets); only calibrated and validated fields. Part of offsetprobe_reader.hpp.
#pragma once

#include "constants.hpp"
#include "errors.hpp"
#include "json.hpp"
#include "kernel_id.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace offsetprobe::reader {

// EntryHeader: the envelope of a cache entry, everything but "calibration".
struct EntryHeader {
  std::string schema;
  KernelId kernel;
  std::string tool_name, tool_version;
  std::string calibrated_at;
};

// check_entry_header: schema, kernel identity, tool, time. With an expected
// build id, an entry for another kernel is wrong_build_id.
inline Result<EntryHeader> check_entry_header(const nlohmann::json &j, const std::string &what,
                                              const std::string *expected_build_id = nullptr) {
  if (auto e = check_schema(j, what))
    return *e;
  EntryHeader h;
  h.schema = kSchema;
  auto bad = [&](const std::string &m) {
    return make_error(ErrorCode::schema_invalid, what + ": " + m);
  };
  const auto *k = detail::member(j, "kernel");
  if (!k || !k->is_object())
    return bad("missing \"kernel\" object");
  auto id = detail::string_member(*k, "build_id");
  auto src = detail::string_member(*k, "build_id_source");
  auto rel = detail::string_member(*k, "release");
  auto ver = detail::string_member(*k, "version");
  auto mach = detail::string_member(*k, "machine");
  if (!id || !valid_build_id(*id))
    return bad("\"kernel.build_id\" is missing or not a valid build id");
  if (!src || (*src != "gnu-build-id" && *src != "proc-version-digest"))
    return bad("\"kernel.build_id_source\" must be \"gnu-build-id\" or \"proc-version-digest\"");
  h.kernel.build_id = *id;
  h.kernel.strong = *src == "gnu-build-id";
  if (h.kernel.strong == (id->rfind(kProcVersionPrefix, 0) == 0))
    return bad("\"kernel.build_id_source\" does not match the form of \"kernel.build_id\"");
  if (!rel || !ver || !mach)
    return bad("\"kernel.release\", \"kernel.version\" and \"kernel.machine\" must be strings");
  h.kernel.release = *rel;
  h.kernel.version = *ver;
  h.kernel.machine = *mach;
  const auto *t = detail::member(j, "tool");
  if (!t || !t->is_object())
    return bad("missing \"tool\" object");
  auto tn = detail::string_member(*t, "name");
  auto tv = detail::string_member(*t, "version");
  if (!tn || !tv)
    return bad("\"tool.name\" and \"tool.version\" must be strings");
  h.tool_name = *tn;
  h.tool_version = *tv;
  auto at = detail::string_member(j, "calibrated_at");
  if (!at || !valid_timestamp(*at))
    return bad("\"calibrated_at\" is missing or not an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
  h.calibrated_at = *at;
  const auto *c = detail::member(j, "calibration");
  if (!c || !c->is_object())
    return bad("missing \"calibration\" object");
  if (expected_build_id && *expected_build_id != h.kernel.build_id)
    return make_error(ErrorCode::wrong_build_id,
                      what + ": entry is for kernel build " + h.kernel.build_id + " (" +
                          h.kernel.release + "), but the running kernel is " + *expected_build_id +
                          "; refusing to use offsets of another build");
  return h;
}

// Field: one usable offset.
struct Field {
  uint32_t offset = 0;
  uint32_t size = 0;
  std::string alias_of; // set when this name is an alias ("task_struct.real_start_time")
};

// Offsets: the usable offsets of one kernel, by full name ("task_struct.pid")
// and by alias ("task_struct.real_start_time"). Only calibrated + validated.
struct Offsets {
  KernelId kernel;
  std::string calibrated_at;
  std::string path; // where they came from
  std::map<std::string, Field, std::less<>> fields;
  // Fields present in the entry but not usable, with why ("ambiguous", ...).
  std::vector<std::pair<std::string, std::string>> omitted;

  const Field *find(std::string_view name) const {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  }
  std::optional<uint32_t> offset(std::string_view name) const {
    const Field *f = find(name);
    return f ? std::optional<uint32_t>(f->offset) : std::nullopt;
  }
  // Pointer fields whose candidates are interchangeable ("interchangeable":
  // true, ambiguous, validation passed): which candidate is this field is
  // unknown, but every candidate held the same address and the members
  // behind it were read back through them. Name -> the first candidate.
  std::map<std::string, uint32_t, std::less<>> interchangeable;
  // An offset to dereference for the members behind pointer field `name`
  // (e.g. "task_struct.cred" for the cred ids): its calibrated offset, else
  // an interchangeable candidate. Not an answer to "where is `name`".
  std::optional<uint32_t> pointer_offset(std::string_view name) const {
    if (auto o = offset(name))
      return o;
    auto it = interchangeable.find(name);
    return it == interchangeable.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
};

// extract_offsets: checks every element of calibration.fields (types, names,
// status/validation vocabulary, offset range) and keeps the usable ones. One
// bad field voids the entry: a writer that got one field wrong is not trusted
// for the others. Errors: schema_invalid.
inline std::optional<Error> extract_offsets(const nlohmann::json &calibration,
                                            const std::string &what, Offsets &out) {
  auto bad = [&](const std::string &m) {
    return make_error(ErrorCode::schema_invalid, what + ": " + m);
  };
  const auto *fields = detail::member(calibration, "fields");
  if (!fields || !fields->is_array())
    return bad("missing \"calibration.fields\" array");
  // The calibrator searches only below the task_struct slab object size it
  // recorded; an offset whose field ends past it cannot have come from it.
  const auto *struct_size = detail::member(calibration, "task_struct_size");
  std::optional<uint64_t> max_end;
  if (struct_size && struct_size->is_number_unsigned())
    max_end = struct_size->get<uint64_t>();
  std::size_t i = 0;
  for (const auto &f : *fields) {
    std::string at = "calibration.fields[" + std::to_string(i++) + "]";
    if (!f.is_object())
      return bad(at + " is not an object");
    auto name = detail::string_member(f, "name");
    auto st = detail::string_member(f, "struct");
    auto mem = detail::string_member(f, "member");
    auto status = detail::string_member(f, "status");
    auto validation = detail::string_member(f, "validation");
    if (!name || !valid_name(*name) || !st || !valid_name(*st) || !mem || !valid_name(*mem))
      return bad(at + ": \"name\", \"struct\" and \"member\" must be identifier paths");
    at += " (" + *name + ")";
    if (*name != *st + "." + *mem)
      return bad(at + ": \"name\" is not \"struct.member\"");
    if (!status || (*status != "calibrated" && *status != "ambiguous" && *status != "unresolved" &&
                    *status != "not_present"))
      return bad(at + ": \"status\" must be calibrated, ambiguous, unresolved or not_present");
    if (!validation ||
        (*validation != "passed" && *validation != "failed" && *validation != "not_run"))
      return bad(at + ": \"validation\" must be passed, failed or not_run");
    const auto *size = detail::member(f, "size");
    if (!size || !size->is_number_unsigned() || size->get<uint64_t>() > kMaxFieldSize)
      return bad(at + ": \"size\" must be an integer in 0.." + std::to_string(kMaxFieldSize));
    const auto *off = detail::member(f, "offset");
    if (!off)
      return bad(at + ": missing \"offset\" (null when not calibrated)");
    if (!off->is_null()) {
      // is_number_unsigned() is false for negatives and for floats (1e300, 8.0).
      if (!off->is_number_unsigned())
        return bad(at + ": \"offset\" is not a non-negative integer");
      if (off->get<uint64_t>() >= kMaxOffset)
        return bad(at + ": \"offset\" " + std::to_string(off->get<uint64_t>()) + " is not below " +
                   std::to_string(kMaxOffset));
      if (max_end && off->get<uint64_t>() + size->get<uint64_t>() > *max_end)
        return bad(at + ": \"offset\" " + std::to_string(off->get<uint64_t>()) + " + size " +
                   std::to_string(size->get<uint64_t>()) + " is past task_struct_size " +
                   std::to_string(*max_end));
    }
    bool calibrated = *status == "calibrated";
    if (calibrated && off->is_null())
      return bad(at + ": calibrated but \"offset\" is null");
    if (!calibrated && !off->is_null())
      return bad(at + ": has an offset but is " + *status);
    std::vector<std::string> aliases;
    if (const auto *al = detail::member(f, "aliases")) {
      if (!al->is_array())
        return bad(at + ": \"aliases\" is not an array");
      for (const auto &a : *al) {
        if (!a.is_string() || !valid_name(a.get_ref<const std::string &>()))
          return bad(at + ": an alias is not an identifier");
        aliases.push_back(*st + "." + a.get<std::string>());
      }
    }
    if (const auto *ic = detail::member(f, "interchangeable")) {
      if (!ic->is_boolean())
        return bad(at + ": \"interchangeable\" is not a boolean");
      const auto *cands = detail::member(f, "candidates");
      if (ic->get<bool>() && *status == "ambiguous" && *validation == "passed" && cands &&
          cands->is_array() && !cands->empty()) {
        const auto &c = cands->front();
        if (!c.is_number_unsigned() || c.get<uint64_t>() >= kMaxOffset)
          return bad(at + ": a candidate is not an offset");
        out.interchangeable.emplace(*name, static_cast<uint32_t>(c.get<uint64_t>()));
      }
    }
    if (!calibrated) {
      out.omitted.emplace_back(*name, *status);
      continue;
    }
    if (*validation != "passed") {
      out.omitted.emplace_back(*name, "calibrated but validation " + *validation);
      continue;
    }
    Field fld;
    fld.offset = static_cast<uint32_t>(off->get<uint64_t>());
    fld.size = static_cast<uint32_t>(size->get<uint64_t>());
    if (!out.fields.emplace(*name, fld).second)
      return bad(at + ": field listed twice");
    for (const auto &a : aliases) {
      Field af = fld;
      af.alias_of = *name;
      if (!out.fields.emplace(a, af).second)
        return bad(at + ": alias " + a + " collides with another name");
    }
  }
  return std::nullopt;
}

// parse_entry: bytes of a cache entry -> usable offsets (the whole reader
// pipeline after the file read). Errors: corrupt, truncated, schema_invalid,
// future_schema, wrong_build_id.
inline Result<Offsets> parse_entry(std::string_view bytes, const std::string &what,
                                   const std::string *expected_build_id = nullptr) {
  auto j = parse_json(bytes, what);
  if (!j)
    return j.error();
  auto h = check_entry_header(j.value(), what, expected_build_id);
  if (!h)
    return h.error();
  Offsets o;
  o.kernel = std::move(h.value().kernel);
  o.calibrated_at = std::move(h.value().calibrated_at);
  if (auto e = extract_offsets(j.value()["calibration"], what, o))
    return *e;
  return o;
}

} // namespace offsetprobe::reader
