// SPDX-License-Identifier: GPL-2.0-only
// Exports (json, C header, BCC flags, env) and fleet bundles.
#include "cache/bundle.h"
#include "cache/export.h"
#include "cache/json_syntax.h"
#include "cache_fixtures.h"

#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <random>

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

TEST_CASE("export: an interchangeable pointer pair exports NAME_DEREF, never NAME") {
  // A randomized layout (docs/randstruct.md): real_cred and cred held the same
  // address in every subject; the cred ids behind them were read back.
  CacheEntry e = sample_entry();
  for (const char *member : {"real_cred", "cred"}) {
    FieldResult f = calibrated_field(member, 0, 8);
    f.status = FieldStatus::ambiguous;
    f.offset.reset();
    f.candidates = {1568, 1576};
    f.interchangeable = true;
    e.calibration.fields.push_back(f);
  }
  std::string h = render(ExportFormat::c_header, e);
  CHECK_FALSE(has(h, "#define OFFSETPROBE_TASK_STRUCT_CRED "));
  CHECK_FALSE(has(h, "#define OFFSETPROBE_TASK_STRUCT_REAL_CRED "));
  CHECK(has(h, "/* OFFSETPROBE_TASK_STRUCT_CRED omitted: task_struct.cred is ambiguous */"));
  CHECK(has(h, "#define OFFSETPROBE_TASK_STRUCT_CRED_DEREF 1568 /* task_struct.cred: "
               "interchangeable pointer pair"));
  CHECK(has(h, "#define OFFSETPROBE_TASK_STRUCT_REAL_CRED_DEREF 1568 "));
  std::string flags = render(ExportFormat::bcc_cflags, e);
  CHECK(has(flags, " -DOFFSETPROBE_TASK_STRUCT_CRED_DEREF=1568"));
  CHECK_FALSE(has(flags, "-DOFFSETPROBE_TASK_STRUCT_CRED="));
  std::string env = render(ExportFormat::env, e);
  CHECK(has(env, "\nOFFSETPROBE_TASK_STRUCT_CRED_DEREF=1568\n"));
  auto j = json::parse(render(ExportFormat::json, e));
  CHECK(j.at("dereference").at("task_struct.cred").at("offset") == 1568);
  CHECK_FALSE(j.at("offsets").contains("task_struct.cred"));
  SUBCASE("not validated: no DEREF either") {
    e.calibration.fields.back().validation = Validation::failed;
    std::string h2 = render(ExportFormat::c_header, e);
    CHECK_FALSE(has(h2, "OFFSETPROBE_TASK_STRUCT_CRED_DEREF"));
  }
  SUBCASE("without a pair: no dereference key") {
    CHECK_FALSE(json::parse(render(ExportFormat::json)).contains("dereference"));
  }
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
  bundle["schema"] = "offsetprobe-bundle/v3";
  d.write("y.bundle", bundle.dump());
  CHECK(lookup_bundle(d.file("y.bundle"), sample_kernel()).error().code ==
        ErrorCode::future_schema);
}

// `entries` saved in `store` and merged into a v1 bundle.
json merged(CacheStore &store, std::initializer_list<CacheEntry *> entries) {
  std::vector<std::string> paths, notes;
  for (auto *e : entries) {
    REQUIRE(store.save(*e));
    paths.push_back(store.path_for(e->kernel.build_id));
  }
  auto v1 = bundle_merge(paths, notes);
  REQUIRE_MESSAGE(v1, v1.error().message);
  return v1.value();
}

TEST_CASE("bundle v2: a passed field's run-specific validation_detail does not split a layout") {
  TempDir d;
  CacheStore store(d.path());
  // Two builds of one layout whose read-backs told of different runs (the
  // net family's "read back from the sk in N hits"); a third whose field
  // failed its read-back keeps its detail, in a layout of its own.
  auto a = sample_entry(sample_kernel("aaaaaaaaaaaaaaaa"));
  auto b = sample_entry(sample_kernel("bbbbbbbbbbbbbbbb"));
  auto c = sample_entry(sample_kernel("cccccccccccccccc"));
  REQUIRE(a.calibration.fields[0].validation == Validation::passed);
  a.calibration.fields[0].validation_detail = "read back in 8 hits";
  b.calibration.fields[0].validation_detail = "read back in 9 hits";
  c.calibration.fields[0].validation = Validation::failed;
  c.calibration.fields[0].validation_detail = "read 0x1, want 0x2";
  json v1 = merged(store, {&a, &b, &c});
  json v2 = bundle_compact(v1);
  CHECK(v2["layouts"].size() == 2);
  CHECK(v2["builds"]["aaaaaaaaaaaaaaaa"]["layout"] == v2["builds"]["bbbbbbbbbbbbbbbb"]["layout"]);
  auto back = bundle_entries(v2, "v2");
  REQUIRE_MESSAGE(back, back.error().message);
  const json &f0 = back.value()["aaaaaaaaaaaaaaaa"]["calibration"]["fields"][0];
  CHECK(f0["validation"] == "passed");
  CHECK_FALSE(f0.contains("validation_detail"));
  CHECK(back.value()["cccccccccccccccc"]["calibration"]["fields"][0]["validation_detail"] ==
        "read 0x1, want 0x2");
}

TEST_CASE("bundle v2: each layout once, every entry restored exactly") {
  TempDir d;
  CacheStore store(d.path());
  // a and b share a layout (two builds of one ABI); c differs in one offset.
  auto a = sample_entry(sample_kernel("aaaaaaaaaaaaaaaa"));
  auto b = sample_entry(sample_kernel("bbbbbbbbbbbbbbbb"));
  auto c = sample_entry(sample_kernel("cccccccccccccccc"));
  c.calibration.fields[0].offset = *c.calibration.fields[0].offset + 8;
  json v1 = merged(store, {&a, &b, &c});
  json v2 = bundle_compact(v1);
  CHECK(v2["schema"] == "offsetprobe-bundle/v2");
  CHECK(v2["builds"].size() == 3);
  CHECK(v2["layouts"].size() == 2);
  CHECK(v2["builds"]["aaaaaaaaaaaaaaaa"]["layout"] == v2["builds"]["bbbbbbbbbbbbbbbb"]["layout"]);
  CHECK(v2["builds"]["aaaaaaaaaaaaaaaa"]["layout"] != v2["builds"]["cccccccccccccccc"]["layout"]);
  CHECK(v2.dump().size() < v1.dump().size());
  auto back = bundle_entries(v2, "v2");
  REQUIRE_MESSAGE(back, back.error().message);
  CHECK(back.value() == v1["entries"]);
  REQUIRE(bundle_write(v2, d.file("fleet.bundle")));
  for (const auto *e : {&a, &b, &c}) {
    auto hit = lookup_bundle(d.file("fleet.bundle"), e->kernel);
    REQUIRE_MESSAGE(hit, hit.error().message);
    CHECK(to_json(hit.value()) == to_json(*e));
  }
  // The lookup builds only this kernel's build and layout: in a bundle
  // written with "layouts" before "builds" (another writer's order) it
  // finds the same entries; another build's broken layout does not stop it,
  // but the kernel whose layout it is gets an error, never a half entry.
  {
    std::string text = "{\"layouts\":" + v2["layouts"].dump() +
                       ",\"builds\":" + v2["builds"].dump() +
                       ",\"schema\":\"offsetprobe-bundle/v2\"}";
    std::ofstream(d.file("reordered.bundle")) << text;
    for (const auto *e : {&a, &b, &c}) {
      auto hit = lookup_bundle(d.file("reordered.bundle"), e->kernel);
      REQUIRE_MESSAGE(hit, hit.error().message);
      CHECK(to_json(hit.value()) == to_json(*e));
    }
    json broken = v2;
    std::string c_layout = v2["builds"]["cccccccccccccccc"]["layout"];
    broken["layouts"][c_layout]["fields"] = 7;
    REQUIRE(bundle_write(broken, d.file("broken.bundle")));
    auto hit = lookup_bundle(d.file("broken.bundle"), a.kernel);
    REQUIRE_MESSAGE(hit, hit.error().message);
    CHECK(to_json(hit.value()) == to_json(a));
    auto bad = lookup_bundle(d.file("broken.bundle"), c.kernel);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ErrorCode::schema_invalid);
    CHECK(lookup_bundle(d.file("broken.bundle"), sample_kernel("dddddddddddddddd")).error().code ==
          ErrorCode::not_found);
    // Not JSON past the kept build: the whole text is still checked.
    std::ofstream(d.file("cut.bundle")) << text.substr(0, text.size() - 3);
    auto cut = lookup_bundle(d.file("cut.bundle"), a.kernel);
    REQUIRE_FALSE(cut);
    CHECK(cut.error().code == ErrorCode::truncated);
    // Nor is a skipped build: a bad token or a nesting too deep in c's
    // build refuses the bundle for a as well.
    std::string c_build = "\"cccccccccccccccc\":";
    auto at = text.find(c_build);
    REQUIRE(at != std::string::npos);
    std::string bad_token = text, too_deep = text;
    bad_token.insert(at + c_build.size() + 1, "\"x\":tru,");
    too_deep.insert(at + c_build.size() + 1,
                    "\"x\":" + std::string(40, '[') + std::string(40, ']') + ",");
    std::ofstream(d.file("token.bundle")) << bad_token;
    std::ofstream(d.file("deep.bundle")) << too_deep;
    for (const char *name : {"token.bundle", "deep.bundle"}) {
      auto r = lookup_bundle(d.file(name), a.kernel);
      REQUIRE_FALSE(r);
      CHECK_MESSAGE(r.error().code == ErrorCode::corrupt, name);
    }
    // The same insertion, well formed and shallow, is skipped with c.
    std::string fine = text;
    fine.insert(at + c_build.size() + 1, "\"x\":[[1]],");
    std::ofstream(d.file("fine.bundle")) << fine;
    auto ok = lookup_bundle(d.file("fine.bundle"), a.kernel);
    REQUIRE_MESSAGE(ok, ok.error().message);
    CHECK(to_json(ok.value()) == to_json(a));
    std::ofstream(d.file("blank.bundle")) << " \n";
    CHECK(lookup_bundle(d.file("blank.bundle"), a.kernel).error().code == ErrorCode::truncated);
  }
  // A v2 bundle merges with an entry like a v1 one.
  std::vector<std::string> notes;
  auto again = bundle_merge({d.file("fleet.bundle"), store.path_for(a.kernel.build_id)}, notes);
  REQUIRE_MESSAGE(again, again.error().message);
  CHECK(again.value()["entries"].size() == 3);
}

TEST_CASE("bundle v2: a malformed bundle is refused, never half read") {
  TempDir d;
  CacheStore store(d.path());
  auto a = sample_entry(sample_kernel("aaaaaaaaaaaaaaaa"));
  REQUIRE(store.save(a));
  std::vector<std::string> notes;
  auto v1 = bundle_merge({store.path_for(a.kernel.build_id)}, notes);
  REQUIRE(v1);
  json v2 = bundle_compact(v1.value());
  auto refused = [&](json doc, const char *why) {
    auto r = bundle_entries(doc, "x");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::schema_invalid);
    CHECK_MESSAGE(has(r.error().message, why), r.error().message);
  };
  json no_layout = v2;
  no_layout["layouts"] = json::object();
  refused(no_layout, "is missing");
  json no_builds = v2;
  no_builds.erase("builds");
  refused(no_builds, "\"builds\"");
  json bad_field = v2;
  bad_field["layouts"].begin().value()["fields"].push_back(7);
  refused(bad_field, "not an object");
  // A layout whose offsets were altered still parses: the read-back on the
  // host is what refuses it (tests/calibrate_options.sh).
  json moved = v2;
  moved["layouts"].begin().value()["fields"][0]["offset"] = 9999;
  auto m = bundle_entries(moved, "x");
  REQUIRE(m);
  CHECK(m.value()["aaaaaaaaaaaaaaaa"]["calibration"]["fields"][0]["offset"] == 9999);
}

// scan_json, the syntax check behind lookup_bundle, against nlohmann's own
// verdict on the same text: every case and every mutation must agree, or
// the lookup would take a text the parser refuses (or refuse one it takes).
TEST_CASE("scan_json accepts exactly what nlohmann accepts") {
  size_t accepted = 0, refused = 0;
  auto agree = [&](const std::string &text) {
    JsonSyntax s = scan_json(text, 1000);
    bool want = json::accept(text);
    (want ? accepted : refused)++;
    CHECK_MESSAGE(s.ok == want,
                  "text: " << json(text).dump(-1, ' ', true, json::error_handler_t::replace));
    if (!s.ok)
      CHECK(s.error_byte >= 1);
  };
  for (const char *t : {"{}",
                        "[]",
                        "0",
                        "-0",
                        "-0.5e+3",
                        "1E9",
                        "01",
                        "1.",
                        ".5",
                        "-",
                        "1e",
                        "1e+",
                        "+1",
                        "tru",
                        "true",
                        "nul",
                        "null x",
                        "[1,]",
                        "[,1]",
                        "{\"a\":1,}",
                        "{\"a\" 1}",
                        "{1:2}",
                        "\"\\u12\"",
                        "\"\\ud800\"",
                        "\"\\ud800\\udc00\"",
                        "\"\\udc00\"",
                        "\"\\ud800\\u0041\"",
                        "\"\\x\"",
                        "\"a\tb\"",
                        "\"\xc3\xa9\"",
                        "\"\xc0\xaf\"",
                        "\"\xe0\x9f\x80\"",
                        "\"\xed\xa0\x80\"",
                        "\"\xf4\x90\x80\x80\"",
                        "\"\xf0\x9f\x98\x80\"",
                        "\"\xff\"",
                        "\xef\xbb\xbf{}",
                        "\xef\xbb{}",
                        "\xef{}",
                        " \r\n\t[ ] ",
                        "[]]",
                        "{\"a\":{\"b\":[true,false,null]}}",
                        "\"\\/\\b\\f\\n\\r\\t\""})
    agree(t);
  // Mutations of a real bundle's text: bytes replaced, dropped and inserted.
  TempDir d;
  CacheStore store(d.path());
  auto a = sample_entry(sample_kernel("aaaaaaaaaaaaaaaa"));
  auto b = sample_entry(sample_kernel("bbbbbbbbbbbbbbbb"));
  json v1 = json::object();
  v1["entries"] = {{"aaaaaaaaaaaaaaaa", to_json(a)}, {"bbbbbbbbbbbbbbbb", to_json(b)}};
  const std::string base = bundle_compact(v1).dump(1);
  REQUIRE(scan_json(base, 1000).ok);
  const std::string alphabet =
      std::string("{}[],:\"\\ u0123456789eE+-.tfnl\t\n") + "\x80\xc3\xe0\xed\xf4\xff";
  std::mt19937 rng(20261203);
  for (int i = 0; i < 3000; i++) {
    std::string t = base;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; k++) {
      size_t at = rng() % t.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
      case 0:
        t[at] = c;
        break;
      case 1:
        t.erase(at, 1);
        break;
      default:
        t.insert(at, 1, c);
      }
    }
    agree(t);
  }
  // Both verdicts were exercised (a mutation of whitespace or of a string's
  // letters keeps the text valid).
  CHECK(accepted > 100);
  CHECK(refused > 1000);
  // Every proper prefix ends early: the error is at the end (truncated).
  for (size_t n = 0; n < base.size(); n += 7) {
    JsonSyntax s = scan_json(std::string_view(base).substr(0, n), 1000);
    CHECK_FALSE(s.ok);
    CHECK(s.error_byte >= n);
  }
}

TEST_CASE("scan_json: the spans of the members it notes, and the nesting limit") {
  std::string text = " {\"schema\":\"s\",\"builds\":{\"x\":{\"layout\":\"L\"},\"y\":[1, 2]},"
                     "\"layouts\":{\"L\":{\"fields\":[]}},\"builds\":{\"z\":{}}, \"n\" : 5 } ";
  JsonSyntax s = scan_json(text, 32, {"builds"});
  REQUIRE(s.ok);
  CHECK(s.top_is_object);
  REQUIRE(s.members.size() == 5);
  CHECK(s.members[0].key == "schema");
  CHECK(s.members[0].value == "\"s\"");
  CHECK(s.members[1].key == "builds");
  REQUIRE(s.members[1].members.size() == 2);
  CHECK(s.members[1].members[0].key == "x");
  CHECK(s.members[1].members[0].value == "{\"layout\":\"L\"}");
  CHECK(s.members[1].members[1].value == "[1, 2]");
  CHECK(s.members[2].members.empty()); // "layouts" was not asked for
  CHECK(s.members[3].members.size() == 1);
  CHECK(s.members[4].value == "5");
  // The limit counts objects and arrays: 3 levels pass a limit of 3, 4 do not.
  CHECK(scan_json("[[{}]]", 3).ok);
  JsonSyntax deep = scan_json("[[{\"a\":[]}]]", 3);
  CHECK_FALSE(deep.ok);
  CHECK(deep.too_deep);
  CHECK_FALSE(scan_json("[[{\"a\":[}]]", 30).too_deep);
}

} // namespace offsetprobe::test
