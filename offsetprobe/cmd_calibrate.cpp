// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe calibrate`: run the experiments, print a table or JSON.
#include "calibration/calibrator.h"
#include "calibration/result_json.h"
#include "calibration/subject_group.h"
#include "calibration/trial_json.h"
#include "offsetprobe/bcc_bridge.h"
#include "offsetprobe/cli.h"
#include "offsetprobe/exit_codes.h"
#include "offsetprobe/table.h"
#include "offsetprobe/calibrate_cached.h"
#include "offsetprobe/cache_common.h"
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

std::atomic<int> g_stop{0};

void on_signal(int sig) {
  g_stop.store(sig);
  // The subjects die now, not at the calibrator's next check (which a BCC
  // compile, say, can put seconds away); the calibrator then reports the
  // stop and reaps them.
  kill_subjects_from_signal_handler();
}

struct CalibrateArgs {
  bool json = false;
  uint32_t trials = 3;
  std::string trigger = "auto";
  uint32_t timeout_ms = 10'000;
  std::string dump_snapshots;
  bool no_validate = false;
  bool force = false;
  bool no_cache = false;
  std::string bundle;
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

const std::atomic<int> *install_stop_handlers() {
  // SIGINT/SIGTERM/SIGHUP stop the calibration: subjects are killed at once
  // (their process group), BPF objects released by their destructors at the
  // next check, nothing is written.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: a blocking poll() returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  // A subject host that died makes our next write to its stdin fail: that
  // must be an EPIPE we report (exit 9), not a SIGPIPE that kills us without
  // a word. The subject host restores the default for itself.
  signal(SIGPIPE, SIG_IGN);
  return &g_stop;
}

namespace {

bool usable(const CacheEntry &e) {
  return e.calibration.complete();
}

// An entry answers a request only if it holds the fields asked for: one made
// with --fields task has no pointer chains, so it is no hit for --fields all
// (a calibration lists every field it was asked for, whatever its status on
// that kernel).
bool covers(const CacheEntry &e, const CalibrateRequest &req) {
  for (const auto &name : req.fields.names())
    if (!e.calibration.find(name))
      return false;
  return true;
}

// Test only (docs/reliability.md): with OFFSETPROBE_TEST_STAGE_HOOK=<stage>
// the calibrator prints "offsetprobe: test stage hook: <stage> calibrator=<pid>
// pids=<host>,<leader>..." on stderr when it reaches <stage> and stops itself
// with SIGSTOP, so that a test can kill a subject or signal the calibrator at
// exactly that point and then SIGCONT it. Unset, nothing changes.
void install_test_stage_hook(CalibrateOptions &opt) {
  const char *want = std::getenv("OFFSETPROBE_TEST_STAGE_HOOK");
  if (!want || !*want)
    return;
  opt.on_stage = [stage = std::string(want)](const std::string &at, const std::vector<int> &pids) {
    if (at != stage)
      return;
    std::string line = "offsetprobe: test stage hook: " + at +
                       " calibrator=" + std::to_string(getpid()) + " pids=";
    for (size_t i = 0; i < pids.size(); i++)
      line += (i ? "," : "") + std::to_string(pids[i]);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    raise(SIGSTOP);
  };
}

CalibrateOptions engine_options(const CalibrateRequest &req) {
  CalibrateOptions opt;
  opt.trials = req.trials;
  opt.trigger = req.trigger;
  opt.subject_timeout_ms = req.timeout_ms;
  opt.validate = req.validate;
  opt.backend = req.backend;
  opt.fields = req.fields;
  opt.stop_signal = install_stop_handlers();
  install_test_stage_hook(opt);
  return opt;
}

// The bundle's offsets for this kernel, read back here; nullopt when the
// bundle has no entry for this build or the read-back fails. Fields asked for
// that the bundle's entry does not hold (fields added to offsetprobe after
// the bundle was made) are calibrated here, only they and what they stand
// on, and joined to it: `partial` says so. A field both hold must agree, or
// nothing of the bundle is used.
std::optional<CacheEntry> from_bundle(const GlobalOptions &g, const CalibrateRequest &req,
                                      const KernelId &kernel, bool &partial) {
  auto e = lookup_bundle(req.bundle, kernel);
  if (!e) {
    if (req.bundle_required && e.error().code != CacheErrorCode::not_found)
      throw_cache_error(e.error());
    log_debug(g, "bundle " + req.bundle + ": " + e.error().message);
    return std::nullopt;
  }
  CacheEntry entry = std::move(e.value());
  std::string missing;
  for (const auto &name : req.fields.names())
    if (!entry.calibration.find(name))
      missing += (missing.empty() ? "" : ",") + name;
  auto t0 = std::chrono::steady_clock::now();
  entry.calibration.fields = validate_offsets(engine_options(req), entry.calibration.fields);
  if (!usable(entry)) {
    log_warn("the offsets in bundle " + req.bundle +
             " for this kernel failed the read-back here; calibrating instead");
    return std::nullopt;
  }
  partial = !missing.empty();
  if (partial) {
    std::string why;
    auto rest = FieldSelection::parse(missing, why);
    if (!rest)
      return std::nullopt;
    log_info(g, "bundle " + req.bundle + " has no offsets for " + missing +
                    ": calibrating those here");
    CalibrateRequest part = req;
    part.fields = *rest;
    Calibration raw = calibrate(engine_options(part));
    for (const auto &f : raw.result.fields) {
      const FieldResult *b = entry.calibration.find(f.name);
      if (b && b->status == FieldStatus::calibrated && f.status == FieldStatus::calibrated &&
          b->offset != f.offset) {
        log_warn("bundle " + req.bundle + " says " + f.name + " is at " +
                 std::to_string(*b->offset) + ", this calibration found " +
                 std::to_string(*f.offset) + "; calibrating everything instead");
        return std::nullopt;
      }
    }
    // The bundle's fields in its order, then the ones calibrated here.
    for (const auto &f : raw.result.fields)
      if (!entry.calibration.find(f.name))
        entry.calibration.fields.push_back(f);
  }
  entry.calibration.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!usable(entry) || !covers(entry, req)) {
    log_warn("the offsets in bundle " + req.bundle +
             " for this kernel failed the read-back here; calibrating instead");
    return std::nullopt;
  }
  entry.calibrated_at.clear(); // save() stamps the time it was proven here
  entry.tool_version = OFFSETPROBE_VERSION;
  log_info(g, "offsets from bundle " + req.bundle + " validated on this kernel");
  return entry;
}

} // namespace

CalibrateOutcome calibrate_cached(const GlobalOptions &g, const CalibrateRequest &request) {
  // A backend without a chain scanner (none today: libbpf and BCC both have
  // one) would calibrate task_struct's own fields only, and a cache entry of
  // those would answer it.
  CalibrateRequest req = request;
  if (req.backend && !req.backend->make_chain_scanner)
    req.fields = FieldSelection::base();
  CalibrateOutcome out;
  KernelId kernel = running_kernel();
  std::optional<CacheStore> store;
  std::optional<CacheLock> lock;
  if (req.use_cache) {
    store.emplace(open_store(g));
    auto hit = [&]() -> bool {
      auto e = store->load(kernel);
      if (e && usable(e.value()) && covers(e.value(), req)) {
        out.entry = std::move(e.value());
        out.source = "cache";
        out.path = store->path_for(kernel.build_id);
        return true;
      }
      if (!e && e.error().code != CacheErrorCode::not_found)
        log_warn("ignoring the cache entry: " + e.error().message);
      return false;
    };
    if (!req.force && hit())
      return out;
    // Serialize with concurrent calibrations; the later one finds the fresh
    // entry instead of calibrating again.
    auto l = store->lock();
    if (!l)
      throw_cache_error(l.error());
    lock.emplace(std::move(l.value()));
    if (!req.force && hit())
      return out;
  }

  std::optional<CacheEntry> entry;
  bool partial = false;
  if (!req.bundle.empty())
    entry = from_bundle(g, req, kernel, partial);
  if (entry) {
    out.entry = std::move(*entry);
    out.source = partial ? "bundle+calibrated" : "bundle";
  } else {
    log_debug(g, "calibrating with " + std::to_string(req.trials) + " trials");
    out.raw = calibrate(engine_options(req));
    out.entry.kernel = kernel;
    out.entry.calibration = out.raw->result;
    out.source = "calibrated";
  }
  if (store && usable(out.entry)) {
    auto saved = store->save(out.entry);
    if (!saved)
      throw_cache_error(saved.error());
    out.path = saved.value();
  }
  return out;
}

void register_calibrate(CLI::App &app, GlobalOptions &g, CommandFn &run) {
  auto args = std::make_shared<CalibrateArgs>();
  auto *cmd = app.add_subcommand(
      "calibrate", "Find the task_struct field offsets of the running kernel by experiment");
  cmd->add_flag("--json", args->json, "Print the result as JSON on stdout");
  // Six subjects per trial plus the validation's share the scanner's 64 slots.
  cmd->add_option("--trials", args->trials, "Independent trials (3 to 9)")->check(CLI::Range(3, 9));
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
  cmd->add_option("--timeout", args->timeout_ms, "Milliseconds a subject may take to answer")
      ->check(CLI::Range(100, 600'000));
  cmd->add_option("--dump-snapshots", args->dump_snapshots,
                  "Write the raw trials (snapshots and known values) as JSON to FILE");
  cmd->add_flag("--no-validate", args->no_validate,
                "Skip the read-back (results are then never complete, never cached)");
  cmd->add_flag("--force", args->force, "Calibrate even when the cache holds a valid entry");
  cmd->add_flag("--no-cache", args->no_cache, "Neither read nor write the cache");
  auto *bundle_opt =
      cmd->add_option("--bundle", args->bundle,
                      std::string("Take this kernel's offsets from a fleet bundle when they pass "
                                  "the read-back here (default: the shipped fleet archive ") +
                          kDefaultBundlePath + ", when it exists and without --force)")
          ->check(CLI::ExistingFile);
  cmd->add_flag("--no-bundle", args->no_bundle,
                "Do not look in the shipped fleet bundle: calibrate unless the cache answers")
      ->excludes(bundle_opt);
  cmd->add_option("--backend", args->backend,
                  "How programs are loaded: libbpf (prebuilt, the default) or bcc (compiled at run "
                  "time by libbcc in offsetprobe-bcc; needs kernel headers). A valid cache entry "
                  "is used whatever the backend: --force to run the experiment")
      ->check(CLI::IsMember({"libbpf", "bcc"}));
  cmd->add_option("--kernel-headers", args->kernel_headers,
                  "Kernel header tree for --backend bcc (default: /lib/modules/$(uname -r)/build, "
                  "else the newest /usr/src/linux-headers-*)");
  cmd->callback([args, &g, &run] {
    // The command body, with the backend to calibrate with (nullptr: libbpf).
    auto body = [args, &g](const Backend *backend) {
      CalibrateRequest req;
      req.backend = backend;
      req.force = args->force;
      req.use_cache = !args->no_cache && !args->no_validate;
      req.trials = args->trials;
      req.trigger = *trigger_mode_from_string(args->trigger);
      req.timeout_ms = args->timeout_ms;
      req.validate = !args->no_validate;
      std::string why;
      req.fields = *FieldSelection::parse(args->fields, why); // checked by the option
      if (!args->bundle.empty()) {
        req.bundle = args->bundle;
        req.bundle_required = true;
      } else if (!args->no_bundle && !args->force && access(kDefaultBundlePath, F_OK) == 0) {
        // --force asks for an experiment: the shipped archive is not one.
        req.bundle = kDefaultBundlePath;
      }
      // Snapshots exist only for a real calibration.
      if (!args->dump_snapshots.empty())
        req.force = true, req.bundle.clear();
      CalibrateOutcome out = calibrate_cached(g, req);
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
          throw Fatal(exit_failure, "cannot write " + args->dump_snapshots);
      }
      if (args->json) {
        // The calibration object, plus where it came from and which kernel
        // it belongs to (verify reads it as it is).
        auto j = to_json(r);
        j["source"] = out.source;
        j["cache_path"] = out.path ? nlohmann::json(*out.path) : nlohmann::json(nullptr);
        j["kernel"] = to_json(out.entry).at("kernel");
        std::cout << j.dump(2) << std::endl;
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
        else if (req.use_cache)
          std::printf("not cached: only a complete, validated calibration is stored\n");
      }
      print_maps_for_test();
      return exit_code_for(r);
    };
    run = [args, &g, body] {
      if (args->backend == "bcc")
        return with_bcc_backend(g, args->kernel_headers,
                                [&](const BccContext &ctx) { return body(ctx.backend); });
      if (!args->kernel_headers.empty())
        log_warn("--kernel-headers is used by --backend bcc only; ignored");
      return body(nullptr);
    };
  });
}

} // namespace offsetprobe
