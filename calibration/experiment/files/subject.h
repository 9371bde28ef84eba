// SPDX-License-Identifier: GPL-2.0-only
// The file family's subjects. F is forked by the calibrator: in its own
// mount namespace it mounts a private tmpfs over /tmp, tmpfs A on a random
// directory of it, tmpfs B on a directory of A, and binds a directory of A
// onto a directory of B (C: the same super_block as A, another mount). It
// opens files it made, with random names, sizes, modes, owners, open flags
// and positions, at planned fd numbers, O_PATH fds on directories, mount
// roots and mount points (opened before mounting), an eventfd with a random
// count and its own executable; it chdirs into B. R, forked by F before F
// takes a random high fd (so R's fd table is the one embedded in its
// files_struct), chroots into a directory of A and chdirs below it.
//
// Each then waits for commands: "make N trigger syscalls" for the walker.
// The calibrator reads what they hold from /proc (fdinfo, fstat and statfs
// through /proc/<pid>/fd/N, status, stat), not from the subjects' word.
#pragma once

#include "calibration/solve/files/known.h"

#include <stdexcept>
#include <string>
#include <sys/types.h>

namespace offsetprobe::files {

struct SubjectPlanView;

// A files subject that could not be set up, answer or be read: the files
// family cannot tell, and says why (experiment.cpp turns it into the fields'
// reason). A distinct type so that nothing else is caught with it: a BPF
// failure (Error) or a stop request still ends the command.
struct SubjectError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// argv[1] of F: `self_exe` run as the files subject (files_subject_main).
inline constexpr const char *kFilesSubjectArg = "__offsetprobe_files_subject";

// F's main: argv[2] is its plan. Never returns; set-up errors go to F's
// ack pipe, as a forked F reported them.
[[noreturn]] int files_subject_main(int argc, char **argv);

// One trial's two live subjects. The destructor kills and reaps them.
class FilesTrial {
public:
  // Starts F, `self_exe` executed as the files subject (and F forks R),
  // which set themselves up meanwhile: call wait_ready() before anything
  // else. Throws SubjectError when F cannot be started.
  FilesTrial(uint32_t timeout_ms, const std::string &self_exe);
  // Waits until both subjects are ready. Throws SubjectError with the
  // subject's reason when the setup failed (no CAP_SYS_ADMIN for
  // unshare/mount, say); the subjects are gone then.
  void wait_ready();
  ~FilesTrial();
  FilesTrial(const FilesTrial &) = delete;
  FilesTrial &operator=(const FilesTrial &) = delete;

  const std::string &cookie(bool chroot) const { return chroot ? r_.cookie : f_.cookie; }
  // Makes the subject call getppid() n times, then returns.
  void trigger(bool chroot, uint32_t n);
  // What the subjects hold, read from /proc now.
  TrialKnown known() const;

  struct Plan; // the random values and names (subject.cpp)
  struct Proc {
    pid_t pid = -1;
    long proc_id = 0;       // its id in the mounted /proc (0: unknown)
    int cmd = -1, ack = -1; // our ends
    std::string cookie;
  };

private:
  struct SubjectPlanView view(bool chroot) const;
  void read_ready();
  static long proc_id_of(const Proc &p);
  void cleanup();
  Proc f_, r_;
  uint32_t timeout_ms_;
  Plan *plan_ = nullptr;
};

} // namespace offsetprobe::files
