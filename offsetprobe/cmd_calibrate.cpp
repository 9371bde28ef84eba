// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe calibrate`: run the experiments, print a table or JSON.
#include "calibration/calibrator.h"
#include "calibration/result_json.h"
#include "calibration/trial_json.h"
#include "offsetprobe/cli.h"
#include "offsetprobe/exit_codes.h"
#include "offsetprobe/table.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <signal.h>

namespace offsetprobe {

namespace {

std::atomic<int> g_stop{0};

void on_signal(int sig) {
  g_stop.store(sig);
}

// SIGINT/SIGTERM stop the calibration at the next check: subjects are killed,
// BPF objects released by their destructors, nothing is written.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: a blocking poll() returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

struct CalibrateArgs {
  bool json = false;
  uint32_t trials = 3;
  std::string trigger = "auto";
  uint32_t timeout_ms = 10'000;
  std::string dump_snapshots;
  bool no_validate = false;
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
  std::printf("%u trials, trigger %s, scanned %u bytes%s, %.2f ms\n", r.trials, r.trigger.c_str(),
              r.scan_bytes,
              r.task_struct_size
                  ? (" (task_struct is " + std::to_string(*r.task_struct_size) + " bytes)").c_str()
                  : "",
              r.elapsed_ms);
}

} // namespace

Calibration run_calibration(const GlobalOptions &g, uint32_t trials, const std::string &trigger,
                            uint32_t timeout_ms, bool validate, bool chains) {
  CalibrateOptions opt;
  opt.chains = chains;
  opt.trials = trials;
  auto mode = trigger_mode_from_string(trigger);
  if (!mode)
    throw Fatal(exit_usage, "--trigger must be auto, tracepoint, raw_tracepoint or uprobe");
  opt.trigger = *mode;
  opt.subject_timeout_ms = timeout_ms;
  opt.validate = validate;
  opt.stop_signal = &g_stop;
  install_stop_handlers();
  log_debug(g, "calibrating with " + std::to_string(trials) + " trials");
  return calibrate(opt);
}

void register_calibrate(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<CalibrateArgs>();
  auto *cmd = app.add_subcommand(
      "calibrate", "Find the task_struct field offsets of the running kernel by experiment");
  cmd->add_flag("--json", args->json, "Print the result as JSON on stdout");
  // Six subjects per trial plus the validation's share the scanner's 64 slots.
  cmd->add_option("--trials", args->trials, "Independent trials (3 to 9)")->check(CLI::Range(3, 9));
  cmd->add_option("--fields", args->fields,
                  "task: task_struct's own fields only; all: also the pointer chains (cred, "
                  "nsproxy and namespaces, mm, loginuid/sessionid)")
      ->check(CLI::IsMember({"task", "all"}));
  cmd->add_option("--trigger", args->trigger,
                  "Where subjects are caught: auto, tracepoint, raw_tracepoint, uprobe")
      ->check(CLI::IsMember({"auto", "tracepoint", "raw_tracepoint", "uprobe"}));
  cmd->add_option("--timeout", args->timeout_ms, "Milliseconds a subject may take to answer")
      ->check(CLI::Range(100, 600'000));
  cmd->add_option("--dump-snapshots", args->dump_snapshots,
                  "Write the raw trials (snapshots and known values) as JSON to FILE");
  cmd->add_flag("--no-validate", args->no_validate,
                "Skip the read-back (results are then never complete)");
  cmd->callback([args, &g, &run] {
    run = [args, &g] {
      Calibration cal = run_calibration(g, args->trials, args->trigger, args->timeout_ms,
                                        !args->no_validate, args->fields == "all");
      if (!args->dump_snapshots.empty()) {
        TrialDump d;
        d.trials = cal.trials;
        d.options.boot_offset_ns = cal.boot_offset_ns;
        d.options.struct_size = cal.result.task_struct_size;
        long hz = sysconf(_SC_CLK_TCK);
        d.options.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
        std::ofstream f(args->dump_snapshots);
        f << to_json(d).dump() << '\n';
        if (!f)
          throw Fatal(exit_failure, "cannot write " + args->dump_snapshots);
      }
      if (args->json)
        std::cout << to_json(cal.result).dump(2) << std::endl;
      else
        print_table(cal.result);
      return exit_code_for(cal.result);
    };
  });
}

} // namespace offsetprobe
