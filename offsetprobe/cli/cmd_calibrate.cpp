// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe calibrate`: run the experiments, print a table or JSON.
#include "calibration/experiment/calibrator.h"
#include "calibration/model/result_json.h"
#include "calibration/experiment/subject_group.h"
#include "calibration/model/trial_json.h"
#include "offsetprobe/cli/bcc_bridge.h"
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/cli/exit_codes.h"
#include "offsetprobe/cli/table.h"
#include "offsetprobe/usecases/calibrate_cached.h"
#include "offsetprobe/usecases/cache_common.h"
#include "cache/bundle.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <signal.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

// The command line as parsed. The options that bind as they are (--trials,
// --timeout, --force, --bundle) go straight into `opt`, the one options type
// passed down to calibrate_cached and calibrate(); what stays here is flag
// text still to convert into `opt` (--trigger, --fields, --no-*), the backend
// to run on, and what the command itself does with the result (--json,
// --dump-snapshots): none of it is passed down.
struct CalibrateArgs {
  CalibrateOptions opt;
  bool json = false;
  std::string trigger = "auto";
  std::string dump_snapshots;
  bool no_validate = false;
  bool no_cache = false;
  bool no_bundle = false;
  std::string backend = "libbpf";
  std::string kernel_headers;
  std::string fields = "all";
};

int exit_code_for(const CalibrationResult &r) {
  if (r.complete())
    return exit_ok;
  for (const auto &f : r.fields)
    if (f.validation == Validation::failed)
      return exit_validation;
  return exit_incomplete;
}

void print_table(const CalibrationResult &r) {
  Table t({"FIELD", "OFFSET", "SIZE", "TRIALS", "STATUS", "VALIDATION"});
  for (const auto &f : r.fields)
    t.add({f.name, f.offset ? std::to_string(*f.offset) : "-", std::to_string(f.size),
           std::to_string(f.trials), to_string(f.status), to_string(f.validation)});
  t.print(stdout);
  for (const auto &f : r.fields)
    if (f.status != FieldStatus::calibrated || f.validation == Validation::failed)
      std::printf("%s: %s\n", f.name.c_str(), f.reason.c_str());
  // A shuffled layout: no declaration-order rule placed any field.
  if (!r.layout.empty())
    std::printf("%s: declaration-order rules did not run\n", r.layout.c_str());
  std::printf("%u trials, trigger %s, scanned %u bytes%s, %.2f ms\n", r.trials, r.trigger.c_str(),
              r.scan_bytes,
              r.task_struct_size
                  ? (" (task_struct is " + std::to_string(*r.task_struct_size) + " bytes)").c_str()
                  : "",
              r.elapsed_ms);
}

// Test hook (OFFSETPROBE_TEST_PRINT_MAPS=1): prints, on stderr, how many
// mappings this process has and every one that maps libbcc, LLVM or libclang,
// so a test can check that the default backend never loads them (and, as its
// positive control, that the BCC backend does).
void print_maps_for_test() {
  const char *hook = getenv("OFFSETPROBE_TEST_PRINT_MAPS");
  if (!hook || std::string(hook) != "1")
    return;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  size_t n = 0;
  while (std::getline(maps, line)) {
    n++;
    // The file name only: the build tree's own path may contain "bcc".
    auto slash = line.rfind('/');
    std::string file = slash == std::string::npos ? "" : line.substr(slash + 1);
    if (file.find("libbcc") != std::string::npos || file.find("LLVM") != std::string::npos ||
        file.find("libclang") != std::string::npos)
      std::fprintf(stderr, "offsetprobe-maps: %s\n", line.c_str());
  }
  std::fprintf(stderr, "offsetprobe-maps: pid %d, %zu mappings\n", static_cast<int>(getpid()), n);
}

} // namespace

void register_calibrate(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<CalibrateArgs>();
  auto *cmd = app.add_subcommand(
      "calibrate", "Find the task_struct field offsets of the running kernel by experiment");
  cmd->add_flag("--json", args->json, "Print the result as JSON on stdout");
  // Six subjects per trial plus the validation's share the scanner's 64 slots.
  cmd->add_option("--trials", args->opt.trials, "Independent trials (3 to 9)")
      ->check(CLI::Range(3, 9));
  std::string families;
  for (const auto &f : catalogue())
    families += ", " + f.name;
  cmd->add_option("--fields", args->fields,
                  "Comma-separated families or fields: task: task_struct's own fields only; all: "
                  "also the pointer chains (families" +
                      families + "; or a field such as cred.uid)")
      ->check(
          [](const std::string &v) {
            std::string why;
            return FieldSelection::parse(v, why) ? std::string() : why;
          },
          "FIELDS");
  cmd->add_option("--trigger", args->trigger,
                  "Where subjects are caught: auto, tracepoint, raw_tracepoint, uprobe")
      ->check(CLI::IsMember({"auto", "tracepoint", "raw_tracepoint", "uprobe"}));
  cmd->add_option("--timeout", args->opt.subject_timeout_ms,
                  "Milliseconds a subject may take to answer")
      ->check(CLI::Range(100, 600'000));
  cmd->add_option("--dump-snapshots", args->dump_snapshots,
                  "Write the raw trials (snapshots and known values) as JSON to FILE");
  cmd->add_flag("--no-validate", args->no_validate,
                "Skip the read-back (results are then never complete, never cached)");
  cmd->add_flag("--force", args->opt.force, "Calibrate even when the cache holds a valid entry");
  cmd->add_flag("--no-cache", args->no_cache, "Neither read nor write the cache");
  auto *bundle_opt =
      cmd->add_option("--bundle", args->opt.bundle,
                      std::string("Take this kernel's offsets from a fleet bundle when they pass "
                                  "the read-back here (default: the shipped fleet archive ") +
                          kDefaultBundlePath + ", when it exists and without --force)")
          ->check(CLI::ExistingFile);
  cmd->add_flag("--no-bundle", args->no_bundle,
                "Do not look in the shipped fleet bundle: calibrate unless the cache answers")
      ->excludes(bundle_opt);
  add_backend_options(cmd, args->backend, args->kernel_headers,
                      "How programs are loaded: libbpf (prebuilt, the default) or bcc (compiled "
                      "at run time by libbcc in offsetprobe-bcc; needs kernel headers). A valid "
                      "cache entry is used whatever the backend: --force to run the experiment");
  cmd->callback([args, &g, &run] {
    // The command body, with the backend to calibrate with (nullptr: libbpf).
    auto body = [args, &g](const Backend *backend) {
      CalibrateOptions opt = args->opt;
      opt.backend = backend;
      opt.use_cache = !args->no_cache && !args->no_validate;
      opt.trigger = *trigger_mode_from_string(args->trigger);
      opt.validate = !args->no_validate;
      std::string why;
      opt.fields = *FieldSelection::parse(args->fields, why); // checked by the option
      if (!opt.bundle.empty()) {
        opt.bundle_required = true;
      } else if (!args->no_bundle && !opt.force && access(kDefaultBundlePath, F_OK) == 0) {
        // --force asks for an experiment: the shipped archive is not one.
        opt.bundle = kDefaultBundlePath;
      }
      // Snapshots exist only for a real calibration.
      if (!args->dump_snapshots.empty())
        opt.force = true, opt.bundle.clear();
      CalibrateOutcome out = calibrate_cached(g, opt);
      const CalibrationResult &r = out.entry.calibration;
      if (!args->dump_snapshots.empty() && out.raw) {
        TrialDump d;
        d.trials = out.raw->trials;
        d.options.boot_offset_ns = out.raw->boot_offset_ns;
        d.options.struct_size = r.task_struct_size;
        long hz = sysconf(_SC_CLK_TCK);
        d.options.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
        std::ofstream f(args->dump_snapshots);
        f << to_json(d).dump() << '\n';
        if (!f)
          throw Error(ErrorKind::failure, "cannot write " + args->dump_snapshots);
      }
      if (args->json) {
        // The calibration object, plus where it came from and which kernel
        // it belongs to (verify reads it as it is).
        auto j = to_json(r);
        j["source"] = out.source;
        j["cache_path"] = out.path ? nlohmann::json(*out.path) : nlohmann::json(nullptr);
        j["kernel"] = to_json(out.entry.kernel);
        std::cout << j.dump(2) << std::endl;
        // The JSON holds every reason; stderr names what kept the result
        // from being complete, so a script that only sees the exit code and
        // its log still knows which field to look at.
        // (Not the fields --no-validate left unread: that was asked for.)
        for (const auto &f : r.fields)
          if (blocks_complete(f) &&
              (f.status != FieldStatus::calibrated || f.validation == Validation::failed))
            log_warn(f.name + " is " + to_string(f.status) + ": " + f.reason +
                     (f.validation_detail.empty() ? "" : " (" + f.validation_detail + ")"));
      } else {
        print_table(r);
        if (out.source == "cache")
          std::printf("cache hit: %s (calibrated %s; --force recalibrates)\n", out.path->c_str(),
                      out.entry.calibrated_at.c_str());
        else if (out.path)
          std::printf("%s: saved %s\n",
                      out.source == "bundle"              ? "from bundle"
                      : out.source == "bundle+calibrated" ? "from bundle, the rest calibrated"
                                                          : "calibrated",
                      out.path->c_str());
        else if (opt.use_cache)
          std::printf("not cached: only a complete, validated calibration is stored\n");
      }
      print_maps_for_test();
      return exit_code_for(r);
    };
    run = [args, &g, body] {
      return run_on_backend(g, args->backend, args->kernel_headers, [&](const BccContext *bcc) {
        return body(bcc ? bcc->backend : nullptr);
      });
    };
  });
}

} // namespace offsetprobe
