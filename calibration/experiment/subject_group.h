// SPDX-License-Identifier: GPL-2.0-only
// Process control of the subjects: nothing a calibration starts may outlive
// it, whatever the moment it is stopped (SIGINT, SIGTERM, SIGHUP, SIGKILL),
// and nothing it started may be left as a zombie for PID 1 to reap.
//
// Four mechanisms, each covering what the others cannot (docs/reliability.md,
// "Nothing left behind"):
// - a process group: the subject host gets one of its own before exec and
//   every subject inherits it (none calls setsid/setpgid). The calibrator's
//   stop path, and its SIGINT/SIGTERM/SIGHUP handler itself, kill the group
//   as a whole with one kill(-pgid, SIGKILL);
// - the calibrator is the subreaper of its subjects (PR_SET_CHILD_SUBREAPER):
//   orphans come back to it instead of PID 1, and it reaps the whole group
//   before it returns, on success and on every error path;
// - a parent-death signal in every subject, set before anything else (before
//   exec for the host) and followed by a check that the parent is still the
//   one it forked from: a parent that died before the prctl never sends it;
// - no subject holds the write end of a pipe it reads: each forked subject
//   closes every descriptor it does not use, so its creator's death is an
//   EOF. This one also covers SIGKILL of the calibrator, where no code of
//   ours runs and only the kernel (parent-death signals, EOFs) can act.
// A cgroup (cgroup.kill) was not used: it needs a writable, delegated cgroup
// v2 hierarchy, which containers and older hosts often lack, and the process
// group already reaches every subject, including the init of the pid
// namespace the unshared subject makes.
#pragma once

#include <initializer_list>
#include <string>

#include <sys/types.h>

namespace offsetprobe {

// A comm that can never be a cookie (cookies are 15 of [a-z0-9]): a subject
// wears it while it checks its parent with getppid(), the trigger syscall, so
// that the scanner never takes the check for a capture.
inline constexpr const char *kNeutralComm = "op-subject";

// In a freshly forked subject (only async-signal-safe calls): asks for
// SIGKILL when the parent thread dies, then makes sure `parent` is still the
// parent. False when it died before the prctl (we were reparented and the
// signal will never come): the caller must _exit() at once. Sets the comm to
// kNeutralComm; the caller sets its cookie afterwards.
bool die_with_parent(pid_t parent);

// In a freshly forked subject: closes every descriptor but 0, 1, 2 and
// `keep` (at most 16), so that it holds no write end of a pipe it (or a
// sibling) reads. Allocates nothing.
void keep_only_fds(std::initializer_list<int> keep);

// The calibrator's side: one group per subject host. start() is called
// before the host is spawned (it makes this process a subreaper), adopt()
// with the host's pid (the group's id) once spawned, and end() kills the
// group and reaps every member (bounded by `timeout_ms`); the destructor
// calls end() if nobody did.
class SubjectGroup {
public:
  SubjectGroup();
  ~SubjectGroup();
  SubjectGroup(const SubjectGroup &) = delete;
  SubjectGroup &operator=(const SubjectGroup &) = delete;

  void adopt(pid_t pgid);
  pid_t pgid() const { return pgid_; }
  // Kills the group, reaps all its members, forgets the group's id (0 from
  // then on). Returns "" or what is left (a member that did not die in time,
  // e.g. stuck in the kernel). Only the first call does anything.
  std::string end(int timeout_ms = 5000);

private:
  pid_t pgid_ = 0;
  int slot_ = -1; // in the signal handler's table of running groups
  bool ended_ = false;
};

// Async-signal-safe: SIGKILL to the subject groups of the calibrations that
// are running in this process, if any. The stop handlers call it so that the
// subjects are gone at once even while the calibrator is busy (compiling a
// BCC program, say) and notices the stop only later.
void kill_subjects_from_signal_handler();

} // namespace offsetprobe
