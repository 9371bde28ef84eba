// SPDX-License-Identifier: GPL-2.0-only
// Exports (json, C header, BCC flags, env) and fleet bundles.
#include "cache/bundle.h"
#include "cache/export.h"
#include "cache_fixtures.h"

#include <doctest/doctest.h>

namespace offsetprobe::test {

using nlohmann::json;
using reader::ErrorCode;

namespace {

bool has(const std::string &hay, const std::string &needle) {
  return hay.find(needle) != std::string::npos;
}

std::string render(ExportFormat f, const CacheEntry &e = sample_entry()) {
  auto r = render_export(e, f);
  REQUIRE_MESSAGE(r, r.error().message);
  return r.value().text;
}

} // namespace

TEST_CASE("export: macro names") {
  CHECK(macro_name("task_struct.group_leader") == "OFFSETPROBE_TASK_STRUCT_GROUP_LEADER");
  CHECK(macro_name("task_struct.signal.pids") == "OFFSETPROBE_TASK_STRUCT_SIGNAL_PIDS");
}

TEST_CASE("export: C header defines only calibrated and validated offsets") {
  std::string h = render(ExportFormat::c_header);
  CHECK(has(h, "#define OFFSETPROBE_TASK_STRUCT_GROUP_LEADER 2496 "));
  CHECK(has(h, "#define OFFSETPROBE_TASK_STRUCT_START_BOOTTIME 2696 "));
  CHECK(has(h, "#define OFFSETPROBE_TASK_STRUCT_REAL_START_TIME 2696 "));
  CHECK(has(h, "Kernel build id: 0123456789abcdef0123456789abcdef01234567 (gnu-build-id)"));
  CHECK(has(h, "#define GROUP_LEADER_OFFSET_OVERRIDE 2496"));
  CHECK(has(h, "#define START_BOOTTIME_OFFSET_OVERRIDE 2696"));
  // Ambiguous and failed-validation fields: a comment, never a macro, never 0.
  CHECK_FALSE(has(h, "#define OFFSETPROBE_TASK_STRUCT_PARENT "));
  CHECK(has(h, "/* OFFSETPROBE_TASK_STRUCT_PARENT omitted: task_struct.parent is ambiguous */"));
  CHECK_FALSE(has(h, "#define OFFSETPROBE_TASK_STRUCT_EXIT_CODE "));
  CHECK(has(h, "exit_code is calibrated but validation failed"));
  CHECK_FALSE(has(h, " 0\n"));
  CHECK(has(h, "#ifndef OFFSETPROBE_OFFSETS_H"));
}

TEST_CASE("export: free text from the entry cannot break out of a comment") {
  auto e = sample_entry();
  e.kernel.version = "#1 SMP */\n#define OFFSETPROBE_TASK_STRUCT_PID 0 /*";
  std::string h = render(ExportFormat::c_header, e);
  CHECK_FALSE(has(h, "\n#define OFFSETPROBE_TASK_STRUCT_PID 0"));
  CHECK_FALSE(has(h, "SMP */"));
}

TEST_CASE("export: BCC flags, with Pixie's override names") {
  auto r = render_export(sample_entry(), ExportFormat::bcc_cflags);
  REQUIRE(r);
  const std::string &t = r.value().text;
  CHECK(has(t, "-DOFFSETPROBE_TASK_STRUCT_GROUP_LEADER=2496"));
  CHECK(has(t, "-DOFFSETPROBE_TASK_STRUCT_PID=2456"));
  CHECK(has(t, "-DGROUP_LEADER_OFFSET_OVERRIDE=2496"));
  CHECK(has(t, "-DSTART_BOOTTIME_OFFSET_OVERRIDE=2696"));
  CHECK_FALSE(has(t, "TASK_STRUCT_PARENT="));
  CHECK_FALSE(has(t, "EXIT_CODE"));
  CHECK(std::count(t.begin(), t.end(), '\n') == 1);
  CHECK(r.value().notes.size() == 2);
}

TEST_CASE("export: Pixie names only for fields that are known") {
  auto e = sample_entry();
  for (auto &f : e.calibration.fields)
    if (f.member == "group_leader") {
      f.status = FieldStatus::unresolved;
      f.offset.reset();
      f.validation = Validation::not_run;
    }
  std::string t = render(ExportFormat::bcc_cflags, e);
  CHECK_FALSE(has(t, "GROUP_LEADER"));
  CHECK(has(t, "-DSTART_BOOTTIME_OFFSET_OVERRIDE=2696"));
}

TEST_CASE("export: env file and json map") {
  std::string env = render(ExportFormat::env);
  CHECK(has(env, "\nOFFSETPROBE_BUILD_ID=0123456789abcdef0123456789abcdef01234567\n"));
  CHECK(has(env, "\nOFFSETPROBE_TASK_STRUCT_PID=2456\n"));
  CHECK(has(env, "# OFFSETPROBE_TASK_STRUCT_PARENT omitted"));
  auto j = json::parse(render(ExportFormat::json));
  CHECK(j["offsets"]["task_struct.group_leader"]["offset"] == 2496);
  CHECK(j["offsets"]["task_struct.real_start_time"]["alias_of"] == "task_struct.start_boottime");
  CHECK_FALSE(j["offsets"].contains("task_struct.parent"));
  CHECK(j["omitted"]["task_struct.parent"] == "ambiguous");
  CHECK(j["kernel"]["build_id"] == "0123456789abcdef0123456789abcdef01234567");
}

TEST_CASE("bundle: create from entries and bundles, look up by build id") {
  TempDir d;
  CacheStore store(d.path());
  auto a = sample_entry(sample_kernel("aaaaaaaaaaaaaaaa"));
  auto b = sample_entry(sample_kernel("bbbbbbbbbbbbbbbb"));
  REQUIRE(store.save(a));
  REQUIRE(store.save(b));
  std::vector<std::string> notes;
  auto b1 = bundle_merge({store.path_for(a.kernel.build_id)}, notes);
  REQUIRE_MESSAGE(b1, b1.error().message);
  REQUIRE(bundle_write(b1.value(), d.file("b1.bundle")));
  // A bundle plus an entry plus the same entry again (newer, same offsets).
  auto a2 = a;
  a2.calibrated_at = "2025-02-01T00:00:00Z";
  TempDir d2;
  REQUIRE(CacheStore(d2.path()).save(a2));
  auto b2 = bundle_merge({d.file("b1.bundle"), store.path_for(b.kernel.build_id),
                          CacheStore(d2.path()).path_for(a.kernel.build_id)},
                         notes);
  REQUIRE_MESSAGE(b2, b2.error().message);
  CHECK(b2.value()["schema"] == "offsetprobe-bundle/v1");
  CHECK(b2.value()["entries"].size() == 2);
  CHECK(b2.value()["entries"]["aaaaaaaaaaaaaaaa"]["calibrated_at"] == "2025-02-01T00:00:00Z");
  REQUIRE(bundle_write(b2.value(), d.file("fleet.bundle")));

  auto hit = lookup_bundle(d.file("fleet.bundle"), b.kernel);
  REQUIRE_MESSAGE(hit, hit.error().message);
  CHECK(to_json(hit.value()) == to_json(b));
  auto miss = lookup_bundle(d.file("fleet.bundle"), sample_kernel("cccccccccccccccc"));
  REQUIRE_FALSE(miss);
  CHECK(miss.error().code == ErrorCode::not_found);
  CHECK(has(miss.error().message, "holds no entry"));
  CHECK(lookup_bundle(d.file("none.bundle"), b.kernel).error().code == ErrorCode::not_found);
  // An entry file is not a bundle.
  CHECK(lookup_bundle(store.path_for(b.kernel.build_id), b.kernel).error().code ==
        ErrorCode::schema_invalid);
}

TEST_CASE("bundle: conflicting calibrations of one build are an error") {
  TempDir d1, d2;
  auto a = sample_entry();
  auto a2 = a;
  a2.calibration.fields[0].offset = 2464;
  REQUIRE(CacheStore(d1.path()).save(a));
  REQUIRE(CacheStore(d2.path()).save(a2));
  std::vector<std::string> notes;
  auto r = bundle_merge({CacheStore(d1.path()).path_for(a.kernel.build_id),
                         CacheStore(d2.path()).path_for(a.kernel.build_id)},
                        notes);
  REQUIRE_FALSE(r);
  CHECK(has(r.error().message, "conflicting entries"));
}

TEST_CASE("bundle: an entry filed under another build id is refused") {
  TempDir d;
  json bundle = {{"schema", "offsetprobe-bundle/v1"},
                 {"entries", {{"cccccccccccccccc", to_json(sample_entry())}}}};
  d.write("x.bundle", bundle.dump());
  auto r = lookup_bundle(d.file("x.bundle"), sample_kernel("cccccccccccccccc"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::wrong_build_id);
  bundle["schema"] = "offsetprobe-bundle/v2";
  d.write("y.bundle", bundle.dump());
  CHECK(lookup_bundle(d.file("y.bundle"), sample_kernel()).error().code ==
        ErrorCode::future_schema);
}

} // namespace offsetprobe::test
