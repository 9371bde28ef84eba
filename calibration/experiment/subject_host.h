// SPDX-License-Identifier: GPL-2.0-only
// The experiment's subjects, seen from the calibrator: the subject host
// process (calibration/experiment/subject.h runs inside it) and its line protocol, the
// leaders it forks (one per trial), and the known values read from /proc
// while they live. Used by the calibrator for its trials and validation.
#pragma once

#include "calibration/experiment/proc_read.h"
#include "calibration/model/calibrate_options.h"
#include "calibration/experiment/subject.h"
#include "calibration/experiment/subject_group.h"

#include <boost/process/child.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

using Clock = std::chrono::steady_clock;

// Throws Error(ErrorKind::interrupted / ErrorKind::terminated) once a stop signal came.
void throw_if_stopped(const CalibrateOptions &opt);

// The subject host process (a re-execution of this binary in subject mode)
// and its pipes. The host leads a process group that every subject inherits
// (calibration/experiment/subject_group.h); the destructor kills that group and reaps
// all of it: no subject outlives the calibration, none is left a zombie.
class SubjectHost {
public:
  explicit SubjectHost(const CalibrateOptions &opt);

  ~SubjectHost();
  SubjectHost(const SubjectHost &) = delete;
  SubjectHost &operator=(const SubjectHost &) = delete;

  int pid() const { return child_.id(); }

  void send(const std::string &line);

  // Reads the next line about one of the leaders `indices` (the line's
  // first word), or any leader's death. Lines about other leaders (a held
  // validation subject's spawn, say) wait in order for a later call.
  std::string read_line_for(const CalibrateOptions &opt, Clock::time_point deadline,
                            const std::vector<int> &indices);

  // Reads one line; the deadline covers a hung subject, the stop flag Ctrl-C.
  std::string read_line(const CalibrateOptions &opt, Clock::time_point deadline);

  // EOF on its stdin: the host kills what is left, reaps, and exits.
  void finish(const CalibrateOptions &opt);

private:
  void close_stdin();
  std::string exit_description();

  SubjectGroup group_; // first: we are the subreaper before the host exists
  boost::process::child child_;
  int in_ = -1, out_ = -1;
  std::string buf_;
  std::deque<std::string> pending_; // see read_line_for
};

// One leader subject (one trial) and everything known about it.
struct Launched {
  int index = 0;
  Cookies cookies;
  int exit_status = 0; // what E passes to exit()
  CredPlan cred_plan;
  int pid = 0;       // the leader, in our pid namespace
  Window mono, boot; // around its fork
  bool spawned = false, ready = false;
  bool held = false; // prepared ahead of time, waiting for "go"
  SubjectReport report;
  std::optional<uint64_t> leader_ticks, thread_ticks, grandchild_ticks;
  // Chain known values, read from /proc while the subjects live.
  struct Known {
    std::optional<std::array<uint32_t, 8>> cred_ids;
    std::optional<uint32_t> loginuid, sessionid;
    std::map<std::string, uint32_t> ns_inum;
    std::optional<std::array<uint64_t, 10>> mm;
  } leader_known, creds_known, unshared_known;
  // What the families' observe hooks read, per role (Subject::known).
  std::map<Role, std::map<std::string, int64_t>> observed;
};

// Has the host fork the subjects' leaders now and set them up, held before
// anything triggers: run_subjects() later only says "go". Their setup (forks,
// a thread, new credentials and namespaces) then overlaps other work.
void prepare_subjects(SubjectHost &host, const std::vector<Launched *> &subjects);

// Registers the subjects' cookies (through `register_cookies`), has the host
// fork their leaders (or says "go" to held ones), and waits until each is
// ready; reads their start ticks, and what the selected families observe,
// from /proc while they are alive. Throws Error(ErrorKind::subject) when one dies.
void run_subjects(const CalibrateOptions &opt, SubjectHost &host, const std::string &phase,
                  const std::vector<Launched *> &subjects,
                  const std::function<void(const Cookies &)> &register_cookies);

// Each subject is captured exactly once while its snapshot is taken: L, T
// and G at the trigger, E at its exit. A slot captured twice, or a trigger
// slot captured at exit, holds a subject that died mid-experiment (its exit
// overwrote the capture; killing G made a field look ambiguous instead of
// failing) or a foreign task that copied a cookie from /proc to poison the
// trial. Neither may reach the solver. count/site 0: the backend does not tell.
void check_capture(const Subject &s, const char *role, uint32_t want_site);

// Tells the host to end the subjects' leaders (EOF on their control pipes).
void release_subjects(SubjectHost &host, const std::vector<Launched *> &subjects);

// Makes the live subjects' L, C and N trigger again (for the chain scanner)
// and waits until every leader says "again".
void retrigger(const CalibrateOptions &opt, SubjectHost &host,
               const std::vector<Launched *> &subjects);

// The leaders of `trials` trials, then of `readbacks` read-backs, each with
// fresh cookies, exit code and ids. The trials' C takes its ids in the three
// CredOrders in turn (--trials is at least 3: every order runs).
std::vector<Launched> make_subjects(uint32_t trials, uint32_t readbacks);

// Fills a trial's known values (windows in the host clock domain).
Trial make_trial(const Launched &l, const TimeNsOffsets &ns);

} // namespace offsetprobe
