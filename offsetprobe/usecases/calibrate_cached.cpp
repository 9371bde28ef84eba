// SPDX-License-Identifier: GPL-2.0-only
// The calibrate use case (calibrate_cached.h): the cache, the fleet bundle,
// and the engine, in that order. The command line (cmd_calibrate.cpp) and
// the commands that need offsets (count, opens, conn) call it.
#include "offsetprobe/usecases/calibrate_cached.h"

#include "cache/bundle.h"
#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/subject_group.h"
#include "calibration/model/timing.h"
#include "offsetprobe/usecases/cache_common.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

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

// The fields that keep an entry from being usable, with why: "a (why); b
// (why)", at most four named. `failed_only`: those whose read-back failed,
// optional ones too.
std::string unusable_fields(const CacheEntry &e, bool failed_only = false) {
  std::string out;
  size_t n = 0;
  for (const auto &f : e.calibration.fields) {
    bool counts = failed_only ? f.validation == Validation::failed : blocks_complete(f);
    if (!counts)
      continue;
    if (n++ < 4) {
      std::string why = f.status == FieldStatus::calibrated && f.validation == Validation::not_run
                            ? "not read back"
                        : !f.validation_detail.empty() ? f.validation_detail
                                                       : f.reason;
      out += (out.empty() ? "" : "; ") + f.name + (why.empty() ? "" : " (" + why + ")");
    }
  }
  if (n > 4)
    out += "; and " + std::to_string(n - 4) + " more";
  return out;
}

// An entry answers a request only if it holds the fields asked for: one made
// with --fields task has no pointer chains, so it is no hit for --fields all
// (a calibration lists every field it was asked for, whatever its status on
// that kernel).
bool covers(const CacheEntry &e, const CalibrateOptions &req) {
  for (const auto &name : req.fields.names())
    if (!e.calibration.find(name))
      return false;
  return true;
}

// Test only (docs/reliability.md): with OFFSETPROBE_TEST_STAGE_HOOK=<stage>
// the calibrator prints "offsetprobe: test stage hook: <stage> calibrator=<pid>
// pids=<host>,<leader>..." on stderr the first time it reaches <stage> and
// stops itself with SIGSTOP, so that a test can kill a subject or signal the
// calibrator at exactly that point and then SIGCONT it. Only the first time:
// a run that passes a stage twice (the bundle's read-back, then a calibration
// of the fields the bundle lacks) would otherwise stop again with nobody left
// to continue it. Unset, nothing changes.
void install_test_stage_hook(CalibrateOptions &opt) {
  const char *want = std::getenv("OFFSETPROBE_TEST_STAGE_HOOK");
  if (!want || !*want)
    return;
  auto fired = std::make_shared<std::atomic<bool>>(false);
  opt.on_stage = [stage = std::string(want), fired](const std::string &at,
                                                    const std::vector<int> &pids) {
    if (at != stage || fired->exchange(true))
      return;
    std::string line = "offsetprobe: test stage hook: " + at +
                       " calibrator=" + std::to_string(getpid()) + " pids=";
    // Appended piecewise: `(i ? "," : "") + std::to_string(...)` made GCC 12
    // warn (-Wrestrict) inside libstdc++ once this file stopped including
    // CLI11 (offsetprobe/usecases/ is below the command line).
    for (size_t i = 0; i < pids.size(); i++) {
      if (i)
        line += ',';
      line += std::to_string(pids[i]);
    }
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    raise(SIGSTOP);
  };
}

// The options as calibrate() gets them: the command's, plus the stop flag and
// the test stage hook.
CalibrateOptions engine_options(const CalibrateOptions &req) {
  CalibrateOptions opt = req;
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
std::optional<CacheEntry> from_bundle(const GlobalOptions &g, const CalibrateOptions &req,
                                      const KernelId &kernel, bool &partial,
                                      std::shared_ptr<Teardown> &teardown) {
  // Every field of the entry is read back, with subjects that set every
  // family's known values: a narrower selection's subjects would not set the
  // values of the families it leaves out (--fields task once failed on the
  // bundle's sched fields and calibrated instead), and its fields' read-backs
  // rest on others' offsets (mm_struct.exe_file on task_struct.mm,
  // socket.file on file.private_data). Only the selection is kept below.
  CalibrateOptions whole = req;
  whole.fields = FieldSelection::all();
  // On the heap: the subject host keeps a reference to its options, and it
  // is finished by the Teardown after this function has returned.
  auto vopt_owner = std::make_unique<CalibrateOptions>(engine_options(whole));
  const CalibrateOptions &vopt = *vopt_owner;
  // When the bundle's text names this build, the subject host starts and
  // sets the validation subject up while the text is parsed (~3 ms here,
  // with one CPU idle otherwise). It ends with this function if the entry
  // is not used.
  std::optional<ValidationSubjects> early;
  auto e = lookup_bundle(req.bundle, kernel, [&] { early = start_validation_subjects(vopt); });
  if (!e) {
    if (req.bundle_required && e.error().code != CacheErrorCode::not_found)
      throw_cache_error(e.error());
    log_debug(g, "bundle " + req.bundle + ": " + e.error().message);
    return std::nullopt;
  }
  CacheEntry entry = std::move(e.value());
  // Missing: a field the bundle does not hold (made before it existed), or
  // one it holds as "cannot tell" (unresolved or ambiguous): the binary that
  // made the bundle could not tell it, this one may (the fleet archive of
  // 2026-12-02 left skc_net unresolved on every 6.1 and 6.12 build, fixed
  // since). It is calibrated here; not_present fields stay as they are.
  auto cannot_tell = [](const FieldResult *f) {
    return f && (f->status == FieldStatus::unresolved || f->status == FieldStatus::ambiguous);
  };
  std::string missing;
  for (const auto &name : req.fields.names())
    if (const FieldResult *b = entry.calibration.find(name); !b || cannot_tell(b))
      missing += (missing.empty() ? "" : ",") + name;
  auto t0 = std::chrono::steady_clock::now();
  Deferred later;
  later.keep(std::move(vopt_owner)); // freed last, after the host's finish
  entry.calibration.fields =
      validate_offsets(vopt, entry.calibration.fields, early ? &*early : nullptr, &later);
  // The read-back's subjects and programs end beside what follows (the
  // checks, the save); when the entry is not used, before the calibration
  // starts (this function's end, their errors dropped: the calibration
  // starts its own subjects).
  auto ending = std::make_shared<Teardown>(std::move(later));
  // Any field of the bundle that failed its read-back, optional ones too (a
  // calibration that leaves an optional field unresolved is still usable,
  // but an offset the bundle got wrong for this build says the entry is not
  // this kernel's): the whole experiment runs instead.
  if (std::string failed = unusable_fields(entry, /*failed_only=*/true);
      !usable(entry) || !failed.empty()) {
    log_warn("the offsets in bundle " + req.bundle +
             " for this kernel failed the read-back here (" +
             (failed.empty() ? unusable_fields(entry) : failed) + "); calibrating instead");
    return std::nullopt;
  }
  // The selection's fields, as a cold calibration of it reports them.
  std::erase_if(entry.calibration.fields,
                [&req](const FieldResult &f) { return !req.fields.has(f.name); });
  partial = !missing.empty();
  if (partial) {
    std::string why;
    auto rest = FieldSelection::parse(missing, why);
    if (!rest)
      return std::nullopt;
    log_info(g, "bundle " + req.bundle + " has no offsets for " + missing +
                    ": calibrating those here");
    CalibrateOptions part = req;
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
    // The bundle's fields in its order (its "cannot tell"s replaced by what
    // was found here), then the ones calibrated here.
    for (const auto &f : raw.result.fields) {
      const FieldResult *b = entry.calibration.find(f.name);
      if (!b)
        entry.calibration.fields.push_back(f);
      else if (cannot_tell(b))
        for (auto &mine : entry.calibration.fields)
          if (mine.name == f.name)
            mine = f;
    }
  }
  entry.calibration.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!usable(entry) || !covers(entry, req)) {
    log_warn("the offsets in bundle " + req.bundle +
             " for this kernel failed the read-back here (" + unusable_fields(entry) +
             "); calibrating instead");
    return std::nullopt;
  }
  entry.calibrated_at.clear(); // save() stamps the time it was proven here
  entry.tool_version = OFFSETPROBE_VERSION;
  teardown = std::move(ending);
  log_info(g, "offsets from bundle " + req.bundle + " validated on this kernel");
  return entry;
}

} // namespace

CalibrateOutcome calibrate_cached(const GlobalOptions &g, const CalibrateOptions &request) {
  const auto t0 = std::chrono::steady_clock::now();
  auto mark = [&t0](const char *what) { timing_mark("cache", t0, what); };
  // A backend without a chain scanner (none today: libbpf and BCC both have
  // one) would calibrate task_struct's own fields only, and a cache entry of
  // those would answer it.
  CalibrateOptions req = request;
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

  mark("cache looked up");
  std::optional<CacheEntry> entry;
  bool partial = false;
  std::shared_ptr<Teardown> teardown;
  if (!req.bundle.empty())
    entry = from_bundle(g, req, kernel, partial, teardown);
  mark("bundle");
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
    mark("saved");
  }
  // The bundle's read-back has ended (its subject host's error, if any, is
  // this command's): nothing of it outlives calibrate_cached.
  if (teardown)
    teardown->wait();
  return out;
}
} // namespace offsetprobe
