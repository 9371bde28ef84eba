// SPDX-License-Identifier: GPL-2.0-only
#include "cache/bundle.h"
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

// A SAX handler that builds, of a v2 bundle, only the build `id` and the
// layout it names (and the small top-level values), and skips every other
// build and layout as it is parsed: the lexer still reads the whole text,
// so a bundle malformed anywhere is refused, but nothing of the skipped
// parts is built (nlohmann's parser callback, used before, built each value
// and then dropped it; the lexer's ~2 ms for the shipped bundle's 328 KiB
// are most of the parse either way). The bundle writer (nlohmann's sorted keys)
// puts "builds" before "layouts"; a bundle in the other order keeps every
// layout, which is slower but the same result. A v1 bundle's entries are all
// kept. An entry that is skipped is not checked against the schema: it is
// never used. Nesting deeper than `max_depth` is refused, as parse_json does.
class KeepOneBuild : public nlohmann::json_sax<json> {
public:
  KeepOneBuild(std::string id, std::size_t max_depth) : id_(std::move(id)), max_depth_(max_depth) {}

  json root;
  std::optional<std::size_t> error_byte; // where the text stopped being JSON
  bool too_deep = false;

  bool null() override { return value(nullptr); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override { return value(v); }
  bool number_unsigned(number_unsigned_t v) override { return value(v); }
  bool number_float(number_float_t v, const string_t &) override { return value(v); }
  bool string(string_t &v) override {
    if (layout_next_ && depth_ == 3 && skip_from_ == 0)
      layout_ = v;
    layout_next_ = false;
    return value(std::move(v));
  }
  bool binary(binary_t &) override { return false; } // not in JSON text
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t &k) override {
    // depth_ is the depth of the object this key is in (the document is 1).
    if (skip_from_)
      return true;
    bool keep = true;
    if (depth_ == 1) {
      builds_seen_ |= top_ == "builds";
      top_ = k;
    } else if (depth_ == 2 && top_ == "builds")
      keep = k == id_;
    else if (depth_ == 2 && top_ == "layouts")
      // No build named a layout: none is needed, unless "builds" is still
      // to come.
      keep = layout_.empty() ? !builds_seen_ : k == layout_;
    else if (depth_ == 3 && top_ == "builds")
      layout_next_ = k == "layout";
    skip_next_ = !keep;
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t byte, const std::string &,
                   const nlohmann::detail::exception &) override {
    error_byte = byte;
    return false;
  }

private:
  // A scalar: into the parent, unless skipped.
  template <class V> bool value(V &&v) {
    if (skip_from_ || std::exchange(skip_next_, false))
      return true;
    insert(json(std::forward<V>(v)));
    return true;
  }
  bool open(json &&empty) {
    if (++depth_ > max_depth_) {
      too_deep = true;
      return false;
    }
    if (skip_from_)
      return true;
    if (std::exchange(skip_next_, false)) {
      skip_from_ = depth_;
      return true;
    }
    stack_.push_back(insert(std::move(empty)));
    return true;
  }
  bool close() {
    if (skip_from_ == depth_)
      skip_from_ = 0;
    else if (!skip_from_)
      stack_.pop_back();
    --depth_;
    return true;
  }
  // Into the innermost open value: under the last key of an object, at the
  // end of an array; the document itself when nothing is open. The pointer
  // stays valid while it is on the stack: a map's values do not move, and
  // an array only grows while its last element is not open.
  json *insert(json &&v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json &parent = *stack_.back();
    if (parent.is_object())
      return &(parent[key_] = std::move(v));
    parent.push_back(std::move(v));
    return &parent.back();
  }

  std::string id_;
  std::size_t max_depth_;
  std::vector<json *> stack_;
  std::string key_, top_, layout_;
  std::size_t depth_ = 0, skip_from_ = 0; // skip_from_: the depth of a skipped value, 0 for none
  bool skip_next_ = false, layout_next_ = false, builds_seen_ = false;
};

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
  auto r = atomic_write_file(dfd, dir, name, bundle.dump(1) + "\n");
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
  // Only this kernel's build, and its layout, are built as JSON values
  // (KeepOneBuild). Building every one of the shipped archive's 102 builds
  // and 56 layouts took ~44 ms of every calibrate that consults it;
  // expanding them all, another ~130 ms.
  if (bytes.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return make_error(ErrorCode::truncated, path + " holds no JSON (empty or truncated)");
  KeepOneBuild keep(kernel.build_id, reader::kMaxJsonDepth);
  bool ok = false;
  try {
    ok = json::sax_parse(bytes.begin(), bytes.end(), &keep);
  } catch (const std::exception &) {
    ok = false;
  }
  if (keep.too_deep)
    return make_error(ErrorCode::corrupt, path + " is nested more than " +
                                              std::to_string(reader::kMaxJsonDepth) +
                                              " levels deep; refusing to parse it");
  if (!ok) {
    // An error at the very end of the input means the document stopped
    // early (parse_json's rule).
    if (keep.error_byte && *keep.error_byte >= bytes.size())
      return make_error(ErrorCode::truncated, path + " ends early after " +
                                                  std::to_string(bytes.size()) +
                                                  " bytes (truncated JSON)");
    return make_error(
        ErrorCode::corrupt,
        path + " is not valid JSON" +
            (keep.error_byte ? " (byte " + std::to_string(*keep.error_byte) + ")" : std::string()));
  }
  const json &doc = keep.root;
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
