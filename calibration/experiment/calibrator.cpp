// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/calibrator.h"
#include "calibration/model/timing.h"

#include "calibration/model/catalogue.h"
#include "calibration/solve/chains.h"
#include "calibration/families/families.h"
#include "calibration/model/error.h"
#include "calibration/solve/readback_check.h"
#include "calibration/solve/layout_order.h"
#include "calibration/solve/net/sock_solver.h"
#include "calibration/solve/solver.h"
#include "calibration/experiment/subject.h"
#include "calibration/experiment/subject_group.h"
#include "calibration/experiment/subject_host.h"

#include "chainscan.h"
#include "reader.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <semaphore>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

// OFFSETPROBE_TIMING=1: where the milliseconds go, on stderr, counted from
// the start of calibrate().
Clock::time_point g_t0 = Clock::now();
void mark(const char *what) {
  timing_mark("", g_t0, what);
}

// Validation: read a fresh subject's fields back through the offsets, with
// the catalogue's read-back plan, and let each family check what was read.
class Validator {
public:
  Validator(std::vector<FieldResult> &fields) : fields_(fields), rp_(readback_plan(fields)) {}

  // Loads the reader program for the fields' read-back plan. `mode` is the
  // trigger the scanner attached (automatic outside a calibration), so that
  // the reader need not load a fallback. Touches nothing but the plan: it may
  // run in another thread while the subjects start.
  std::unique_ptr<Reader> load(const CalibrateOptions &opt, const Environment &env,
                               TriggerMode mode) const {
    auto reader = env.backend(opt).make_reader(mode, rp_.plan);
    mark("reader loaded");
    return reader;
  }

  // `s` is a fresh subject spawned for validation, still waiting for "go".
  void run(const CalibrateOptions &opt, Reader &reader, Subjects &host, Launched &s,
           const TimeNsOffsets &ns, int64_t tick_offset_ns, uint64_t tick_ns) {
    const bool chains = opt.fields.beyond_task();
    const ReadbackPlan &rp = rp_;
    std::vector<std::pair<Role, uint32_t>> slots;
    host.run("validate", {&s}, [&](const Cookies &c) {
      slots = {{Role::leader, reader.add_cookie(c.leader)},
               {Role::thread, reader.add_cookie(c.thread)},
               {Role::grandchild, reader.add_cookie(c.grandchild)},
               {Role::exiter, reader.add_cookie(c.exiter)}};
      if (chains) {
        slots.push_back({Role::creds, reader.add_cookie(c.creds)});
        slots.push_back({Role::unshared, reader.add_cookie(c.unshared)});
      }
    });
    Trial t = host.trial(s, ns);
    std::map<Role, ReadValues> seen;
    for (auto [role, slot] : slots)
      seen[role] = reader.readback(slot);
    // All but E are read at their trigger; a read at exit means one died
    // while it was being read (like check_capture for the trials).
    for (const auto &[role, rb] : seen)
      if (role != Role::exiter && rb.captured && rb.site == OP_SITE_EXIT)
        throw Error(ErrorKind::subject, "validation subject " + std::to_string(rb.tid) +
                                            " exited while its fields were read back");
    host.release({&s});
    ReadbackCheck check(fields_, rp, t, std::move(seen), tick_offset_ns, tick_ns);
    // The other families first, task_struct's own last, as they always ran:
    // a check that fails makes its field unresolved, and later checks ask
    // which offsets are still calibrated.
    const auto &families = catalogue();
    if (chains)
      for (size_t i = 1; i < families.size(); i++)
        families[i].verify(check);
    families.front().verify(check);
  }

private:
  std::vector<FieldResult> &fields_;
  ReadbackPlan rp_;
};

// The solver's options for this calibration.
SolveOptions solve_options(const CalibrateOptions &opt, const Environment &env,
                           std::optional<uint32_t> slab, const TimeNsOffsets &ns) {
  SolveOptions so;
  so.min_trials = std::min<uint32_t>(3, opt.trials);
  so.struct_size = slab;
  so.boot_offset_ns = ns.boottime_ns;
  so.tick_ns = env.tick_ns();
  // A config that says randstruct settles the layout before any field does.
  if (auto l = env.config_layout())
    so.layout = *l;
  return so;
}

// Stage 1: runs the trial subjects with the scanner attached and returns
// their snapshots with what is known of them. Throws Error(ErrorKind::subject)
// when a subject dies or a slot was captured twice.
std::vector<Trial> capture_stage1(const CalibrateOptions &opt, Subjects &host, Scanner &scanner,
                                  const std::vector<Launched *> &trial_subjects,
                                  const TimeNsOffsets &ns, bool exit_hook) {
  std::vector<Trial> trials;
  std::vector<std::array<uint32_t, 6>> slots;
  host.run("trial", trial_subjects, [&](const Cookies &c) {
    uint32_t none = UINT32_MAX;
    slots.push_back({scanner.add_cookie(c.leader), scanner.add_cookie(c.thread),
                     scanner.add_cookie(c.grandchild), scanner.add_cookie(c.exiter),
                     opt.fields.beyond_task() ? scanner.add_cookie(c.creds) : none,
                     opt.fields.beyond_task() ? scanner.add_cookie(c.unshared) : none});
  });
  for (size_t i = 0; i < trial_subjects.size(); i++) {
    Trial t = host.trial(*trial_subjects[i], ns);
    t.leader.snap = scanner.snapshot(slots[i][0]);
    t.thread.snap = scanner.snapshot(slots[i][1]);
    t.grandchild.snap = scanner.snapshot(slots[i][2]);
    t.exiter.snap = scanner.snapshot(slots[i][3]);
    if (opt.fields.beyond_task()) {
      t.creds.snap = scanner.snapshot(slots[i][4]);
      t.unshared.snap = scanner.snapshot(slots[i][5]);
    }
    if (!exit_hook)
      t.exiter.wait_status.reset();
    check_capture(t.leader, "leader", OP_SITE_TRIGGER);
    check_capture(t.thread, "thread", OP_SITE_TRIGGER);
    check_capture(t.grandchild, "grandchild", OP_SITE_TRIGGER);
    check_capture(t.exiter, "exiter", OP_SITE_EXIT);
    if (opt.fields.beyond_task()) {
      check_capture(t.creds, "creds", OP_SITE_TRIGGER);
      check_capture(t.unshared, "unshared", OP_SITE_TRIGGER);
    }
    trials.push_back(std::move(t));
  }
  return trials;
}

// Stage 2: follows the candidate pointers stage 1 found, from the live
// trial subjects (they trigger again). The chain scanner is left attached in
// `chain_holder` for the caller to detach; `chain_error` says why the stage
// did not run (`chain_error_required` false: not this host's fault).
void capture_stage2(const CalibrateOptions &opt, const Backend &backend, TriggerMode used_trigger,
                    Subjects &host, const std::vector<Launched *> &trial_subjects,
                    const SolveOptions &so, std::vector<Trial> &trials,
                    std::unique_ptr<ChainScanner> &chain_holder, std::string &chain_error,
                    bool &chain_error_required) {
  auto plan = chain_plan(trials, so, OP_MAX_PTRS, OP_MAX_NESTED);
  if (!backend.make_chain_scanner) {
    chain_error = "the " + backend.name + " backend has no chain scanner";
    chain_error_required = false;
  } else if (!plan.error.empty()) {
    chain_error = "stage 1: " + plan.error;
  } else {
    chain_holder =
        backend.make_chain_scanner(used_trigger, plan.plan, static_cast<uint32_t>(3 * opt.trials));
    mark("chain scanner loaded");
    ChainScanner &chains = *chain_holder;
    std::vector<std::array<uint32_t, 3>> cslots;
    for (auto *l : trial_subjects)
      cslots.push_back({chains.add_cookie(l->cookies.leader), chains.add_cookie(l->cookies.creds),
                        chains.add_cookie(l->cookies.unshared)});
    host.retrigger(trial_subjects);
    for (size_t i = 0; i < trial_subjects.size(); i++) {
      trials[i].leader.chain = chains.capture(cslots[i][0]);
      trials[i].creds.chain = chains.capture(cslots[i][1]);
      trials[i].unshared.chain = chains.capture(cslots[i][2]);
    }
  }
}

// Solves the selected fields on the captured trials: task_struct's own,
// the audit fields and the chains (beyond the task family), and the
// families declared with predicates. `so.layout` is updated with what the
// task's fields show. Only what was asked for is returned.
std::vector<FieldResult> solve_selected(const CalibrateOptions &opt,
                                        const std::vector<Trial> &trials, SolveOptions &so,
                                        bool exit_hook, const std::string &chain_error,
                                        bool chain_error_required) {
  std::vector<FieldResult> fields = solve(trials, so);
  if (!exit_hook)
    for (auto &f : fields)
      if (read_only_at_exit(f.name))
        f.reason = "sched:sched_process_exit could not be attached; " + f.reason;
  if (opt.fields.beyond_task()) {
    for (auto &f : solve_from_task(trials, so))
      fields.push_back(f);
    // The layout as task_struct's own fields show it, for the chains' rules.
    so.layout = detect_layout_order(fields, so.layout);
    auto chain_results = solve_chains(trials, so);
    if (!chain_error.empty())
      mark_chains_unresolved(chain_results, chain_error, chain_error_required);
    for (auto &f : chain_results)
      fields.push_back(f);
  }
  // The families whose fields the catalogue declares with predicates
  // (families/sched.cpp), on the same stage-1 trials.
  solve_declared(trials, so, opt.fields, fields);
  // Only what was asked for is reported (the experiments may find more).
  std::erase_if(fields, [&](const FieldResult &f) { return !opt.fields.has(f.name); });
  return fields;
}

// For the threads that run a family's own experiment beside the calling
// thread: signals stay with the calling thread, whose blocking calls they
// must interrupt (EINTR).
void block_all_signals() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

// The family whose own experiment is `experiment` (Family::experiment).
const Family &family_with_experiment(const std::string &experiment) {
  for (const auto &fam : catalogue())
    if (fam.experiment == experiment)
      return fam;
  throw std::logic_error("catalogue: no family runs the " + experiment + " experiment");
}

// The files family's own experiment (calibration/experiment/files/) needs nothing of the task
// experiment: it runs from the start, in a thread of its own, while the task experiment waits on
// its subjects. The fields it found come out of the future, whose destructor joins it on every
// path.
std::future<std::vector<FieldResult>> start_files_experiment(const CalibrateOptions &opt,
                                                             const Environment &env,
                                                             std::optional<uint32_t> slab) {
  const Family &fam = family_with_experiment("files");
  if (!opt.fields.has_family(fam))
    return {};
  return std::async(std::launch::async, [&opt, &env, &fam, slab] {
    block_all_signals();
    std::vector<FieldResult> got;
    env.run_experiment(fam, opt, slab, got);
    mark("files family");
    return got;
  });
}

// The net family's own experiment (calibration/experiment/net/), once the ns family's
// net.ns.inum is validated (skc_net is found through it): in a thread of
// its own too, on a copy of `fields`, which comes out of the future with the
// net family's fields appended.
std::future<std::vector<FieldResult>> start_net_experiment(const CalibrateOptions &opt,
                                                           const Environment &env,
                                                           const std::vector<FieldResult> &fields) {
  const Family &fam = family_with_experiment("net");
  if (!opt.fields.has_family(fam))
    return {};
  return std::async(std::launch::async, [&opt, &env, &fam, copy = fields]() mutable {
    block_all_signals();
    env.run_experiment(fam, opt, std::nullopt, copy);
    mark("net family");
    return copy;
  });
}

// Starts the subjects (fork, exec, dynamic linking: Boost.Process waits for
// the exec) on a thread of its own, while the calibrator loads the scanner.
// The thread then stays until the end: PR_SET_PDEATHSIG fires when the
// *thread* that forked the host exits, not the process. The subjects are
// destroyed after the thread has been joined, on the calibrator's thread.
class SubjectsStarter {
public:
  SubjectsStarter(const Environment &env, const CalibrateOptions &opt)
      : thread_([this, &env, &opt] {
          try {
            subjects_ = env.start_subjects(opt);
          } catch (...) {
            error_ = std::current_exception();
          }
          started_.release();
          done_.acquire();
        }) {}
  ~SubjectsStarter() {
    done_.release();
    thread_.join();
  }
  SubjectsStarter(const SubjectsStarter &) = delete;
  SubjectsStarter &operator=(const SubjectsStarter &) = delete;

  // The started subjects; rethrows what starting them threw.
  Subjects &wait() {
    if (!waited_) {
      started_.acquire();
      waited_ = true;
    }
    if (error_)
      std::rethrow_exception(error_);
    return *subjects_;
  }

private:
  std::unique_ptr<Subjects> subjects_;
  std::exception_ptr error_;
  std::binary_semaphore started_{0}, done_{0};
  bool waited_ = false;
  std::thread thread_; // last: it starts once the members above exist
};

} // namespace

// A stop signal kills the subjects at once (kill_subjects_from_signal_handler),
// so whatever error that causes here ("the subject host died") is reported
// as the stop it is; the locals, subjects among them, are gone by then.
Calibration calibrate(const CalibrateOptions &opt) try {
  auto t0 = Clock::now();
  g_t0 = t0;
  const Environment &env = opt.environment ? *opt.environment : live_environment();
  env.check_privileges();
  Calibration cal;
  auto ns = env.timens_offsets();
  cal.boot_offset_ns = ns.boottime_ns;
  cal.mono_offset_ns = ns.monotonic_ns;
  auto slab = env.task_struct_size();
  uint32_t nr_chunks = slab ? (*slab + OP_CHUNK_SIZE - 1) / OP_CHUNK_SIZE : OP_MAX_CHUNKS;

  TriggerMode used_trigger;
  bool exit_hook = false;
  // The scanner stays attached until validation has attached the reader:
  // taking a tracepoint's last probe away and adding one again (1 -> 0 -> 1)
  // makes the kernel wait for an RCU grace period (tp_rcu_cond_sync), which
  // costs milliseconds; overlapping the two sessions avoids it.
  const Backend &backend = env.backend(opt);
  auto files_done = start_files_experiment(opt, env, slab);
  std::unique_ptr<Scanner> scanner_holder;
  // The host starts on another thread while this one loads the scanner.
  SubjectsStarter host_holder(env, opt);
  auto subjects = make_subjects(opt.trials, 1); // the last one validates
  std::vector<Launched *> trial_subjects;
  for (uint32_t i = 0; i < opt.trials; i++)
    trial_subjects.push_back(&subjects[i]);

  SolveOptions so = solve_options(opt, env, slab, ns);

  // Stage planning from the catalogue's Requires graph: a second capture
  // stage when a selected field lies one or two pointers away.
  StagePlan stages = plan_stages(field_graph(&opt.fields));
  if (!stages.error.empty())
    throw Error(ErrorKind::failure, "field catalogue: " + stages.error);
  cal.stages = stages.stages;
  const bool stage2 = stages.stages.size() > 1;
  std::unique_ptr<ChainScanner> chain_holder;
  std::string chain_error; // why the chain stage did not run
  bool chain_error_required = true;
  {
    scanner_holder = backend.make_scanner(opt.trigger, nr_chunks);
    Scanner &scanner = *scanner_holder;
    used_trigger = scanner.mode();
    exit_hook = scanner.exit_attached();
    mark("scanner loaded");
    Subjects &host = host_holder.wait();
    mark("subject host started");
    cal.trials = capture_stage1(opt, host, scanner, trial_subjects, ns, exit_hook);
    mark("stage 1 captured");
    // The validation subject is made now and held: its setup runs on another
    // CPU while this thread loads programs and solves.
    if (opt.validate)
      host.prepare({&subjects.back()});
    // Stage 2, while the subjects live: follow the candidate pointers.
    if (stage2)
      capture_stage2(opt, backend, used_trigger, host, trial_subjects, so, cal.trials, chain_holder,
                     chain_error, chain_error_required);
    mark("stage 2 captured");
    // Detached now, while the scanner stays: a tracepoint going 2 -> 1 probes
    // with its first probe removed waits for an RCU grace period
    // (tracepoint_remove_func -> tp_rcu_cond_sync: ~10 ms here), removing
    // the last-added one does not.
    chain_holder.reset();
    host.release(trial_subjects);
    if (opt.on_stage)
      opt.on_stage("trial-released", {host.pid()});
  }
  throw_if_stopped(opt);

  auto &r = cal.result;
  r.fields = solve_selected(opt, cal.trials, so, exit_hook, chain_error, chain_error_required);
  if (auto l = detect_layout_order(r.fields, so.layout); l.randomized)
    r.layout = "randomized layout detected (" + l.evidence + ")";
  r.trials = opt.trials;
  r.backend = backend.name;
  r.trigger = to_string(used_trigger);
  r.task_struct_size = slab;
  r.scan_bytes = nr_chunks * OP_CHUNK_SIZE;

  bool any = false;
  for (const auto &f : r.fields)
    any |= f.status == FieldStatus::calibrated;
  // The net experiment starts as soon as net.ns.inum is solved, beside the
  // validation rather than after it (it was the last to end): it follows
  // the sk's words through the solved offset, and skc_net falls below if
  // net.ns.inum then fails its own read-back, as on the bundle's path.
  auto net_done = start_net_experiment(opt, env, r.fields);
  if (opt.validate && any) {
    mark("solved");
    Validator v(r.fields);
    auto reader = v.load(opt, env, used_trigger);
    v.run(opt, *reader, host_holder.wait(), subjects.back(), ns, ns.boottime_ns, so.tick_ns);
    mark("validated");
  }
  scanner_holder.reset();
  host_holder.wait().finish();
  // The report's order as before: the task experiment's fields, the net
  // family's, the files family's. Of the net thread's copy only the net
  // family's fields are taken: the others in it are from before validation.
  if (net_done.valid()) {
    const Family &net_fam = family_with_experiment("net");
    for (auto &f : net_done.get())
      if (family_of(f.name) == &net_fam)
        r.fields.push_back(std::move(f));
    // (--no-validate: nothing failed, nothing was read back.)
    if (opt.validate)
      net::skc_net_behind_failed_inum(r.fields);
  }
  if (files_done.valid())
    for (auto &f : files_done.get())
      r.fields.push_back(std::move(f));
  mark("done");
  throw_if_stopped(opt);
  r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return cal;
} catch (...) {
  throw_if_stopped(opt);
  throw;
}

ValidationSubjects::ValidationSubjects() = default;
ValidationSubjects::ValidationSubjects(ValidationSubjects &&) noexcept = default;
ValidationSubjects &ValidationSubjects::operator=(ValidationSubjects &&) noexcept = default;
ValidationSubjects::~ValidationSubjects() = default;

ValidationSubjects start_validation_subjects(const CalibrateOptions &opt) try {
  const Environment &env = opt.environment ? *opt.environment : live_environment();
  env.check_privileges();
  ValidationSubjects s;
  s.host = env.start_subjects(opt);
  s.subjects = make_subjects(0, 1);
  // Set up now and held, as calibrate() does with its validation subject.
  s.host->prepare({&s.subjects[0]});
  return s;
} catch (...) {
  throw_if_stopped(opt);
  throw;
}

std::vector<FieldResult> validate_offsets(const CalibrateOptions &opt,
                                          std::vector<FieldResult> fields,
                                          ValidationSubjects *started, Deferred *later) try {
  const Environment &env = opt.environment ? *opt.environment : live_environment();
  env.check_privileges();
  auto ns = env.timens_offsets();
  for (auto &f : fields) {
    f.validation = Validation::not_run;
    f.validation_detail.clear();
  }
  uint64_t tick_ns = env.tick_ns();
  g_t0 = Clock::now();
  // The file family's read-back (calibration/experiment/files/) needs nothing the other
  // families' read-backs establish: its own subjects and program, and of the
  // others only task_struct.mm's offset, not its validation. So it runs on a
  // copy of the fields, in a thread, beside the task and chain read-back
  // (the bundle's validation-only path spends most of its time in these
  // two). Signals stay with this thread, whose blocking calls they must
  // interrupt (EINTR); the future's destructor joins on every path.
  // What each family leaves to end goes to `later` when the caller takes it,
  // and is ended in the family's thread otherwise.
  auto read_back = [&opt, &env, later](const char *family, std::vector<FieldResult> copy) {
    block_all_signals();
    Deferred left;
    env.read_back(family_with_experiment(family), opt, copy, left);
    if (!later)
      (void)left.run(); // (objects only: nothing throws)
    return std::make_pair(std::move(copy), std::move(left));
  };
  auto files_done = std::async(std::launch::async, [&read_back, copy = fields]() mutable {
    auto r = read_back("files", std::move(copy));
    mark("validate: files family");
    return r;
  });
  // The net family's read-back (calibration/experiment/net/) has its own subjects and
  // program too, and reads skc_net through net.ns.inum's offset: it runs in
  // a third thread with that offset as the bundle gives it, and skc_net
  // falls afterwards if net.ns.inum fails its own read-back here.
  auto net_done = std::async(std::launch::async, [&read_back, copy = fields]() mutable {
    auto r = read_back("net", std::move(copy));
    mark("validate: net family");
    return r;
  });
  // The reader loads (the kernel's verifier) while the subject host starts.
  Validator v(fields);
  auto reader_done = std::async(std::launch::async, [&opt, &env, &v] {
    block_all_signals();
    return v.load(opt, env, opt.trigger);
  });
  // The subject is set up (and held) while the reader loads, if the caller
  // did not start it already.
  ValidationSubjects own =
      started && started->host ? std::move(*started) : start_validation_subjects(opt);
  Subjects &host = *own.host;
  auto &subjects = own.subjects;
  mark("validate: host started");
  auto reader = reader_done.get();
  v.run(opt, *reader, host, subjects[0], ns, ns.boottime_ns, tick_ns);
  // Detached and unloaded now, while the other families' threads still run:
  // at the end of this function it was ~0.7 ms of the bundle path's serial
  // tail (a raw tracepoint's detach patches kernel text on every CPU).
  reader.reset();
  mark("validate: task and chains read back");
  // The host ends its subjects and exits (their exits, a namespace's among
  // them, are CPU the file and net read-backs need now): with `later`, once
  // the results are in. Its error (a host or subject that would not end)
  // then comes from the caller's Teardown::wait().
  if (later)
    later->then([h = std::shared_ptr<Subjects>(std::move(own.host))] { h->finish(); });
  else
    host.finish();
  mark("validate: host finished");
  throw_if_stopped(opt);
  // Only each family's own fields changed in its copy.
  auto take = [&fields](const std::vector<FieldResult> &copy, const std::string &family) {
    for (const auto &f : copy)
      if (const Family *fam = family_of(f.name); fam && fam->name == family)
        for (auto &mine : fields)
          if (mine.name == f.name)
            mine = f;
  };
  for (auto [done, family] : {std::pair{&files_done, "files"}, std::pair{&net_done, "net"}}) {
    auto [copy, left] = done->get();
    take(copy, family);
    if (later)
      later->take(std::move(left));
  }
  net::skc_net_behind_failed_inum(fields);
  mark("validate: joined");
  throw_if_stopped(opt);
  return fields;
} catch (...) {
  throw_if_stopped(opt);
  throw;
}

} // namespace offsetprobe
