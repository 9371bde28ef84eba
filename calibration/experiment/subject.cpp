// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/subject.h"
#include "calibration/model/catalogue.h"
#include "calibration/experiment/subject_group.h"
#include "calibration/experiment/subject_leader.h"
#include "calibration/experiment/subject_roles.h"

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <vector>
#include <ctime>
#include <semaphore>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <linux/prctl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsetprobe {

extern "C" __attribute__((noinline, used)) void offsetprobe_trigger() {
  // getppid has no side effects and is rare enough that its tracepoint costs
  // the rest of the machine almost nothing; the scanner filters by comm anyway.
  syscall(SYS_getppid);
  asm volatile("" ::: "memory");
}

std::string make_cookie() {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char rnd[13];
  size_t got = 0;
  while (got < sizeof(rnd)) {
    ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  std::string c = "op";
  for (unsigned char b : rnd)
    c += alphabet[b % (sizeof(alphabet) - 1)];
  return c;
}

namespace {

void set_comm(const std::string &cookie) {
  prctl(PR_SET_NAME, cookie.c_str(), 0, 0, 0);
}

bool read_byte(int fd) {
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n == 1)
      return true;
    if (n < 0 && errno == EINTR)
      continue;
    return false;
  }
}

// This task's id as the mounted /proc numbers it: the last number of
// /proc/thread-self ("<pid>/task/<tid>"), or 0 when /proc does not show us.
int32_t proc_view_tid() {
  char buf[64] = {};
  ssize_t n = readlink("/proc/thread-self", buf, sizeof(buf) - 1);
  if (n <= 0)
    return 0;
  // strtol, not sscanf: scanf's machinery touches ~10 fresh pages in each
  // subject (a page fault each, ~10 us on this kind of VM).
  const char *last = std::strrchr(buf, '/');
  const char *digits = last ? last + 1 : buf;
  char *end = nullptr;
  errno = 0;
  long id = std::strtol(digits, &end, 10);
  if (end == digits || *end != 0 || errno || id <= 0 || id > INT32_MAX)
    return 0;
  return static_cast<int32_t>(id);
}

// A child of L that prepares itself (`setup`, returning its error text),
// sends the text on `done`, then triggers once per byte on `go` until EOF.
struct Helper {
  pid_t pid = -1;
  int32_t proc_id = 0;    // its id in the mounted /proc
  int go = -1, done = -1; // our ends
  std::string error;

  template <typename Setup> bool start(const std::string &cookie, Setup setup) {
    int g[2], d[2];
    if (pipe2(g, O_CLOEXEC) || pipe2(d, O_CLOEXEC))
      return false;
    pid_t leader = getpid();
    pid = fork();
    if (pid == 0) {
      if (!die_with_parent(leader))
        _exit(0);
      // Not the write end of `go`, nor the other helper's: L's death must be
      // an EOF here, whoever else is still alive.
      keep_only_fds({g[0], d[1]});
      set_comm(cookie);
      std::string msg = setup();
      // A credential change clears the parent-death signal: set it again,
      // then make sure L did not die in between (under the neutral comm:
      // getppid is the trigger, and the cookie would make it a capture).
      if (!die_with_parent(leader))
        _exit(0);
      set_comm(cookie);
      msg = std::to_string(proc_view_tid()) + " " + msg + "\n";
      (void)!write(d[1], msg.data(), msg.size());
      while (read_byte(g[0])) {
        offsetprobe_trigger();
        write_byte(d[1]);
      }
      _exit(0);
    }
    close(g[0]);
    close(d[1]);
    go = g[1];
    done = d[0];
    return pid > 0;
  }
  // Reads the setup line: "<id in /proc> <setup's message>".
  void wait_ready() {
    char c;
    std::string line;
    while (read(done, &c, 1) == 1 && c != '\n')
      line += c;
    auto sp = line.find(' ');
    if (sp == std::string::npos)
      return; // died during setup: no id, no message
    proc_id = std::atoi(line.substr(0, sp).c_str());
    error = line.substr(sp + 1);
  }
  void trigger() {
    write_byte(go);
    read_byte(done);
  }
  void kill_now() {
    if (pid > 0)
      kill(pid, SIGKILL);
  }
  void reap() {
    if (pid > 0)
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    pid = -1;
  }
};

} // namespace

namespace {

// L's helpers C and N, started first: their setup (a new network namespace,
// say) runs while L makes the others. C takes the planned credentials and
// loginuid, N unshares its namespaces and moves its mm layout. Exits L (8, 9)
// when one cannot be forked.
void start_chain_helpers(const Cookies &c, const CredPlan &plan, Helper &creds, Helper &unshared) {
  if (!creds.start(c.creds, [&] {
        std::string cred_error, loginuid_error;
        take_credentials(plan, cred_error, loginuid_error);
        return (cred_error.empty() ? "-" : cred_error) + " " +
               (loginuid_error.empty() ? "-" : loginuid_error);
      }))
    _exit(8);
  if (!unshared.start(c.unshared, [] {
        std::string err = unshare_namespaces();
        auto mm = own_mm_layout();
        std::string mm_err = mm ? move_mm_layout(*mm) : "mm_map:stat";
        if (!mm_err.empty())
          append_error(err, mm_err);
        return err;
      }))
    _exit(9);
}

// G: forked by L; waits for "go" on `go`, triggers, says so on `done`, then
// sleeps until killed. Returns its pid once it has set its comm, with its
// fork window and its id in /proc in `rep`; L keeps go's write end and
// done's read end. Exits L (4, 5, kLeaderLostGrandchild) on failure.
pid_t fork_grandchild(const Cookies &c, SubjectReport &rep, int &go, int &done) {
  int g_go[2], g_done[2];
  if (pipe2(g_go, O_CLOEXEC) || pipe2(g_done, O_CLOEXEC))
    _exit(4);
  ClockPair g_clock;
  g_clock.begin();
  pid_t leader = getpid();
  pid_t g = fork();
  if (g == 0) {
    if (!die_with_parent(leader))
      _exit(0);
    keep_only_fds({g_go[0], g_done[1]});
    set_comm(c.grandchild);
    run_in_subject(Role::grandchild);
    int32_t id = proc_view_tid(); // and says so with its id in /proc
    (void)!write(g_done[1], &id, sizeof(id));
    if (read_byte(g_go[0]))
      offsetprobe_trigger();
    write_byte(g_done[1]);
    // Alive (for /proc reads) until L kills it, or until L is gone: only L
    // holds the write end of go, so its death is EOF here.
    while (read_byte(g_go[0])) {
    }
    _exit(0);
  }
  g_clock.end();
  if (g < 0)
    _exit(5);
  // G's ends. Held here, g_done's write end would keep our reads of it from
  // ever seeing G's death: we would wait for the calibrator's --timeout
  // instead of saying at once that G died.
  close(g_go[0]);
  close(g_done[1]);
  go = g_go[1];
  done = g_done[0];
  rep.grandchild_pid = g;
  rep.grandchild_mono = g_clock.mono;
  rep.grandchild_boot = g_clock.boot;
  int32_t g_proc = 0; // G has set its comm
  ssize_t got;
  while ((got = read(done, &g_proc, sizeof(g_proc))) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof(g_proc)))
    _exit(kLeaderLostGrandchild); // C and N go too: our death is their EOF
  rep.proc_grandchild = g_proc;
  return g;
}

// What C and N said at the end of their setup, into L's report.
void report_chain_helpers(bool chains, Helper &creds, Helper &unshared, SubjectReport &rep) {
  if (chains) {
    creds.wait_ready();
    unshared.wait_ready();
  }
  rep.creds_pid = chains ? creds.pid : 0;
  rep.unshared_pid = chains ? unshared.pid : 0;
  rep.proc_creds = chains ? creds.proc_id : 0;
  rep.proc_unshared = chains ? unshared.proc_id : 0;
  if (chains) {
    std::istringstream is(creds.error);
    std::string ce, le;
    is >> ce >> le;
    rep.creds_error = ce == "-" ? "" : ce;
    rep.loginuid_error = le == "-" || le.empty() ? "" : le;
    if (ce.empty())
      rep.creds_error = "setup:died";
  }
  rep.unshare_error = unshared.error;
}

// E: forked by L, exits at once with the chosen code (its exit is its
// capture, so it comes after "go"); reaped here. Exits L (6) on failure.
void run_exiter(const Cookies &c, int exit_status, SubjectReport &rep) {
  ClockPair e_clock;
  e_clock.begin();
  pid_t e = fork();
  if (e == 0) {
    set_comm(c.exiter);
    _exit(exit_status);
  }
  e_clock.end();
  if (e < 0)
    _exit(6);
  rep.exiter_pid = e;
  rep.exiter_mono = e_clock.mono;
  rep.exiter_boot = e_clock.boot;
  int status = 0;
  while (waitpid(e, &status, 0) < 0 && errno == EINTR) {
  }
}

// Each byte on ctl: trigger L, C and N again (the chain stage) and say
// "again". EOF: return. The calibrator reads /proc/<pid>/... meanwhile.
// Exits L (7) when it cannot write.
void serve_retriggers(int index, bool chains, Helper &creds, Helper &unshared, int ctl, int out) {
  for (;;) {
    char b;
    ssize_t n = read(ctl, &b, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    offsetprobe_trigger();
    if (chains) {
      creds.trigger();
      unshared.trigger();
    }
    std::string again = std::to_string(index) + " again\n";
    if (write(out, again.data(), again.size()) != static_cast<ssize_t>(again.size()))
      _exit(7);
  }
}

} // namespace

// The leader L of one trial, forked by the host. Runs the experiment, writes
// its report to `out` (one write, shorter than PIPE_BUF, so lines of several
// leaders never interleave), then waits for EOF on `ctl` and cleans up.
[[noreturn]] void run_leader(int index, const Cookies &c, int exit_status, const CredPlan &plan,
                             bool hold, int ctl, int out) {
  set_comm(c.leader);
  // What the families set in each subject (Family::in_subject): before the
  // forks, so that C, N and E start from L's settings.
  run_in_subject(Role::leader);
  // A write to the pipe of a dead G (or of a dead calibrator) then fails
  // with EPIPE, which we report, instead of killing us without a word.
  signal(SIGPIPE, SIG_IGN);
  SubjectReport rep;
  // Move the program break, so that mm->brk != mm->start_brk in our mm and
  // start_brk has no twin next to it.
  (void)!sbrk(4096);

  // C and N first: their setup (a new network namespace, say) runs while we
  // make the others.
  Helper creds, unshared;
  // "-" as C's cookie: the calibration wants task_struct's own fields only.
  const bool chains = c.creds != "-";
  if (chains)
    start_chain_helpers(c, plan, creds, unshared);

  // G: forked by L; waits for "go", triggers, then sleeps until killed.
  int g_go = -1, g_done = -1;
  pid_t g = fork_grandchild(c, rep, g_go, g_done);

  // T: a thread of L. It sets its own comm, seizes G (so that G's parent is T
  // while its real_parent stays L), and triggers when asked.
  std::binary_semaphore t_go(0), t_done(0), t_exit(0);
  ClockPair t_clock;
  pid_t t_tid = 0;
  int32_t t_proc = 0;
  int trace_errno = 0;
  t_clock.begin();
  std::thread t([&] {
    t_tid = static_cast<pid_t>(syscall(SYS_gettid));
    t_proc = proc_view_tid();
    set_comm(c.thread);
    run_in_subject(Role::thread);
    if (ptrace(PTRACE_SEIZE, g, nullptr, nullptr) != 0)
      trace_errno = errno;
    t_done.release();
    t_go.acquire();
    offsetprobe_trigger();
    t_done.release();
    t_exit.acquire();
    // Leaving the thread ends the ptrace link; G goes back to L.
  });
  t_clock.end();
  rep.thread_mono = t_clock.mono;
  rep.thread_boot = t_clock.boot;
  t_done.acquire();
  rep.thread_tid = t_tid;
  rep.proc_thread = t_proc;
  rep.proc_leader = proc_view_tid();
  rep.traced = trace_errno == 0;
  if (!rep.traced)
    rep.trace_error = std::string("PTRACE_SEIZE:") + strerrorname_np(trace_errno);

  report_chain_helpers(chains, creds, unshared, rep);

  int status = 0;
  // Every kill first, then the waits: the exits (N's takes its namespaces
  // down) run side by side rather than one after another.
  auto clean_up = [&] {
    creds.kill_now();
    unshared.kill_now();
    kill(g, SIGKILL);
    t_exit.release();
    t.join();
    creds.reap();
    unshared.reap();
    while (waitpid(g, &status, 0) < 0 && errno == EINTR) {
    }
  };
  // Held (a validation subject made ahead of time): everything is set up;
  // wait for "go" (one byte on ctl) before anything triggers. EOF: end.
  if (hold) {
    char b;
    ssize_t n;
    while ((n = read(ctl, &b, 1)) < 0 && errno == EINTR) {
    }
    if (n <= 0) {
      clean_up();
      _exit(0);
    }
  }

  // E: forked by L, exits at once with the chosen code (its exit is its
  // capture, so it comes after "go").
  run_exiter(c, exit_status, rep);

  // The captures: L, T, then G (after the seize), C, N.
  offsetprobe_trigger();
  t_go.release();
  t_done.acquire();
  write_byte(g_go);
  if (!read_byte(g_done))
    _exit(kLeaderLostGrandchild);
  if (chains) {
    creds.trigger();
    unshared.trigger();
  }

  std::string line = std::to_string(index) + " " + format_report(rep) + "\n";
  if (write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    _exit(7);

  // Each byte on ctl: trigger L, C and N again (the chain stage). EOF: end.
  serve_retriggers(index, chains, creds, unshared, ctl, out);
  clean_up();
  _exit(0);
}

} // namespace offsetprobe
