// SPDX-License-Identifier: GPL-2.0-only
// The header-only consumer API, built as C++17 with nothing but nlohmann/json:
// what another agent gets when it includes cache/offsetprobe_reader.hpp.
#include "cache/offsetprobe_reader.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

static_assert(__cplusplus == 201703L, "the reader test is built as C++17");

namespace offsetprobe::reader::test {

namespace {

nlohmann::json entry_for(const KernelId &k) {
  auto field = [](const char *member, nlohmann::json offset, const char *status,
                  const char *validation) {
    return nlohmann::json{{"name", std::string("task_struct.") + member},
                          {"struct", "task_struct"},
                          {"member", member},
                          {"aliases", nlohmann::json::array()},
                          {"size", 8},
                          {"status", status},
                          {"offset", offset},
                          {"trials", 3},
                          {"validation", validation}};
  };
  auto sb = field("start_boottime", 2696, "calibrated", "passed");
  sb["aliases"] = {"real_start_time"};
  return {{"schema", "offsetprobe/v1"},
          {"kernel",
           {{"build_id", k.build_id},
            {"build_id_source", k.source()},
            {"release", k.release},
            {"version", k.version},
            {"machine", k.machine}}},
          {"tool", {{"name", "offsetprobe"}, {"version", "0.1.0"}}},
          {"calibrated_at", "2025-01-31T12:34:56.123Z"},
          {"calibration",
           {{"backend", "libbpf"},
            {"trials", 3},
            {"fields",
             {field("group_leader", 2496, "calibrated", "passed"), sb,
              field("parent", nullptr, "unresolved", "not_run"),
              field("exit_code", 2380, "calibrated", "failed")}}}}};
}

struct Dir {
  std::string path;
  Dir() {
    char t[] = "/tmp/offsetprobe-reader-XXXXXX";
    path = ::mkdtemp(t);
    std::filesystem::permissions(path, std::filesystem::perms(0755));
  }
  ~Dir() { std::filesystem::remove_all(path); }
};

} // namespace

TEST_CASE("reader: load_offsets for the running kernel through $OFFSETPROBE_CACHE_DIR") {
  auto k = read_kernel_id();
  REQUIRE(k);
  Dir d;
  std::ofstream(d.path + "/" + k.value().build_id + ".json") << entry_for(k.value()).dump();
  ::setenv(kCacheDirEnv, d.path.c_str(), 1);
  auto r = load_offsets();
  ::unsetenv(kCacheDirEnv);
  REQUIRE_MESSAGE(r, r.error().message);
  const Offsets &o = r.value();
  CHECK(o.offset("task_struct.group_leader") == 2496u);
  CHECK(o.offset("task_struct.start_boottime") == 2696u);
  CHECK(o.offset("task_struct.real_start_time") == 2696u);
  CHECK(o.find("task_struct.real_start_time")->alias_of == "task_struct.start_boottime");
  CHECK_FALSE(o.offset("task_struct.parent"));    // unresolved
  CHECK_FALSE(o.offset("task_struct.exit_code")); // validation failed
  CHECK(o.omitted.size() == 2);
  CHECK(o.kernel.build_id == k.value().build_id);
  CHECK(o.path == d.path + "/" + k.value().build_id + ".json");
}

TEST_CASE("reader: errors are values") {
  Dir d;
  auto r = load_offsets(d.path);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK(r.error().message.rfind("not calibrated", 0) == 0);
  ::setenv(kCacheDirEnv, "not/absolute", 1);
  auto r2 = load_offsets();
  ::unsetenv(kCacheDirEnv);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == ErrorCode::bad_cache_dir);
}

TEST_CASE("reader: an entry for another build is never used") {
  auto k = read_kernel_id();
  REQUIRE(k);
  KernelId other = k.value();
  other.build_id = "00112233445566778899aabbccddeeff00112233";
  Dir d;
  // Filed under the running kernel's name, but made for another build.
  std::ofstream(d.path + "/" + k.value().build_id + ".json") << entry_for(other).dump();
  auto r = load_offsets(d.path);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::wrong_build_id);
}

} // namespace offsetprobe::reader::test

namespace offsetprobe::reader::test {

TEST_CASE("reader: an interchangeable pointer pair gives a pointer to dereference, no offset") {
  auto pair = [](const char *member, const char *validation) {
    return nlohmann::json{{"name", std::string("task_struct.") + member},
                          {"struct", "task_struct"},
                          {"member", member},
                          {"size", 8u},
                          {"status", "ambiguous"},
                          {"offset", nullptr},
                          {"candidates", {1568u, 1576u}},
                          {"interchangeable", true},
                          {"trials", 3u},
                          {"validation", validation}};
  };
  nlohmann::json cal = {{"backend", "libbpf"},
                        {"trials", 3u},
                        {"fields", {pair("real_cred", "passed"), pair("cred", "passed")}}};
  Offsets o;
  auto err = extract_offsets(cal, "test", o);
  REQUIRE_MESSAGE(!err.has_value(), (err ? err->message : ""));
  CHECK_FALSE(o.offset("task_struct.cred").has_value()); // which one is cred is unknown
  CHECK(o.pointer_offset("task_struct.cred") == 1568u);
  CHECK(o.pointer_offset("task_struct.real_cred") == 1568u);
  SUBCASE("not validated: nothing to dereference") {
    cal["fields"][1] = pair("cred", "failed");
    Offsets o2;
    REQUIRE_FALSE(extract_offsets(cal, "test", o2).has_value());
    CHECK_FALSE(o2.pointer_offset("task_struct.cred").has_value());
  }
  SUBCASE("a non-boolean flag voids the entry") {
    cal["fields"][1]["interchangeable"] = "yes";
    Offsets o3;
    CHECK(extract_offsets(cal, "test", o3).has_value());
  }
}

} // namespace offsetprobe::reader::test
