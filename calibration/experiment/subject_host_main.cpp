// SPDX-License-Identifier: GPL-2.0-only
// The subject host's main loop (subject_main, calibration/experiment/subject.h): forks
// one leader (subject.cpp) per command and reports on them.
#include "calibration/model/catalogue.h"
#include "calibration/experiment/subject.h"
#include "calibration/experiment/subject_group.h"
#include "calibration/experiment/subject_leader.h"

#include <cerrno>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

struct LeaderSlot {
  pid_t pid = 0;
  int ctl = -1; // write end; closing it releases the leader
};

void say(const std::string &line) {
  std::string l = line + "\n";
  (void)!write(STDOUT_FILENO, l.data(), l.size());
}

// "trial" or "prepare" (the rest of the command in `is`): forks the leader
// of trial `index` and says "<index> spawned ...", or "<index> error ...".
void spawn_leader(const std::string &cmd, int index, std::istringstream &is,
                  std::map<int, LeaderSlot> &leaders, const sigset_t &chld) {
  Cookies c;
  int code = 0;
  CredPlan plan;
  bool ok = static_cast<bool>(is >> c.leader >> c.thread >> c.grandchild >> c.exiter >> code >>
                              c.creds >> c.unshared);
  for (auto &id : plan.ids)
    ok = ok && static_cast<bool>(is >> id);
  ok = ok && static_cast<bool>(is >> plan.loginuid);
  if (!ok || leaders.count(index)) {
    say(std::to_string(index) + " error bad-trial-command");
    return;
  }
  int ctl[2];
  if (pipe2(ctl, O_CLOEXEC)) {
    say(std::to_string(index) + " error pipe");
    return;
  }
  ClockPair clock;
  const pid_t host = getpid();
  clock.begin();
  pid_t pid = fork();
  if (pid == 0) {
    if (!die_with_parent(host))
      _exit(0);
    sigprocmask(SIG_UNBLOCK, &chld, nullptr);
    // Our ctl's write end and the other leaders': held open here, they
    // would keep this leader, or those, from ever seeing EOF
    // ("release", or the host's death). Only the report pipe (stdout)
    // and our ctl's read end stay.
    keep_only_fds({ctl[0]});
    run_leader(index, c, code & 0xff, plan, cmd == "prepare", ctl[0], STDOUT_FILENO);
  }
  clock.end();
  close(ctl[0]);
  if (pid < 0) {
    close(ctl[1]);
    say(std::to_string(index) + " error fork");
    return;
  }
  leaders[index] = LeaderSlot{pid, ctl[1]};
  std::ostringstream os;
  os << index << " spawned " << pid << ' ' << clock.mono.lo << ':' << clock.mono.hi << ' '
     << clock.boot.lo << ':' << clock.boot.hi;
  say(os.str());
}

} // namespace

// The subject host: started once per calibration (Boost.Process) as
// `<self> <kSubjectArg> <calibrator pid> <families>`, where <families> names
// the families whose in_subject hooks the subjects run (subject_hooks_arg).
// It forks one leader per trial on command, so a trial costs a fork rather
// than an exec. Commands on stdin, one per line:
//   trial <index> <cookie_L> <cookie_T> <cookie_G> <cookie_E> <exit_status>
//         <cookie_C> <cookie_N> <uid> <gid> <suid> <sgid> <euid> <egid> <fsuid>
//         <fsgid> <loginuid>
//   prepare <index> ... (as trial: a leader set up but held before its
//                      triggers until "go")
//   go <index>
//   again <index>     (L, C and N trigger again, L answers "<index> again")
//   release <index>
// Answers on stdout: "<index> spawned <pid> <mono lo:hi> <boot lo:hi>", the
// leader's "<index> ready ...", or "<index> died <status>". On EOF it kills
// what is left, reaps everything and exits.
int subject_main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "offsetprobe: subject mode is internal\n");
    return 2;
  }
  // An ignored SIGPIPE survives exec; the calibrator ignores it for itself.
  signal(SIGPIPE, SIG_DFL);
  // If the calibrator dies, so do we, and our leaders die with us.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // It may have died before the line above: then we have been reparented.
  // Compare with the pid it gave us rather than with 1: in a new pid
  // namespace (unshare -p -f) or an initramfs the calibrator itself is pid 1.
  if (std::to_string(getppid()) != argv[2])
    return 3;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
  if (sfd < 0)
    return 4;
  // The families whose subject hooks the leaders forked below run
  // (run_in_subject). select_subject_hooks() builds the catalogue here, once,
  // when there is one: built in each leader instead, after the fork, it cost
  // every leader ~60 page faults and its construction; built when there is
  // none, it cost this host ~100 (docs/calibrate-benchmark.md).
  select_subject_hooks(argv[3]);

  std::map<int, LeaderSlot> leaders;
  auto reap = [&] {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
      for (auto &[index, l] : leaders)
        if (l.pid == pid) {
          // A leader that ends before it was released died: say so at once.
          if (l.ctl >= 0) {
            say(std::to_string(index) + " died " + std::to_string(status));
            close(l.ctl);
            l.ctl = -1;
          }
          l.pid = 0;
        }
  };

  std::string buf;
  for (;;) {
    pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[1].revents) {
      signalfd_siginfo si;
      (void)!read(sfd, &si, sizeof(si));
      reap();
    }
    if (!p[0].revents)
      continue;
    char chunk[512];
    ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::istringstream is(buf.substr(0, nl));
      buf.erase(0, nl + 1);
      std::string cmd;
      int index = -1;
      is >> cmd >> index;
      if (cmd == "trial" || cmd == "prepare") {
        spawn_leader(cmd, index, is, leaders, chld);
      } else if (cmd == "again" || cmd == "go") {
        auto it = leaders.find(index);
        if (it != leaders.end() && it->second.ctl >= 0)
          write_byte(it->second.ctl);
      } else if (cmd == "release") {
        auto it = leaders.find(index);
        if (it != leaders.end() && it->second.ctl >= 0) {
          close(it->second.ctl);
          it->second.ctl = -1;
        }
      }
    }
  }
  // EOF (or the calibrator is gone): nothing may outlive us.
  for (auto &[index, l] : leaders) {
    if (l.ctl >= 0)
      close(l.ctl);
    if (l.pid > 0)
      kill(l.pid, SIGKILL);
  }
  for (auto &[index, l] : leaders)
    if (l.pid > 0)
      while (waitpid(l.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
  return 0;
}

} // namespace offsetprobe
