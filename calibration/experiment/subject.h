// SPDX-License-Identifier: GPL-2.0-only
// Subjects: re-executions of this binary in a hidden mode, driven over pipes.
//
// One subject process is the leader L of one trial. On start it sets its comm
// to its cookie, starts a thread T (own cookie), forks a grandchild G (own
// cookie) which T PTRACE_SEIZEs, forks an exiter E (own cookie) that exits
// with a chosen code, forks C (own cookie) that takes distinct unusual ids and
// a loginuid, forks N (own cookie) that unshares its namespaces, makes L, T, G,
// C and N call the trigger, then prints one "ready" line with what it measured.
// Each byte on its control pipe makes L, C and N trigger again (the chain
// stage); EOF ends it.
#pragma once

#include "calibration/model/snapshot.h"

#include <cstdint>
#include <optional>
#include <string>

namespace offsetprobe {

// argv[1] that selects subject mode (argv[2]: the calibrator's pid). Not a
// documented command.
inline constexpr const char *kSubjectArg = "__offsetprobe_subject";

// Entry point of a subject process.
int subject_main(int argc, char **argv);

// The function a subject calls to be captured: it makes the getppid syscall
// (the scanner's tracepoint) and is itself the uprobe fallback's attach point.
extern "C" void offsetprobe_trigger();

// Cookies of the tasks of one trial (15 chars each, [a-z0-9]).
struct Cookies {
  std::string leader, thread, grandchild, exiter, creds, unshared;
};

// The ids the creds subject C takes (setresgid, setfsgid, setresuid,
// setfsuid; unusual) and the loginuid it writes into /proc/self/loginuid
// before that (which gives it a new sessionid too).
//
// Each id call commits a new struct cred and the one it replaces is freed
// with its bytes intact, so C's slab neighbours can hold a stale cred with
// most of C's final ids. The last call changes one id (setfsuid), so the cred
// before it holds the other seven; where the slab puts it next to C's cred
// at the same distance in every trial, those seven ids each had two
// candidates (a CI run of 2026-12-04: uid to egid ambiguous, exit 4). So the
// trials take their ids in three orders (CredOrder), and in two of them the
// last call sets a whole family: C's stale creds then hold none of that
// family's final ids, and a stale candidate cannot survive every trial.
// The price: fsuid equals euid in a uids_last trial and fsgid equals egid in
// a gids_last one; the all_distinct trial tells those apart.
enum class CredOrder {
  all_distinct, // gids, fsgid, uids, fsuid: eight distinct ids
  uids_last,    // gids, fsgid, then setresuid: fsuid = euid
  gids_last,    // uids, fsuid, then setresgid: fsgid = egid
};

struct CredPlan {
  // uid, gid, suid, sgid, euid, egid, fsuid, fsgid: struct cred's order.
  uint32_t ids[8] = {};
  uint32_t loginuid = 0;
  // The order follows from the ids (sent to the subject host as they are):
  // fsuid == euid means uids_last, fsgid == egid gids_last.
  CredOrder order() const {
    if (ids[6] == ids[4])
      return CredOrder::uids_last;
    if (ids[7] == ids[5])
      return CredOrder::gids_last;
    return CredOrder::all_distinct;
  }
};

// A fresh random cookie: "op" + 13 random characters, from getrandom().
std::string make_cookie();

// What a subject reports on its "ready" line. Ids are as seen in the
// calibrator's pid namespace; windows are raw clock readings (the caller
// removes time-namespace offsets).
struct SubjectReport {
  int32_t thread_tid = 0;
  int32_t grandchild_pid = 0;
  int32_t exiter_pid = 0;
  Window thread_mono, thread_boot;
  Window grandchild_mono, grandchild_boot;
  Window exiter_mono, exiter_boot;
  bool traced = false;
  std::string trace_error;
  int32_t creds_pid = 0;    // C
  int32_t unshared_pid = 0; // N
  // "" when all went well, else "what:ERRNO[,...]" (no spaces).
  std::string creds_error;    // setresuid & co.
  std::string loginuid_error; // writing /proc/self/loginuid
  std::string unshare_error;  // per namespace, e.g. "NEWTIME:EINVAL"
  // Each subject's id as the mounted /proc numbers it (from /proc/self or
  // /proc/thread-self; 0: unknown). It differs from the ids above when the
  // calibrator runs in a pid namespace whose /proc is the outer one.
  int32_t proc_leader = 0, proc_thread = 0, proc_grandchild = 0, proc_creds = 0, proc_unshared = 0;
};

std::string format_report(const SubjectReport &r);
std::optional<SubjectReport> parse_report(const std::string &line, std::string &error);

// A leader's exit when its grandchild G died before it answered (EOF on G's
// pipe: the leader holds no write end of a pipe it reads, issue #21).
inline constexpr int kLeaderLostGrandchild = 10;

// " (killed by signal N)" or " (exit code N[: what it means])" for a leader's
// wait status, as the host reports it on a "died" line.
std::string describe_leader_status(int status);

} // namespace offsetprobe
