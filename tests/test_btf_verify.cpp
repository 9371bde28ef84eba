// SPDX-License-Identifier: GPL-2.0-only
// The verdicts of `offsetprobe verify`, against a crafted BTF.
#include "calibration/oracle/btf_verify.h"
#include "tests/crafted_btf.h"

#include <doctest/doctest.h>

namespace offsetprobe::test {

namespace {

FieldResult field(const std::string &member, FieldStatus status, std::optional<uint32_t> offset,
                  uint32_t size) {
  FieldResult f;
  f.name = "task." + member;
  f.struct_name = "task";
  f.member = member;
  f.status = status;
  f.offset = offset;
  f.size = size;
  return f;
}

VerifyReport verify_one(const FieldResult &f) {
  BtfOracle o(make_crafted_btf(), "crafted");
  REQUIRE(o.loaded());
  CalibrationResult cal;
  cal.fields.push_back(f);
  return verify_against_btf(cal, o);
}

} // namespace

TEST_CASE("verdicts") {
  SUBCASE("match") {
    auto r = verify_one(field("tgid", FieldStatus::calibrated, 4, 4));
    REQUIRE(r.fields.size() == 1);
    CHECK(r.fields[0].verdict == Verdict::match);
    CHECK(r.fields[0].btf_offset == 4u);
    CHECK(r.fields[0].btf_size == 4u);
    CHECK(r.ok());
    CHECK(r.btf == "crafted");
  }
  SUBCASE("match through an alias") {
    auto f = field("start_boottime", FieldStatus::calibrated, 8, 8);
    f.aliases = {"real_start_time"};
    auto r = verify_one(f);
    CHECK(r.fields[0].verdict == Verdict::match);
    CHECK(r.fields[0].detail.find("real_start_time") != std::string::npos);
    CHECK(r.ok());
  }
  SUBCASE("offset mismatch names both numbers") {
    auto r = verify_one(field("tgid", FieldStatus::calibrated, 0, 4));
    CHECK(r.fields[0].verdict == Verdict::mismatch);
    CHECK(r.fields[0].detail == "offset 0 != BTF 4");
    CHECK_FALSE(r.ok());
  }
  SUBCASE("size mismatch") {
    auto r = verify_one(field("comm", FieldStatus::calibrated, 16, 8));
    CHECK(r.fields[0].verdict == Verdict::mismatch);
    CHECK(r.fields[0].detail == "size 8 != BTF 16");
    CHECK_FALSE(r.ok());
  }
  SUBCASE("calibrated but not in BTF") {
    auto r = verify_one(field("exit_code", FieldStatus::calibrated, 12, 4));
    CHECK(r.fields[0].verdict == Verdict::not_in_btf);
    CHECK_FALSE(r.fields[0].btf_offset);
    CHECK_FALSE(r.ok());
  }
  SUBCASE("ambiguous is a failure; the report says if the truth was a candidate") {
    auto f = field("tgid", FieldStatus::ambiguous, std::nullopt, 4);
    f.candidates = {4, 12};
    auto r = verify_one(f);
    CHECK(r.fields[0].verdict == Verdict::not_calibrated);
    CHECK(r.fields[0].btf_offset == 4u);
    CHECK(r.fields[0].detail.find("among the candidates") != std::string::npos);
    CHECK(r.fields[0].detail.find("NOT") == std::string::npos);
    CHECK_FALSE(r.ok());
  }
  SUBCASE("unresolved is a failure") {
    auto r = verify_one(field("pid", FieldStatus::unresolved, std::nullopt, 4));
    CHECK(r.fields[0].verdict == Verdict::not_calibrated);
    CHECK_FALSE(r.ok());
  }
  SUBCASE("not present and not in BTF agree") {
    auto r = verify_one(field("audit_context", FieldStatus::not_present, std::nullopt, 8));
    CHECK(r.fields[0].verdict == Verdict::not_in_btf);
    CHECK(r.ok());
  }
  SUBCASE("not present although BTF has it") {
    auto r = verify_one(field("pid", FieldStatus::not_present, std::nullopt, 4));
    CHECK(r.fields[0].verdict == Verdict::not_calibrated);
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("an empty calibration verifies nothing and is not ok") {
  BtfOracle o(make_crafted_btf(), "crafted");
  CHECK_FALSE(verify_against_btf(CalibrationResult{}, o).ok());
}

TEST_CASE("JSON report") {
  BtfOracle o(make_crafted_btf(), "crafted");
  CalibrationResult cal;
  cal.fields.push_back(field("pid", FieldStatus::calibrated, 0, 4));
  cal.fields.push_back(field("tgid", FieldStatus::unresolved, std::nullopt, 4));
  auto j = to_json(verify_against_btf(cal, o));
  CHECK(j["btf"] == "crafted");
  CHECK(j["ok"] == false);
  REQUIRE(j["fields"].size() == 2);
  const auto &a = j["fields"][0];
  CHECK(a["name"] == "task.pid");
  CHECK(a["offset"] == 0);
  CHECK(a["btf_offset"] == 0);
  CHECK(a["size"] == 4);
  CHECK(a["btf_size"] == 4);
  CHECK(a["verdict"] == "match");
  const auto &b = j["fields"][1];
  CHECK(b["offset"].is_null());
  CHECK(b["btf_offset"] == 4);
  CHECK(b["verdict"] == "not_calibrated");
}

} // namespace offsetprobe::test

namespace offsetprobe::test {

TEST_CASE("verify explains a mismatch on a randomized layout") {
  auto f = [](const std::string &name, uint32_t off) {
    FieldResult x;
    x.name = "task_struct." + name;
    x.struct_name = "task_struct";
    x.member = name;
    x.status = FieldStatus::calibrated;
    x.offset = off;
    x.size = 4;
    return x;
  };
  SUBCASE("the calibration saw tgid before pid: untrusted, and every mismatch says why") {
    CalibrationResult cal;
    cal.fields = {f("pid", 1864), f("tgid", 1112)};
    // The config of the machine running the test may say nothing, or
    // randstruct: either way a reason comes out, and it names its source.
    std::string why = untrusted_btf_reason(cal);
    CHECK_FALSE(why.empty());
    BtfOracle o(make_crafted_btf(), "crafted");
    REQUIRE(o.loaded());
    CalibrationResult crafted;
    crafted.fields = {field("tgid", FieldStatus::calibrated, 0, 4)};
    auto r = verify_against_btf(crafted, o);
    explain_untrusted_btf(r, why);
    CHECK(r.btf_untrusted == why);
    CHECK(r.fields[0].detail.find("offset 0 != BTF 4") != std::string::npos);
    CHECK(r.fields[0].detail.find("BTF cannot be trusted here: randomized layout") !=
          std::string::npos);
    CHECK(to_json(r).at("btf_untrusted") == why);
  }
  SUBCASE("a calibration that recorded its layout verdict") {
    CalibrationResult cal;
    cal.layout = "randomized layout detected (x)";
    CHECK_FALSE(untrusted_btf_reason(cal).empty());
  }
}

} // namespace offsetprobe::test
