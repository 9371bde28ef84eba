// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/files/experiment.h"
#include "calibration/model/timing.h"

#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/capture.h"
#include "calibration/model/catalogue.h"
#include "calibration/families/families.h"
#include "calibration/model/error.h"
#include "calibration/solve/files/readback.h"
#include "calibration/solve/files/solve.h"
#include "calibration/experiment/files/subject.h"
#include "calibration/experiment/files/walker.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <sys/utsname.h>

namespace offsetprobe::files {

uint32_t vfsmount_size_for(const std::string &release) {
  unsigned maj = 0, min = 0;
  if (std::sscanf(release.c_str(), "%u.%u", &maj, &min) != 2)
    return 32;
  return (maj > 5 || (maj == 5 && min >= 12)) ? 32 : 24;
}

std::vector<FieldResult> files_unresolved(const std::string &reason) {
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    if (fam.experiment == "files")
      for (const auto &d : fam.fields) {
        FieldResult f = unsolved(d);
        f.required = false;
        f.reason = reason;
        out.push_back(f);
      }
  return out;
}

namespace {

// OFFSETPROBE_TIMING=1: the experiment's steps on stderr, like the engine's.
void mark(const char *what) {
  static const auto t0 = std::chrono::steady_clock::now();
  timing_mark("files", t0, what);
}

} // namespace

std::vector<FieldResult> run_files_experiment(const FilesOptions &opt, FilesCapture *record) {
  mark("start");
  SolveConfig cfg;
  cfg.task_bytes = std::min<uint32_t>(16384, opt.task_bytes.value_or(12288));
  cfg.task_bytes = (cfg.task_bytes + 7) / 8 * 8;
  cfg.vfsmount_size = vfsmount_size_for(opt.kernel_release);
  cfg.mm_bytes = opt.mm_bytes;
  const uint32_t n = std::max<uint32_t>(1, opt.trials) + (opt.validate ? 1 : 0);
  std::vector<std::unique_ptr<FilesTrial>> subjects;
  try {
    // Every trial's subjects set themselves up at once (mounts, files):
    // the waits overlap.
    for (uint32_t i = 0; i < n; i++)
      subjects.push_back(std::make_unique<FilesTrial>(opt.timeout_ms, opt.self_exe));
    for (auto &s : subjects)
      s->wait_ready();
  } catch (const SubjectError &e) {
    return files_unresolved(std::string("the file experiment could not run: ") + e.what());
  }
  mark("subjects ready");
  LiveWalker walker;
  mark("walker loaded");
  for (uint32_t i = 0; i < n; i++)
    for (bool chroot : {false, true}) {
      FilesTrial *t = subjects[i].get();
      walker.add_subject(subject_id(i, chroot), t->cookie(chroot),
                         [t, chroot](uint32_t k) { t->trigger(chroot, k); });
    }
  std::vector<TrialKnown> known;
  try {
    for (auto &s : subjects)
      known.push_back(s->known());
  } catch (const SubjectError &e) {
    return files_unresolved(std::string("the file experiment's subjects: ") + e.what());
  }
  mark("known values read");
  std::vector<TrialKnown> solved(known.begin(), known.begin() + (n - (opt.validate ? 1 : 0)));
  // Every answer is kept only for a capture (OFFSETPROBE_FILES_DUMP): a
  // calibration reads ~2,800 requests of up to 2 KiB each, and copying each
  // into a map for nothing cost CPU time beside the task experiment.
  RecordingMemory rec(walker);
  Memory &mem = record ? static_cast<Memory &>(rec) : walker;
  FilesSolution sol;
  try {
    sol = solve_files(mem, solved, cfg);
    mark("solved");
    if (opt.validate)
      readback_files(mem, known.back(), subject_id(n - 1, false), subject_id(n - 1, true),
                     sol.found, sol.fields);
  } catch (const SubjectError &e) {
    return files_unresolved(std::string("the file experiment: ") + e.what());
  }
  mark("read back");
  if (record) {
    record->config = cfg;
    record->trials = solved;
    if (opt.validate)
      record->validation = known.back();
    record->memory = rec.to_json();
  }
  return sol.fields;
}

// The file family has its own experiment (calibration/experiment/files/), run after
// the engine's stages when one of its fields is selected.
void add_files_family(const CalibrateOptions &opt, const Backend &backend,
                      std::optional<uint32_t> slab, std::vector<FieldResult> &fields) {
  // Ctrl-C (or SIGTERM) already asked for a stop: nothing more is started.
  if (opt.stop_signal && opt.stop_signal->load() != 0)
    return;
  bool wanted = false;
  for (const auto &n : families::files_field_names())
    wanted = wanted || opt.fields.has(n);
  if (!wanted)
    return;
  std::vector<FieldResult> got;
  if (backend.name != "libbpf") {
    got = files_unresolved("the " + backend.name + " backend has no file walker");
  } else {
    FilesOptions fo;
    fo.trials = opt.trials;
    fo.timeout_ms = opt.subject_timeout_ms;
    fo.validate = opt.validate;
    fo.self_exe = opt.self_exe;
    fo.task_bytes = slab;
    fo.mm_bytes = slab_object_size("mm_struct", 2 * kMaxCopy);
    struct utsname u {};
    if (uname(&u) == 0)
      fo.kernel_release = u.release;
    FilesCapture cap;
    const char *dump = getenv("OFFSETPROBE_FILES_DUMP");
    got = run_files_experiment(fo, dump ? &cap : nullptr);
    if (dump)
      write_capture(dump, cap);
  }
  for (auto &f : got)
    if (opt.fields.has(f.name))
      fields.push_back(f);
}

void validate_files_family(const CalibrateOptions &opt, std::vector<FieldResult> &fields,
                           Deferred *later) {
  std::vector<FieldResult> mine;
  FoundOffsets found = given_offsets(fields, mine);
  if (found.off.empty() || (opt.backend && opt.backend->name != "libbpf"))
    return;
  try {
    auto trial = std::make_unique<FilesTrial>(opt.subject_timeout_ms, opt.self_exe);
    trial->wait_ready();
    auto walker = std::make_unique<LiveWalker>();
    for (bool chroot : {false, true})
      walker->add_subject(subject_id(0, chroot), trial->cookie(chroot),
                          [t = trial.get(), chroot](uint32_t k) { t->trigger(chroot, k); });
    TrialKnown known = trial->known();
    readback_files(*walker, known, subject_id(0, false), subject_id(0, true), found, mine);
    // Ended as they were when they went out of scope here: the walker
    // (which triggers through the trial) first.
    if (later) {
      later->keep(std::move(trial));
      later->keep(std::move(walker));
    }
  } catch (const SubjectError &e) {
    // The subjects could not run here: nothing is passed.
    for (auto &f : mine)
      if (f.status == FieldStatus::calibrated) {
        f.validation = Validation::failed;
        f.validation_detail = std::string("the file read-back could not run: ") + e.what();
      }
  }
  for (auto &f : fields)
    for (const auto &m : mine)
      if (m.name == f.name)
        f = m;
}

} // namespace offsetprobe::files
