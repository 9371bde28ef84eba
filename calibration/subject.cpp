// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/subject.h"
#include "calibration/catalogue.h"
#include "calibration/subject_group.h"

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
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <linux/prctl.h>
#include <sys/fsuid.h>
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

void write_window(std::ostringstream &os, const char *name, const Window &w) {
  os << ' ' << name << '=' << w.lo << ':' << w.hi;
}

std::string err_name(int err) {
  const char *n = strerrorname_np(err);
  if (n)
    return n;
  std::string s = std::to_string(err);
  s.insert(s.begin(), 'E'); // not "E" + ...: GCC 12's -Wrestrict false positive
  return s;
}

void append_error(std::string &to, const std::string &what) {
  to += (to.empty() ? "" : ",") + what;
}

// Raises CAP_SETUID in the effective set again after setresuid() to non-zero
// ids cleared it (PR_SET_KEEPCAPS kept it in the permitted set).
bool raise_setuid_cap() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0)
    return false;
  constexpr int cap_setuid = 7;
  data[0].effective |= 1u << cap_setuid;
  return syscall(SYS_capset, &hdr, data) == 0;
}

// C: loginuid first (writing it needs CAP_AUDIT_CONTROL, which setresuid to
// non-zero ids takes away), then gids (while still root), then uids, then
// fsuid (needs CAP_SETUID back: setresuid resets fsuid to euid). Returns the
// errors as "what:ERRNO" tokens.
void take_credentials(const CredPlan &p, std::string &cred_error, std::string &loginuid_error) {
  int fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    loginuid_error = "open:" + err_name(errno);
  } else {
    std::string v = std::to_string(p.loginuid);
    if (write(fd, v.data(), v.size()) != static_cast<ssize_t>(v.size()))
      loginuid_error = "write:" + err_name(errno);
    close(fd);
  }
  const uint32_t *id = p.ids; // uid gid suid sgid euid egid fsuid fsgid
  if (setresgid(id[1], id[5], id[3]) != 0)
    return append_error(cred_error, "setresgid:" + err_name(errno));
  setfsgid(id[7]);
  if (static_cast<uint32_t>(setfsgid(static_cast<gid_t>(-1))) != id[7])
    return append_error(cred_error, "setfsgid:EPERM");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return append_error(cred_error, "keepcaps:" + err_name(errno));
  if (setresuid(id[0], id[4], id[2]) != 0)
    return append_error(cred_error, "setresuid:" + err_name(errno));
  if (!raise_setuid_cap())
    return append_error(cred_error, "capset:" + err_name(errno));
  setfsuid(id[6]);
  if (static_cast<uint32_t>(setfsuid(static_cast<uid_t>(-1))) != id[6])
    append_error(cred_error, "setfsuid:EPERM");
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

// N: one unshare() per namespace, so that one the kernel lacks (EINVAL) or
// refuses does not keep the others from changing. NEWPID and NEWTIME change
// only what children get (pid_ns_for_children, time_ns_for_children).
std::string unshare_namespaces() {
  static const std::pair<int, const char *> flags[] = {
      {CLONE_NEWUTS, "NEWUTS"},   {CLONE_NEWIPC, "NEWIPC"},       {CLONE_NEWNS, "NEWNS"},
      {CLONE_NEWNET, "NEWNET"},   {CLONE_NEWCGROUP, "NEWCGROUP"}, {CLONE_NEWPID, "NEWPID"},
      {CLONE_NEWTIME, "NEWTIME"},
  };
  std::string err;
  for (auto [flag, name] : flags)
    if (unshare(flag) != 0)
      append_error(err, std::string(name) + ":" + err_name(errno));
  // /proc/<pid>/ns/pid_for_children shows the new pid namespace only once it
  // has a child reaper (pidns_for_children_get()): fork its init, which lives
  // until we die. Not by PR_SET_PDEATHSIG alone: an init that had not run its
  // prctl() yet when we were killed (a loaded machine) outlived us holding
  // the calibrator's pipes. It blocks on a pipe only we hold the write end
  // of: our death, however early, is its EOF.
  int life[2];
  if (pipe(life) != 0) {
    append_error(err, "pipe:" + err_name(errno));
    return err;
  }
  pid_t init = fork();
  if (init == 0) {
    // Its parent is outside its pid namespace (getppid() says 0): the pipe,
    // whose only write end N holds, is its check. It keeps no other
    // descriptor of N's (the pipes to L among them).
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    keep_only_fds({life[0]});
    char c;
    while (read(life[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(life[0]);
  if (init < 0)
    append_error(err, "fork:" + err_name(errno));
  // life[1] stays open (and is inherited by nobody: we fork no more).
  // Its comm is N's cookie until its prctl: it never makes the trigger
  // syscall, so no capture can take it for N.
  return err;
}

// N also moves its mm's layout fields by small random amounts with
// PR_SET_MM_MAP (CONFIG_CHECKPOINT_RESTORE; no capability needed without an
// exe_fd): values then differ per trial, arg_end no longer equals env_start
// (execve() makes them equal) and env_end no longer equals auxv's AT_EXECFN
// (a decoy inside mm->saved_auxv). brk is left alone. Returns "" or the error.
std::string move_mm_layout(const std::array<uint64_t, 10> &now) {
  unsigned char r[10];
  if (getrandom(r, sizeof(r), 0) != sizeof(r))
    return "mm_map:getrandom";
  // now: kMmFields order (start_code end_code start_data end_data start_brk
  // start_stack arg_start arg_end env_start env_end).
  auto d = [&](int i, uint64_t max) { return 1 + r[i] % max; };
  prctl_mm_map m{};
  m.start_code = now[0] + d(0, 255);
  m.end_code = now[1] - d(1, 255);
  m.start_data = now[2] + d(2, 63);
  m.end_data = now[3] - d(3, 63);
  m.start_brk = now[4] + d(4, 63);
  m.brk = reinterpret_cast<uint64_t>(sbrk(0));
  m.start_stack = now[5] - 8 * d(5, 63);
  m.arg_start = now[6] + d(6, 3);
  m.arg_end = now[7] - d(7, 3);
  m.env_start = now[8] + d(8, 3);
  m.env_end = now[9] - d(9, 3);
  m.auxv = nullptr;
  m.auxv_size = 0;
  m.exe_fd = static_cast<uint32_t>(-1);
  // Keep every pair ordered (validate_prctl_map_addr()); fall back to the
  // original value where a range is too small to move into.
  if (m.start_code >= m.end_code)
    m.start_code = now[0], m.end_code = now[1];
  if (m.start_data > m.end_data)
    m.start_data = now[2], m.end_data = now[3];
  if (m.start_brk > m.brk)
    m.start_brk = now[4];
  if (m.arg_start > m.arg_end)
    m.arg_start = now[6], m.arg_end = now[7];
  if (m.env_start > m.env_end)
    m.env_start = now[8], m.env_end = now[9];
  if (prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof(m), 0) != 0)
    return "mm_map:" + err_name(errno);
  return "";
}

// Our own mm layout from /proc/self/stat, kMmFields order.
std::optional<std::array<uint64_t, 10>> own_mm_layout() {
  static constexpr int fields[10] = {26, 27, 45, 46, 47, 28, 48, 49, 50, 51};
  char buf[2048];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return std::nullopt;
  buf[n] = 0;
  const char *p = strrchr(buf, ')');
  if (!p)
    return std::nullopt;
  std::istringstream is(p + 1);
  std::vector<uint64_t> v;
  std::string tok;
  while (is >> tok) {
    char *end = nullptr;
    v.push_back(strtoull(tok.c_str(), &end, 10));
  }
  std::array<uint64_t, 10> out{};
  for (int i = 0; i < 10; i++) {
    size_t at = static_cast<size_t>(fields[i] - 3);
    if (at >= v.size())
      return std::nullopt;
    out[i] = v[at];
  }
  return out;
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

std::string describe_leader_status(int status) {
  if (WIFSIGNALED(status))
    return " (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
  int code = WEXITSTATUS(status);
  return " (exit code " + std::to_string(code) +
         (code == kLeaderLostGrandchild ? ": its grandchild died" : "") + ")";
}

std::string format_report(const SubjectReport &r) {
  std::ostringstream os;
  os << "ready thread_tid=" << r.thread_tid << " grandchild_pid=" << r.grandchild_pid
     << " exiter_pid=" << r.exiter_pid;
  write_window(os, "thread_mono", r.thread_mono);
  write_window(os, "thread_boot", r.thread_boot);
  write_window(os, "grandchild_mono", r.grandchild_mono);
  write_window(os, "grandchild_boot", r.grandchild_boot);
  write_window(os, "exiter_mono", r.exiter_mono);
  write_window(os, "exiter_boot", r.exiter_boot);
  os << " traced=" << (r.traced ? 1 : 0);
  if (!r.traced)
    os << " trace_error=" << r.trace_error;
  auto token = [](const std::string &e) { return e.empty() ? std::string("-") : e; };
  os << " creds_pid=" << r.creds_pid << " unshared_pid=" << r.unshared_pid
     << " creds_error=" << token(r.creds_error) << " loginuid_error=" << token(r.loginuid_error)
     << " unshare_error=" << token(r.unshare_error) << " proc_ids=" << r.proc_leader << ','
     << r.proc_thread << ',' << r.proc_grandchild << ',' << r.proc_creds << ',' << r.proc_unshared;
  return os.str();
}

std::optional<SubjectReport> parse_report(const std::string &line, std::string &error) {
  std::istringstream is(line);
  std::string word;
  if (!(is >> word) || word != "ready") {
    error = "subject said \"" + line.substr(0, 200) + "\" instead of ready";
    return std::nullopt;
  }
  SubjectReport r;
  unsigned seen = 0;
  auto window = [&](const std::string &v, Window &w) {
    return std::sscanf(v.c_str(), "%" SCNu64 ":%" SCNu64, &w.lo, &w.hi) == 2 && w.lo <= w.hi;
  };
  while (is >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos)
      continue;
    std::string k = word.substr(0, eq), v = word.substr(eq + 1);
    bool ok = true;
    if (k == "thread_tid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.thread_tid) == 1, seen |= 1;
    else if (k == "grandchild_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.grandchild_pid) == 1, seen |= 2;
    else if (k == "exiter_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.exiter_pid) == 1, seen |= 4;
    else if (k == "thread_mono")
      ok = window(v, r.thread_mono), seen |= 8;
    else if (k == "thread_boot")
      ok = window(v, r.thread_boot), seen |= 16;
    else if (k == "grandchild_mono")
      ok = window(v, r.grandchild_mono), seen |= 32;
    else if (k == "grandchild_boot")
      ok = window(v, r.grandchild_boot), seen |= 64;
    else if (k == "exiter_mono")
      ok = window(v, r.exiter_mono), seen |= 128;
    else if (k == "exiter_boot")
      ok = window(v, r.exiter_boot), seen |= 256;
    else if (k == "traced")
      r.traced = v == "1", seen |= 512;
    else if (k == "trace_error")
      r.trace_error = v;
    else if (k == "creds_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.creds_pid) == 1, seen |= 1024;
    else if (k == "unshared_pid")
      ok = std::sscanf(v.c_str(), "%" SCNd32, &r.unshared_pid) == 1, seen |= 2048;
    else if (k == "creds_error")
      r.creds_error = v == "-" ? "" : v, seen |= 4096;
    else if (k == "loginuid_error")
      r.loginuid_error = v == "-" ? "" : v, seen |= 8192;
    else if (k == "unshare_error")
      r.unshare_error = v == "-" ? "" : v, seen |= 16384;
    else if (k == "proc_ids")
      ok = std::sscanf(v.c_str(), "%" SCNd32 ",%" SCNd32 ",%" SCNd32 ",%" SCNd32 ",%" SCNd32,
                       &r.proc_leader, &r.proc_thread, &r.proc_grandchild, &r.proc_creds,
                       &r.proc_unshared) == 5,
      seen |= 32768;
    if (!ok) {
      error = "subject report has a bad value for " + k;
      return std::nullopt;
    }
  }
  if (seen != 65535) {
    error = "subject report is incomplete: \"" + line.substr(0, 200) + "\"";
    return std::nullopt;
  }
  return r;
}

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
