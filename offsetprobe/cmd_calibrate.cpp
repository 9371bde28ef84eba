// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe calibrate`: run the experiments, print a table or JSON.
#include "calibration/calibrator.h"
#include "calibration/result_json.h"
#include "calibration/trial_json.h"
#include "offsetprobe/bcc_bridge.h"
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
  std::string backend = "libbpf";
  std::string kernel_headers;
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

// Test hook (OFFSETPROBE_TEST_PRINT_MAPS=1): prints, on stderr, how many
// mappings this process has and every one that maps libbcc, LLVM or
// libclang, so a test
// can check that the default backend never loads them (and, as its positive
// control, that the BCC backend does).
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

Calibration run_calibration(const GlobalOptions &g, uint32_t trials, const std::string &trigger,
                            uint32_t timeout_ms, bool validate, const Backend *backend) {
  CalibrateOptions opt;
  opt.backend = backend;
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

// Runs one calibration with `backend` (nullptr: libbpf) and prints it.
static int calibrate_and_print(const GlobalOptions &g, const CalibrateArgs &args,
                               const Backend *backend) {
  Calibration cal =
      run_calibration(g, args.trials, args.trigger, args.timeout_ms, !args.no_validate, backend);
  if (!args.dump_snapshots.empty()) {
    TrialDump d;
    d.trials = cal.trials;
    d.options.boot_offset_ns = cal.boot_offset_ns;
    d.options.struct_size = cal.result.task_struct_size;
    long hz = sysconf(_SC_CLK_TCK);
    d.options.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
    std::ofstream f(args.dump_snapshots);
    f << to_json(d).dump() << '\n';
    if (!f)
      throw Fatal(exit_failure, "cannot write " + args.dump_snapshots);
  }
  if (args.json)
    std::cout << to_json(cal.result).dump(2) << std::endl;
  else
    print_table(cal.result);
  print_maps_for_test();
  return exit_code_for(cal.result);
}

void register_calibrate(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<CalibrateArgs>();
  auto *cmd = app.add_subcommand(
      "calibrate", "Find the task_struct field offsets of the running kernel by experiment");
  cmd->add_flag("--json", args->json, "Print the result as JSON on stdout");
  cmd->add_option("--trials", args->trials, "Independent trials (at least 3)")
      ->check(CLI::Range(3, 32));
  cmd->add_option("--trigger", args->trigger,
                  "Where subjects are caught: auto, tracepoint, raw_tracepoint, uprobe")
      ->check(CLI::IsMember({"auto", "tracepoint", "raw_tracepoint", "uprobe"}));
  cmd->add_option("--timeout", args->timeout_ms, "Milliseconds a subject may take to answer")
      ->check(CLI::Range(100, 600'000));
  cmd->add_option("--dump-snapshots", args->dump_snapshots,
                  "Write the raw trials (snapshots and known values) as JSON to FILE");
  cmd->add_flag("--no-validate", args->no_validate,
                "Skip the read-back (results are then never complete)");
  cmd->add_option("--backend", args->backend,
                  "How programs are loaded: libbpf (prebuilt, the default) or bcc (compiled at run "
                  "time by libbcc in offsetprobe-bcc; needs kernel headers)")
      ->check(CLI::IsMember({"libbpf", "bcc"}));
  cmd->add_option("--kernel-headers", args->kernel_headers,
                  "Kernel header tree for --backend bcc (default: /lib/modules/$(uname -r)/build, "
                  "else the newest /usr/src/linux-headers-*)");
  cmd->callback([args, &g, &run] {
    run = [args, &g] {
      if (args->backend == "bcc")
        return with_bcc_backend(g, args->kernel_headers, [&](const BccContext &ctx) {
          return calibrate_and_print(g, *args, ctx.backend);
        });
      if (!args->kernel_headers.empty())
        log_warn("--kernel-headers is used by --backend bcc only; ignored");
      return calibrate_and_print(g, *args, nullptr);
    };
  });
}

} // namespace offsetprobe
