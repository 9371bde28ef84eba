// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe verify`: compare a calibration with the kernel's own BTF.
#include "offsetprobe/usecases/cache_common.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/cli/exit_codes.h"
#include "calibration/oracle/btf_oracle.h"
#include "calibration/oracle/btf_verify.h"
#include "calibration/model/result_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

namespace offsetprobe {

namespace {

struct VerifyOptions {
  std::string input; // file, "-" for stdin, empty for the default (the cache)
  std::string btf;   // empty: the running kernel's
  bool json = false;
};

// The calibration to verify when no --input is given.
// HOOK for the cache: return the calibration of the running kernel's cache
// entry (throw Error(ErrorKind::not_calibrated, ...) when there is none).
// Without --input: this kernel's cache entry (exit 3 when there is none).
CalibrationResult load_default_calibration(const GlobalOptions &g) {
  return load_current_entry(g).calibration;
}

// Reads a calibration from `path` ("-" = stdin). The document is either the
// calibration object itself (`calibrate --json`) or a cache entry holding it
// under "calibration". Any problem is a usage error naming the file.
CalibrationResult load_calibration_file(const std::string &path) {
  const std::string name = path == "-" ? "<stdin>" : path;
  nlohmann::json doc;
  try {
    if (path == "-") {
      doc = nlohmann::json::parse(std::cin);
    } else {
      std::ifstream in(path);
      if (!in)
        throw Error(ErrorKind::usage,
                    "cannot read calibration " + name + ": " + std::strerror(errno));
      doc = nlohmann::json::parse(in);
    }
  } catch (const nlohmann::json::parse_error &e) {
    throw Error(ErrorKind::usage, "calibration " + name + " is not valid JSON: " + e.what());
  }
  if (!doc.is_object())
    throw Error(ErrorKind::usage, "calibration " + name + " is not a JSON object");
  const nlohmann::json *cal = &doc;
  if (auto it = doc.find("calibration"); it != doc.end()) {
    if (!it->is_object())
      throw Error(ErrorKind::usage, "calibration " + name + ": \"calibration\" is not an object");
    cal = &*it;
  }
  std::string error;
  auto r = calibration_from_json(*cal, error);
  if (!r)
    throw Error(ErrorKind::usage, "calibration " + name + " is invalid: " + error);
  return std::move(*r);
}

std::string num(const std::optional<uint32_t> &v) {
  return v ? std::to_string(*v) : "-";
}

void print_table(const VerifyReport &report) {
  size_t w = 5; // "FIELD"
  for (const auto &f : report.fields)
    w = std::max(w, f.name.size());
  const int wi = static_cast<int>(w);
  std::printf("%-*s  %10s  %10s  %s\n", wi, "FIELD", "CALIBRATED", "BTF", "VERDICT");
  size_t failed = 0;
  for (const auto &f : report.fields) {
    std::printf("%-*s  %10s  %10s  %s", wi, f.name.c_str(), num(f.offset).c_str(),
                num(f.btf_offset).c_str(), to_string(f.verdict));
    if (!f.detail.empty())
      std::printf("  (%s)", f.detail.c_str());
    std::printf("\n");
    failed += f.ok ? 0 : 1;
  }
  if (!report.btf_untrusted.empty())
    std::printf("BTF cannot be trusted on this kernel: randomized layout (%s)\n",
                report.btf_untrusted.c_str());
  if (report.fields.empty())
    std::printf("no fields to verify\n");
  else if (failed == 0)
    std::printf("%zu fields agree with BTF %s\n", report.fields.size(), report.btf.c_str());
  else
    std::printf("%zu of %zu fields FAIL against BTF %s\n", failed, report.fields.size(),
                report.btf.c_str());
}

int run_verify(const GlobalOptions &g, const VerifyOptions &o) {
  // Input first: a bad file is a usage error even where there is no BTF.
  CalibrationResult cal =
      o.input.empty() ? load_default_calibration(g) : load_calibration_file(o.input);

  BtfOracle oracle(o.btf.empty() ? std::nullopt : std::optional<std::string>(o.btf));
  if (!oracle.loaded())
    throw Error(ErrorKind::no_btf, oracle.load_error());
  log_debug(g, "verifying " + std::to_string(cal.fields.size()) + " fields against " +
                   oracle.source());

  VerifyReport report = verify_against_btf(cal, oracle);
  // A mismatch on a randomized layout is BTF's error, not the calibration's:
  // say why, and keep the exit status (the two disagree all the same).
  if (std::string why = untrusted_btf_reason(cal); !why.empty())
    explain_untrusted_btf(report, why);
  if (o.json)
    std::cout << to_json(report).dump(2) << std::endl;
  else
    print_table(report);
  if (report.fields.empty())
    log_warn("the calibration has no fields: nothing was verified");
  return report.ok() ? exit_ok : exit_mismatch;
}

} // namespace

void register_verify(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto o = std::make_shared<VerifyOptions>();
  auto *cmd = app.add_subcommand("verify", "Compare a calibration with the kernel's BTF");
  cmd->add_option("--input", o->input,
                  "Calibration JSON (calibrate --json output or a cache entry); - for stdin");
  cmd->add_option("--btf", o->btf, "BTF file (default /sys/kernel/btf/vmlinux)");
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->footer("Exit status: 0 all fields match; 6 a field differs or is missing; 12 no BTF; "
              "2 bad input.");
  cmd->callback([&run, &g, o] { run = [&g, o] { return run_verify(g, *o); }; });
}

} // namespace offsetprobe
