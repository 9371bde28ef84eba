// SPDX-License-Identifier: GPL-2.0-only
#include "cache/bundle.h"
#include "cache/json_syntax.h"
#include "calibration/model/result_json.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

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

// FNV-1a 64 of the layout's canonical text: the layout's id. Two layouts with
// one id and different contents would be refused by bundle_entries' caller
// (bundle_merge compares offsets), never silently merged.
std::string layout_id(const json &layout) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : layout.dump()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// A field as a layout holds it: what another build of the same layout shares.
// What expand_field can restore is left out (struct and member from the name,
// empty aliases, the build's trial count, "passed"), and a passed field's
// validation_detail: it tells of that run ("read back from the sk in 14
// hits": the net subject's sockets are random), and the host that takes the
// offsets from the bundle reads them back itself.
json compact_field(const json &f, const json &trials) {
  json c = f;
  const std::string name = f.value("name", "");
  auto dot = name.find('.');
  if (dot != std::string::npos && f.value("struct", "") == name.substr(0, dot) &&
      f.value("member", "") == name.substr(dot + 1)) {
    c.erase("struct");
    c.erase("member");
  }
  if (c.contains("aliases") && c["aliases"] == json::array())
    c.erase("aliases");
  if (c.contains("trials") && c["trials"] == trials)
    c.erase("trials");
  if (c.contains("validation") && c["validation"] == "passed") {
    c.erase("validation");
    c.erase("validation_detail");
  }
  return c;
}

json expand_field(json f, const json &trials) {
  const std::string name = f.value("name", "");
  auto dot = name.find('.');
  if (dot != std::string::npos) {
    if (!f.contains("struct"))
      f["struct"] = name.substr(0, dot);
    if (!f.contains("member"))
      f["member"] = name.substr(dot + 1);
  }
  if (!f.contains("aliases"))
    f["aliases"] = json::array();
  if (!f.contains("trials") && !trials.is_null())
    f["trials"] = trials;
  if (!f.contains("validation") && f.value("status", "") == "calibrated")
    f["validation"] = "passed";
  return f;
}

// The bundle as lookup_bundle needs it, from the spans scan_json noted: its
// top-level members, but of "builds" only build `id` and of "layouts" only
// the layout that build names. The scan checked the whole text (a bundle
// malformed anywhere is refused); the lexing and building of the other
// builds and layouts is skipped (with nlohmann's SAX parser, lexing the
// whole text was ~2 ms of the shipped bundle's lookup, and building every
// build and layout ~44 ms before that). A skipped entry is not checked
// against the schema: it is never used. A later duplicate key wins, as it
// does in nlohmann's parse. nullopt when the text has another shape (not an
// object, "builds" or "layouts" not an object, a key among those written
// with escapes): the caller then builds it whole.
std::optional<json> keep_one_build(const JsonSyntax &s, const std::string &id) {
  if (!s.top_is_object)
    return std::nullopt;
  auto escaped = [](std::string_view k) { return k.find('\\') != std::string_view::npos; };
  auto parse = [](std::string_view v) { return json::parse(v.begin(), v.end()); };
  json root = json::object();
  const JsonMember *layouts = nullptr;
  for (const auto &m : s.members) {
    if (escaped(m.key))
      return std::nullopt;
    bool builds = m.key == "builds";
    if (!builds && m.key != "layouts") {
      root[std::string(m.key)] = parse(m.value);
      continue;
    }
    if (m.value.empty() || m.value.front() != '{')
      return std::nullopt;
    const JsonMember *keep = nullptr;
    for (const auto &b : m.members) {
      if (escaped(b.key))
        return std::nullopt;
      if (builds && b.key == id)
        keep = &b;
    }
    json &obj = root[std::string(m.key)] = json::object();
    if (builds && keep)
      obj[id] = parse(keep->value);
    if (!builds)
      layouts = &m;
  }
  if (!layouts)
    return root;
  const json *b =
      root.contains("builds") && root["builds"].contains(id) ? &root["builds"][id] : nullptr;
  if (!b || !b->is_object() || !b->contains("layout") || !(*b)["layout"].is_string())
    return root;
  const std::string lid = (*b)["layout"].get<std::string>();
  const JsonMember *keep = nullptr;
  for (const auto &l : layouts->members)
    if (l.key == lid)
      keep = &l;
  if (keep)
    root["layouts"][lid] = parse(keep->value);
  return root;
}

// The bundle's text in memory: an anonymous mapping populated at once
// (MAP_POPULATE) and read into, where a std::string took a page fault per
// 4 KiB on its first write (~80 of them for the shipped bundle, ~12 us each
// on this kind of VM).
class BundleText {
public:
  explicit BundleText(std::size_t cap) : len_(cap) {
    void *p = ::mmap(nullptr, len_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    mem_ = p == MAP_FAILED ? nullptr : static_cast<char *>(p);
  }
  ~BundleText() {
    if (mem_)
      ::munmap(mem_, len_);
  }
  BundleText(const BundleText &) = delete;
  BundleText &operator=(const BundleText &) = delete;
  char *data() const { return mem_; }

private:
  std::size_t len_;
  char *mem_ = nullptr;
};

bool is_v1(const json &doc) {
  return doc.is_object() && doc.contains("schema") && doc["schema"] == kBundleSchemaV1;
}

} // namespace

json bundle_compact(const json &v1) {
  json layouts = json::object(), builds = json::object();
  for (const auto &[id, entry] : v1.at("entries").items()) {
    const json &cal = entry.at("calibration");
    json trials = cal.value("trials", json());
    json layout = {{"fields", json::array()}};
    for (const auto &f : cal.at("fields")) {
      json c = compact_field(f, trials);
      // Only what expands back to the same field is compacted (but for a
      // passed field's validation_detail, which is dropped).
      json want = f;
      if (want.value("validation", "") == "passed")
        want.erase("validation_detail");
      layout["fields"].push_back(expand_field(c, trials) == want ? c : f);
    }
    std::string lid = layout_id(layout);
    layouts[lid] = layout;
    json build = entry;
    build.erase("schema");
    build["kernel"].erase("build_id");
    build["calibration"].erase("fields");
    build["layout"] = lid;
    builds[id] = build;
  }
  return json{
      {"schema", kBundleSchema},
      {"created_at", v1.value("created_at", utc_now_iso8601())},
      {"tool", v1.value("tool", json{{"name", "offsetprobe"}, {"version", OFFSETPROBE_VERSION}})},
      {"layouts", layouts},
      {"builds", builds}};
}

CacheResult<json> bundle_entries(const json &doc, const std::string &what) {
  if (is_v1(doc)) {
    auto es = doc.find("entries");
    if (es == doc.end() || !es->is_object())
      return make_error(ErrorCode::schema_invalid, what + ": missing \"entries\" object");
    return *es;
  }
  if (auto e = reader::check_schema(doc, what, kBundleSchema))
    return *e;
  auto ls = doc.find("layouts"), bs = doc.find("builds");
  if (ls == doc.end() || !ls->is_object() || bs == doc.end() || !bs->is_object())
    return make_error(ErrorCode::schema_invalid,
                      what + ": missing \"layouts\" or \"builds\" object");
  json entries = json::object();
  for (const auto &[id, b] : bs->items()) {
    std::string where = what + ": builds[" + id + "]";
    if (!b.is_object() || !b.contains("layout") || !b["layout"].is_string() ||
        !b.contains("kernel") || !b["kernel"].is_object() || !b.contains("calibration") ||
        !b["calibration"].is_object())
      return make_error(ErrorCode::schema_invalid,
                        where + ": needs \"layout\", \"kernel\" and \"calibration\"");
    auto l = ls->find(b["layout"].get<std::string>());
    if (l == ls->end() || !l->is_object() || !l->contains("fields") || !(*l)["fields"].is_array())
      return make_error(ErrorCode::schema_invalid, where + ": layout " +
                                                       b["layout"].get<std::string>() +
                                                       " is missing or has no \"fields\" array");
    // Built in place: each of the layout's fields is copied once (layouts
    // are shared between builds), nothing else is (three copies of every
    // field were ~1.5 ms of each calibrate that consults the bundle).
    json &entry = entries[id] = b;
    entry.erase("layout");
    entry["schema"] = reader::kSchema;
    entry["kernel"]["build_id"] = id;
    json trials = b["calibration"].value("trials", json());
    json &fields = entry["calibration"]["fields"] = json::array();
    for (const auto &c : (*l)["fields"]) {
      if (!c.is_object())
        return make_error(ErrorCode::schema_invalid, where + ": a layout field is not an object");
      fields.push_back(expand_field(c, trials));
    }
  }
  return entries;
}

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
      auto es = bundle_entries(doc, path);
      if (!es)
        return es.error();
      for (const auto &[id, entry] : es.value().items()) {
        auto e = entry_from_json(entry, path + ": entries[" + id + "]", &id);
        if (!e)
          return e.error();
        if (auto err = add_entry(entries, id, entry, path, origin))
          return *err;
      }
      notes.push_back(path + ": bundle of " + std::to_string(es.value().size()) + " entries");
      continue;
    }
    auto e = entry_from_json(doc, path);
    if (!e)
      return e.error();
    if (auto err = add_entry(entries, e.value().kernel.build_id, doc, path, origin))
      return *err;
    notes.push_back(path + ": kernel " + describe(e.value().kernel));
  }
  return json{{"schema", kBundleSchemaV1},
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
  // Compact, as the shipped fleet bundle is: every calibrate on a kernel
  // without a cache entry reads and checks the whole text, and indented it
  // was half as long again (jq prints it indented for a reader).
  auto r = atomic_write_file(dfd, dir, name, bundle.dump() + "\n");
  ::close(dfd);
  return r;
}

CacheResult<CacheEntry> lookup_bundle(const std::string &path, const KernelId &kernel,
                                      const std::function<void()> &named) {
  auto file = reader::open_file(path, kMaxBundleBytes);
  if (!file)
    return file.error();
  BundleText text(file.value().size());
  if (!text.data())
    return make_error(ErrorCode::io, "cannot read " + path + ": " + strerror(errno));
  auto got = file.value().read_into(text.data(), path);
  if (!got)
    return got.error();
  std::string_view bytes(text.data(), got.value());
  if (named && !kernel.build_id.empty() &&
      bytes.find("\"" + kernel.build_id + "\"") != std::string_view::npos)
    named();
  // The whole text is checked, but only this kernel's build and its layout
  // are parsed into JSON values (keep_one_build).
  if (bytes.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return make_error(ErrorCode::truncated, path + " holds no JSON (empty or truncated)");
  JsonSyntax syntax = scan_json(bytes, reader::kMaxJsonDepth, {"builds", "layouts"});
  if (syntax.too_deep)
    return make_error(ErrorCode::corrupt, path + " is nested more than " +
                                              std::to_string(reader::kMaxJsonDepth) +
                                              " levels deep; refusing to parse it");
  if (!syntax.ok)
    return reader::json_syntax_error(path, syntax.error_byte, bytes.size());
  std::optional<json> kept;
  try {
    kept = keep_one_build(syntax, kernel.build_id);
    if (!kept)
      kept = json::parse(bytes.begin(), bytes.end());
  } catch (const std::exception &e) {
    // Not expected: the scan accepted the text.
    return make_error(ErrorCode::corrupt, path + " is not valid JSON (" + e.what() + ")");
  }
  const json &doc = *kept;
  auto es = bundle_entries(doc, path);
  if (!es)
    return es.error();
  auto it = es.value().find(kernel.build_id);
  if (it == es.value().end())
    return make_error(ErrorCode::not_found,
                      "bundle " + path + " holds no entry for kernel " + describe(kernel));
  return entry_from_json(*it, path + ": entries[" + kernel.build_id + "]", &kernel.build_id);
}

} // namespace offsetprobe
