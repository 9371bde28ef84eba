// SPDX-License-Identifier: GPL-2.0-only
// What calibrate() asks of the machine it runs on, behind one interface: the
// privileges, clocks and slab size it reads, the subjects it starts (the
// subject host and its protocol), and the programs that capture them and read
// them back (Backend). The live environment wraps the code that does this on
// the running kernel; a test passes a fake (tests/fixture_environment.h) that
// serves recorded trials and answers read-backs from their bytes, so that the
// calibrator, its stage planner and its validator run without root or BPF.
#pragma once

#include "calibration/experiment/capture.h"
#include "calibration/experiment/kernel_config.h"
#include "calibration/experiment/proc_read.h"
#include "calibration/experiment/teardown.h"
#include "calibration/model/snapshot.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

struct CalibrateOptions; // calibration/model/calibrate_options.h
struct Family;           // calibration/model/catalogue.h
struct Cookies;          // calibration/experiment/subject.h
struct Launched;         // calibration/experiment/subject_host.h

// The subjects of one calibration, as the calibrator drives them (the live
// ones: calibration/experiment/subject_host.h). Every call may throw Error like the
// subject host's functions (ErrorKind::subject, ErrorKind::interrupted, ...).
class Subjects {
public:
  virtual ~Subjects() = default;
  // The host process's pid (for CalibrateOptions::on_stage), 0 if none.
  virtual int pid() const = 0;
  // Forks the subjects' leaders now, held before anything triggers.
  virtual void prepare(const std::vector<Launched *> &subjects) = 0;
  // Registers their cookies (through `register_cookies`), runs them until
  // each triggered and is ready, and reads what is known of them.
  virtual void run(const std::string &phase, const std::vector<Launched *> &subjects,
                   const std::function<void(const Cookies &)> &register_cookies) = 0;
  // Makes the live subjects trigger again (the chain stage).
  virtual void retrigger(const std::vector<Launched *> &subjects) = 0;
  // Ends the subjects' leaders.
  virtual void release(const std::vector<Launched *> &subjects) = 0;
  // What is known of a subject that ran: its trial, snapshots not filled.
  virtual Trial trial(const Launched &l, const TimeNsOffsets &ns) const = 0;
  // Ends the host: nothing it started is left.
  virtual void finish() = 0;
};

class Environment {
public:
  virtual ~Environment() = default;
  // The families that run experiments of their own (Family::experiment:
  // calibration/experiment/files/, calibration/experiment/net/): runs `fam`'s
  // and appends its selected fields to `fields`, which holds what the
  // engine's stages found (the net experiment follows net.ns.inum's offset
  // from it). `task_size`: task_struct's size, where the kernel tells.
  virtual void run_experiment(const Family &fam, const CalibrateOptions &opt,
                              std::optional<uint32_t> task_size,
                              std::vector<FieldResult> &fields) const = 0;
  // Reads back the calibrated fields of such a family in `fields` (offsets
  // found elsewhere: a bundle), passing or failing each. What is left to
  // end once the results are in (subjects, programs) may go to `later`.
  virtual void read_back(const Family &fam, const CalibrateOptions &opt,
                         std::vector<FieldResult> &fields, Deferred &later) const = 0;
  // Throws Error(ErrorKind::permission) naming what is missing.
  virtual void check_privileges() const = 0;
  virtual TimeNsOffsets timens_offsets() const = 0;
  // task_struct's size, where the kernel tells (the slab cache).
  virtual std::optional<uint32_t> task_struct_size() const = 0;
  // A layout the kernel's config declares (randstruct), if any.
  virtual std::optional<LayoutOrder> config_layout() const = 0;
  // The length of one USER_HZ tick in ns (/proc/<pid>/stat's unit).
  virtual uint64_t tick_ns() const = 0;
  // The programs that capture and read back.
  virtual const Backend &backend(const CalibrateOptions &opt) const = 0;
  // Starts the subject host. Called on the thread that stays until the
  // calibration ends (a parent-death signal follows the forking thread).
  virtual std::unique_ptr<Subjects> start_subjects(const CalibrateOptions &opt) const = 0;
};

// The running kernel: SubjectHost, /proc and sysfs, and `opt.backend` (or
// libbpf_backend()).
const Environment &live_environment();

} // namespace offsetprobe
