// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/subject.h"
#include "calibration/catalogue.h"
#include "calibration/subject_group.h"
#include "calibration/subject_roles.h"

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

uint64_t now_ns(clockid_t clk) {
  timespec ts{};
  clock_gettime(clk, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// Both clocks, read before (lo) and after (hi) an event that starts a task.
struct ClockPair {
  Window mono, boot;
  void begin() {
    mono.lo = now_ns(CLOCK_MONOTONIC);
    boot.lo = now_ns(CLOCK_BOOTTIME);
  }
  void end() {
    // copy_process() reads the monotonic clock first, then the boottime
    // clock; reading ours in the opposite order keeps both inside.
    boot.hi = now_ns(CLOCK_BOOTTIME);
    mono.hi = now_ns(CLOCK_MONOTONIC);
  }
};

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

void write_byte(int fd) {
  char c = 'x';
  while (write(fd, &c, 1) < 0 && errno == EINTR) {
  }
}

// This task's id as the mounted /proc numbers it: the last number of
// /proc/thread-self ("<pid>/task/<tid>"), or 0 when /proc does not show us.
int32_t proc_view_tid() {
  char buf[64] = {};
  ssize_t n = readlink("/proc/thread-self", buf, sizeof(buf) - 1);
  if (n <= 0)
    return 0;
  const char *last = std::strrchr(buf, '/');
  int32_t id = 0;
  return std::sscanf(last ? last + 1 : buf, "%" SCNd32, &id) == 1 && id > 0 ? id : 0;
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

// The leader L of one trial, forked by the host. Runs the experiment, writes
// its report to `out` (one write, shorter than PIPE_BUF, so lines of several
// leaders never interleave), then waits for EOF on `ctl` and cleans up.
[[noreturn]] void run_leader(int index, const Cookies &c, int exit_code, const CredPlan &plan,
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
  std::string loginuid_error;
  Helper creds, unshared;
  // "-" as C's cookie: the calibration wants task_struct's own fields only.
  const bool chains = c.creds != "-";
  if (chains && !creds.start(c.creds, [&] {
        std::string cred_error;
        take_credentials(plan, cred_error, loginuid_error);
        return (cred_error.empty() ? "-" : cred_error) + " " +
               (loginuid_error.empty() ? "-" : loginuid_error);
      }))
    _exit(8);
  if (chains && !unshared.start(c.unshared, [] {
        std::string err = unshare_namespaces();
        auto mm = own_mm_layout();
        std::string mm_err = mm ? move_mm_layout(*mm) : "mm_map:stat";
        if (!mm_err.empty())
          append_error(err, mm_err);
        return err;
      }))
    _exit(9);

  // G: forked by L; waits for "go", triggers, then sleeps until killed.
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
  rep.grandchild_pid = g;
  rep.grandchild_mono = g_clock.mono;
  rep.grandchild_boot = g_clock.boot;
  int32_t g_proc = 0; // G has set its comm
  ssize_t got;
  while ((got = read(g_done[0], &g_proc, sizeof(g_proc))) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof(g_proc)))
    _exit(kLeaderLostGrandchild); // C and N go too: our death is their EOF
  rep.proc_grandchild = g_proc;

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
  ClockPair e_clock;
  e_clock.begin();
  pid_t e = fork();
  if (e == 0) {
    set_comm(c.exiter);
    _exit(exit_code);
  }
  e_clock.end();
  if (e < 0)
    _exit(6);
  rep.exiter_pid = e;
  rep.exiter_mono = e_clock.mono;
  rep.exiter_boot = e_clock.boot;
  while (waitpid(e, &status, 0) < 0 && errno == EINTR) {
  }

  // The captures: L, T, then G (after the seize), C, N.
  offsetprobe_trigger();
  t_go.release();
  t_done.acquire();
  write_byte(g_go[1]);
  if (!read_byte(g_done[0]))
    _exit(kLeaderLostGrandchild);
  if (chains) {
    creds.trigger();
    unshared.trigger();
  }

  std::string line = std::to_string(index) + " " + format_report(rep) + "\n";
  if (write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    _exit(7);

  // Each byte on ctl: trigger L, C and N again (the chain stage) and say
  // "again". EOF: end. The calibrator reads /proc/<pid>/... meanwhile.
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
  clean_up();
  _exit(0);
}

struct LeaderSlot {
  pid_t pid = 0;
  int ctl = -1; // write end; closing it releases the leader
};

void say(const std::string &line) {
  std::string l = line + "\n";
  (void)!write(STDOUT_FILENO, l.data(), l.size());
}

} // namespace

// The subject host: started once per calibration (Boost.Process), it forks
// one leader per trial on command, so a trial costs a fork rather than an
// exec. Commands on stdin, one per line:
//   trial <index> <cookie_L> <cookie_T> <cookie_G> <cookie_E> <exit_code>
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
  if (argc != 3) {
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
        Cookies c;
        int code = 0;
        CredPlan plan;
        bool ok = static_cast<bool>(is >> c.leader >> c.thread >> c.grandchild >> c.exiter >>
                                    code >> c.creds >> c.unshared);
        for (auto &id : plan.ids)
          ok = ok && static_cast<bool>(is >> id);
        ok = ok && static_cast<bool>(is >> plan.loginuid);
        if (!ok || leaders.count(index)) {
          say(std::to_string(index) + " error bad-trial-command");
          continue;
        }
        int ctl[2];
        if (pipe2(ctl, O_CLOEXEC)) {
          say(std::to_string(index) + " error pipe");
          continue;
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
          continue;
        }
        leaders[index] = LeaderSlot{pid, ctl[1]};
        std::ostringstream os;
        os << index << " spawned " << pid << ' ' << clock.mono.lo << ':' << clock.mono.hi << ' '
           << clock.boot.lo << ':' << clock.boot.hi;
        say(os.str());
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
