// SPDX-License-Identifier: GPL-2.0-only
#include "cache/bundle.h"
#include "calibration/result_json.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>

namespace offsetprobe {

using nlohmann::json;
using reader::ErrorCode;
using reader::make_error;

namespace {

// The offsets an entry exports, for comparing two entries of one build.
std::map<std::string, uint32_t> exported(const json &calibration) {
  reader::Offsets o;
  reader::extract_offsets(calibration, "", o);
  std::map<std::string, uint32_t> m;
  for (const auto &[name, f] : o.fields)
    m[name] = f.offset;
  return m;
}

std::optional<CacheError> add_entry(json &entries, const std::string &id, const json &entry,
                                    const std::string &from,
                                    std::map<std::string, std::string> &origin) {
  auto it = entries.find(id);
  if (it == entries.end()) {
    entries[id] = entry;
    origin[id] = from;
    return std::nullopt;
  }
  auto a = exported((*it)["calibration"]), b = exported(entry["calibration"]);
  if (a != b)
    return make_error(ErrorCode::schema_invalid, "conflicting entries for kernel build " + id +
                                                     ": " + origin[id] + " and " + from +
                                                     " give different offsets");
  if (entry["calibrated_at"].get<std::string>() > (*it)["calibrated_at"].get<std::string>()) {
    *it = entry;
    origin[id] = from;
  }
  return std::nullopt;
}

} // namespace

CacheResult<json> bundle_merge(const std::vector<std::string> &inputs,
                               std::vector<std::string> &notes) {
  json entries = json::object();
  std::map<std::string, std::string> origin;
  reader::Safety safety;
  safety.owner_checks = false; // an offline tool over files the user names
  safety.strict_links = false;
  for (const auto &path : inputs) {
    auto bytes = reader::read_file(path, kMaxBundleBytes, safety);
    if (!bytes)
      return bytes.error();
    auto j = reader::parse_json(bytes.value(), path);
    if (!j)
      return j.error();
    const json &doc = j.value();
    if (doc.is_object() && doc.contains("schema") && doc["schema"].is_string() &&
        doc["schema"].get<std::string>().rfind("offsetprobe-bundle/", 0) == 0) {
      if (auto e = reader::check_schema(doc, path, kBundleSchema))
        return *e;
      auto es = doc.find("entries");
      if (es == doc.end() || !es->is_object())
        return make_error(ErrorCode::schema_invalid, path + ": missing \"entries\" object");
      for (const auto &[id, entry] : es->items()) {
        auto e = entry_from_json(entry, path + ": entries[" + id + "]", &id);
        if (!e)
          return e.error();
        if (auto err = add_entry(entries, id, entry, path, origin))
          return *err;
      }
      notes.push_back(path + ": bundle of " + std::to_string(es->size()) + " entries");
      continue;
    }
    auto e = entry_from_json(doc, path);
    if (!e)
      return e.error();
    if (auto err = add_entry(entries, e.value().kernel.build_id, doc, path, origin))
      return *err;
    notes.push_back(path + ": kernel " + describe(e.value().kernel));
  }
  return json{{"schema", kBundleSchema},
              {"created_at", utc_now_iso8601()},
              {"tool", {{"name", "offsetprobe"}, {"version", OFFSETPROBE_VERSION}}},
              {"entries", entries}};
}

CacheResult<std::string> bundle_write(const json &bundle, const std::string &path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return make_error(ErrorCode::io, "cannot open directory " + dir + ": " + strerror(errno));
  auto r = atomic_write_file(dfd, dir, name, bundle.dump(1) + "\n");
  ::close(dfd);
  return r;
}

CacheResult<CacheEntry> lookup_bundle(const std::string &path, const KernelId &kernel) {
  auto bytes = reader::read_file(path, kMaxBundleBytes);
  if (!bytes)
    return bytes.error();
  auto j = reader::parse_json(bytes.value(), path);
  if (!j)
    return j.error();
  if (auto e = reader::check_schema(j.value(), path, kBundleSchema))
    return *e;
  auto es = j.value().find("entries");
  if (es == j.value().end() || !es->is_object())
    return make_error(ErrorCode::schema_invalid, path + ": missing \"entries\" object");
  auto it = es->find(kernel.build_id);
  if (it == es->end())
    return make_error(ErrorCode::not_found,
                      "bundle " + path + " holds no entry for kernel " + describe(kernel));
  return entry_from_json(*it, path + ": entries[" + kernel.build_id + "]", &kernel.build_id);
}

} // namespace offsetprobe
