// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/calibrator.h"

#include "calibration/catalogue.h"
#include "calibration/chains.h"
#include "calibration/families/families.h"
#include "calibration/files/experiment.h"
#include "calibration/error.h"
#include "calibration/readback_check.h"
#include "calibration/layout_order.h"
#include "calibration/net/net_experiment.h"
#include "calibration/solver.h"
#include "calibration/subject.h"
#include "calibration/subject_group.h"
#include "offsetprobe/exit_codes.h"

#include "chainscan.h"
#include "reader.h"

#include <boost/process/child.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/posix.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <semaphore>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bp = boost::process;

namespace offsetprobe {

TimeNsOffsets read_timens_offsets() {
  TimeNsOffsets out;
  std::ifstream f("/proc/self/timens_offsets");
  std::string name;
  int64_t sec = 0, nsec = 0;
  while (f >> name >> sec >> nsec) {
    int64_t ns = sec * 1'000'000'000 + nsec;
    if (name == "monotonic")
      out.monotonic_ns = ns;
    else if (name == "boottime")
      out.boottime_ns = ns;
  }
  return out;
}

std::optional<uint64_t> read_start_ticks(const std::string &stat_path) {
  std::ifstream f(stat_path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = s.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream is(s.substr(close + 1));
  std::string tok;
  // Field 3 is the first after ')'; field 22 is the 20th.
  for (int field = 3; field <= 22; field++)
    if (!(is >> tok))
      return std::nullopt;
  try {
    return std::stoull(tok);
  } catch (...) {
    return std::nullopt;
  }
}

namespace {

// Fields 3.. of /proc/<pid>/stat (after the comm's last ')'), or empty.
std::vector<std::string> stat_fields(const std::string &stat_path) {
  std::ifstream f(stat_path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = s.rfind(')');
  std::vector<std::string> out;
  if (close == std::string::npos)
    return out;
  std::istringstream is(s.substr(close + 1));
  std::string tok;
  while (is >> tok)
    out.push_back(tok);
  return out;
}

std::optional<uint32_t> read_u32_file(const std::string &path) {
  std::ifstream f(path);
  uint64_t v = 0;
  if (!(f >> v) || v > UINT32_MAX)
    return std::nullopt;
  return static_cast<uint32_t>(v);
}

// Inode numbers of /proc/<pid>/ns/* (ns_common.inum), for the kinds present.
std::map<std::string, uint32_t> read_ns_inums(int pid) {
  std::map<std::string, uint32_t> out;
  for (const auto &k : kNsKinds) {
    struct stat st {};
    std::string path = "/proc/" + std::to_string(pid) + "/ns/" + k.proc;
    if (::stat(path.c_str(), &st) == 0)
      out[k.proc] = static_cast<uint32_t>(st.st_ino);
  }
  return out;
}

} // namespace

std::optional<std::array<uint64_t, 10>> read_mm_stat(const std::string &stat_path) {
  auto f = stat_fields(stat_path);
  std::array<uint64_t, 10> out{};
  for (size_t i = 0; i < kMmStatFields.size(); i++) {
    size_t at = static_cast<size_t>(kMmStatFields[i] - 3); // f[0] is field 3
    if (at >= f.size())
      return std::nullopt;
    try {
      out[i] = std::stoull(f[at]);
    } catch (...) {
      return std::nullopt;
    }
  }
  // An unprivileged reader sees zeros (or 1 for the code range): useless.
  if (out[0] <= 1 || out[7] == 0)
    return std::nullopt;
  return out;
}

std::optional<std::array<uint32_t, 8>> read_cred_ids(const std::string &status_path) {
  std::ifstream f(status_path);
  std::string line;
  uint32_t uid[4], gid[4];
  unsigned seen = 0;
  while (std::getline(f, line)) {
    uint32_t *dst = line.rfind("Uid:", 0) == 0 ? uid : line.rfind("Gid:", 0) == 0 ? gid : nullptr;
    if (!dst)
      continue;
    std::istringstream is(line.substr(4));
    if (is >> dst[0] >> dst[1] >> dst[2] >> dst[3])
      seen |= dst == uid ? 1 : 2;
  }
  if (seen != 3)
    return std::nullopt;
  // real, effective, saved, fs -> uid gid suid sgid euid egid fsuid fsgid
  return std::array<uint32_t, 8>{uid[0], gid[0], uid[2], gid[2], uid[1], gid[1], uid[3], gid[3]};
}

namespace {

using Clock = std::chrono::steady_clock;

void throw_if_stopped(const CalibrateOptions &opt) {
  if (!opt.stop_signal)
    return;
  int sig = opt.stop_signal->load();
  if (sig == SIGINT)
    throw Fatal(exit_interrupted, "interrupted (SIGINT): calibration stopped, nothing written");
  if (sig != 0)
    throw Fatal(exit_terminated, "terminated (signal " + std::to_string(sig) +
                                     "): calibration stopped, nothing written");
}

// The subject host process (a re-execution of this binary in subject mode)
// and its pipes. The host leads a process group that every subject inherits
// (calibration/subject_group.h); the destructor kills that group and reaps
// all of it: no subject outlives the calibration, none is left a zombie.
class SubjectHost {
public:
  explicit SubjectHost(const CalibrateOptions &opt) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
      throw Fatal(exit_failure, std::string("pipe: ") + std::strerror(errno));
    in_ = in[1];
    out_ = out[0];
    const pid_t self = ::getpid();
    try {
      // Between fork and exec (async-signal-safe calls only): a group of its
      // own, and the parent-death signal with the check that we did not die
      // before it was set (it survives exec; the host sets it again anyway).
      child_ =
          bp::child(opt.self_exe, kSubjectArg, std::to_string(self), bp::posix::fd.bind(0, in[0]),
                    bp::posix::fd.bind(1, out[1]), bp::extend::on_exec_setup([self](auto &) {
                      ::setpgid(0, 0);
                      if (!die_with_parent(self))
                        ::_exit(127);
                    }));
      group_.adopt(child_.id());
    } catch (const std::exception &e) {
      ::close(in[0]);
      ::close(out[1]);
      throw Fatal(exit_subject,
                  std::string("starting the subject host (") + opt.self_exe + "): " + e.what());
    }
    ::close(in[0]);
    ::close(out[1]);
  }

  ~SubjectHost() {
    close_stdin();
    if (out_ >= 0)
      ::close(out_);
    // After finish() only stragglers are left (the unshared subject's pid
    // namespace init, say); on an error or a stop, everything: either way the
    // whole group dies now. The host is reaped through child_ (which keeps
    // its status), the rest by the group.
    std::error_code ec;
    if (group_.pgid() > 0)
      ::kill(-group_.pgid(), SIGKILL);
    if (child_.valid())
      child_.wait(ec);
    group_.end();
  }
  SubjectHost(const SubjectHost &) = delete;
  SubjectHost &operator=(const SubjectHost &) = delete;

  int pid() const { return child_.id(); }

  void send(const std::string &line) {
    std::string l = line + "\n";
    if (::write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
      throw Fatal(exit_subject, "the subject host is gone" + exit_description());
  }

  // Reads the next line about one of the leaders `indices` (the line's
  // first word), or any leader's death. Lines about other leaders (a held
  // validation subject's spawn, say) wait in order for a later call.
  std::string read_line_for(const CalibrateOptions &opt, Clock::time_point deadline,
                            const std::vector<int> &indices) {
    auto about = [&](const std::string &line) {
      std::istringstream is(line);
      int index = -1;
      std::string what;
      is >> index >> what;
      return what == "died" || std::count(indices.begin(), indices.end(), index) > 0;
    };
    for (auto it = pending_.begin(); it != pending_.end(); ++it)
      if (about(*it)) {
        std::string line = *it;
        pending_.erase(it);
        return line;
      }
    for (;;) {
      std::string line = read_line(opt, deadline);
      if (about(line))
        return line;
      pending_.push_back(line);
    }
  }

  // Reads one line; the deadline covers a hung subject, the stop flag Ctrl-C.
  std::string read_line(const CalibrateOptions &opt, Clock::time_point deadline) {
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      throw_if_stopped(opt);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      // Past the deadline, one more look without waiting before calling it a
      // hang: an answer that came while we were not reading (stopped,
      // descheduled on a loaded machine), a subject's death say, is reported
      // as what it is, not as a timeout.
      pollfd p{out_, POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::clamp<long>(left.count(), 0, 50)));
      if (n < 0 && errno != EINTR)
        throw Fatal(exit_failure, std::string("poll: ") + std::strerror(errno));
      if (n == 0 && left.count() <= 0)
        throw Fatal(exit_subject, "a subject did not answer within " +
                                      std::to_string(opt.subject_timeout_ms) +
                                      " ms (hung?); on a very slow machine raise --timeout");
      if (n <= 0)
        continue;
      char chunk[1024];
      ssize_t r = ::read(out_, chunk, sizeof(chunk));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        throw Fatal(exit_subject, "the subject host died" + exit_description());
      buf_.append(chunk, static_cast<size_t>(r));
    }
  }

  // EOF on its stdin: the host kills what is left, reaps, and exits.
  void finish(const CalibrateOptions &opt) {
    close_stdin();
    auto deadline = Clock::now() + std::chrono::milliseconds(opt.subject_timeout_ms);
    std::error_code ec;
    bool killed = false;
    while (child_.running(ec)) {
      if (Clock::now() > deadline) {
        ::kill(child_.id(), SIGKILL);
        killed = true;
        break;
      }
      ::usleep(100);
    }
    child_.wait(ec);
    // Hung only if our SIGKILL is what ended it: a host that exited (or
    // died) by itself between the last look and the deadline is reported as
    // that, not as a hang.
    int status = child_.native_exit_code();
    bool hung = killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    // Whatever the host could not reap (orphans of its leaders came to us,
    // the subreaper) dies and is reaped here, before we report anything.
    std::string left = group_.end(opt.subject_timeout_ms);
    if (!left.empty())
      throw Fatal(exit_subject, left);
    // It has nothing left to do but kill and reap its leaders: one that
    // cannot is hung (stopped, say), and a hung subject is an error (exit 9)
    // wherever it happens, not only while we wait for an answer.
    if (hung)
      throw Fatal(exit_subject, "the subject host did not exit within " +
                                    std::to_string(opt.subject_timeout_ms) +
                                    " ms of the end of the calibration (hung?); it was killed");
    // A host that did not end by itself (exit 0 on EOF) died under us: the
    // subjects may have gone with it while they were being read.
    int native = child_.native_exit_code();
    if (WIFSIGNALED(native) || WEXITSTATUS(native) != 0)
      throw Fatal(exit_subject,
                  "the subject host died during the calibration" + exit_description());
  }

private:
  void close_stdin() {
    if (in_ >= 0)
      ::close(in_);
    in_ = -1;
  }
  std::string exit_description() {
    std::error_code ec;
    if (child_.valid() && !child_.running(ec)) {
      int native = child_.native_exit_code();
      if (WIFSIGNALED(native))
        return " (killed by signal " + std::to_string(WTERMSIG(native)) + ")";
      return " (exit code " + std::to_string(WEXITSTATUS(native)) + ")";
    }
    return "";
  }

  SubjectGroup group_; // first: we are the subreaper before the host exists
  bp::child child_;
  int in_ = -1, out_ = -1;
  std::string buf_;
  std::deque<std::string> pending_; // see read_line_for
};

int random_exit_code() {
  unsigned char b = 0;
  while (getrandom(&b, 1, 0) != 1) {
  }
  return 1 + b % 254; // 1..254: never 0, never 255 (a common generic failure)
}

Cookies fresh_cookies() {
  return Cookies{make_cookie(), make_cookie(), make_cookie(),
                 make_cookie(), make_cookie(), make_cookie()};
}

// Distinct, unusual ids for C: a random base in [1e6, 9e6), then +1..+8 in
// struct cred's order, and a loginuid beyond them. Random per trial, so a
// decoy that matches one trial's value is dropped by the others.
CredPlan fresh_cred_plan() {
  uint32_t r = 0;
  while (getrandom(&r, sizeof(r), 0) != sizeof(r)) {
  }
  uint32_t base = 1'000'000 + r % 8'000'000;
  CredPlan p;
  for (uint32_t i = 0; i < 8; i++)
    p.ids[i] = base + 1 + i;
  p.loginuid = base + 20;
  return p;
}

Window shift(Window w, int64_t offset) {
  w.lo = static_cast<uint64_t>(static_cast<int64_t>(w.lo) - offset);
  w.hi = static_cast<uint64_t>(static_cast<int64_t>(w.hi) - offset);
  return w;
}

// One leader subject (one trial) and everything known about it.
struct Launched {
  int index = 0;
  Cookies cookies;
  int exit_code = 0;
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

std::vector<int> pids_of(const SubjectHost &host, const std::vector<Launched *> &subjects) {
  std::vector<int> p{host.pid()};
  for (auto *l : subjects)
    if (l->pid)
      p.push_back(l->pid);
  return p;
}

// True when /proc belongs to our pid namespace (/proc/self is our pid).
bool proc_matches_pid_namespace() {
  char buf[32] = {};
  ssize_t n = ::readlink("/proc/self", buf, sizeof(buf) - 1);
  return n > 0 && std::string(buf, static_cast<size_t>(n)) == std::to_string(::getpid());
}

bool parse_window(const std::string &s, Window &w) {
  return std::sscanf(s.c_str(), "%" SCNu64 ":%" SCNu64, &w.lo, &w.hi) == 2 && w.lo <= w.hi;
}

// The host's trial/prepare command arguments for leader `l`.
std::string leader_args(const Launched &l) {
  const auto &c = l.cookies;
  std::string ids;
  for (uint32_t id : l.cred_plan.ids)
    ids += " " + std::to_string(id);
  return std::to_string(l.index) + " " + c.leader + " " + c.thread + " " + c.grandchild + " " +
         c.exiter + " " + std::to_string(l.exit_code) + " " + c.creds + " " + c.unshared + ids +
         " " + std::to_string(l.cred_plan.loginuid);
}

// Has the host fork the subjects' leaders now and set them up, held before
// anything triggers: run_subjects() later only says "go". Their setup (forks,
// a thread, new credentials and namespaces) then overlaps other work.
void prepare_subjects(SubjectHost &host, const std::vector<Launched *> &subjects) {
  for (auto *l : subjects) {
    host.send("prepare " + leader_args(*l));
    l->held = true;
  }
}

// Lets each selected family with an observe hook read its known values of
// L, T and G from /proc (their ids as the mounted /proc numbers them).
void observe_families(const FieldSelection &sel, Launched &l, int leader, int thread,
                      int grandchild) {
  for (const auto &fam : catalogue()) {
    if (!fam.observe || !sel.has_family(fam))
      continue;
    auto task = [](int pid, int tid) {
      return "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
    };
    if (leader)
      fam.observe(Role::leader, task(leader, leader), l.observed[Role::leader]);
    if (leader && thread)
      fam.observe(Role::thread, task(leader, thread), l.observed[Role::thread]);
    if (grandchild)
      fam.observe(Role::grandchild, task(grandchild, grandchild), l.observed[Role::grandchild]);
  }
}

// Registers the subjects' cookies (through `register_cookies`), has the host
// fork their leaders (or says "go" to held ones), and waits until each is
// ready; reads their start ticks from /proc while they are alive. Throws
// Fatal(exit_subject) when one dies.
void run_subjects(const CalibrateOptions &opt, SubjectHost &host, const std::string &phase,
                  const std::vector<Launched *> &subjects,
                  const std::function<void(const Cookies &)> &register_cookies) {
  for (auto *l : subjects)
    register_cookies(l->cookies);
  std::vector<int> indices;
  for (auto *l : subjects) {
    host.send(l->held ? "go " + std::to_string(l->index) : "trial " + leader_args(*l));
    indices.push_back(l->index);
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(opt.subject_timeout_ms);
  size_t ready = 0;
  bool announced = false;
  while (ready < subjects.size()) {
    std::string line = host.read_line_for(opt, deadline, indices);
    std::istringstream is(line);
    int index = -1;
    std::string what;
    is >> index >> what;
    Launched *l = nullptr;
    for (auto *x : subjects)
      if (x->index == index)
        l = x;
    if (!l && what == "died") { // a trial's leader, dead before its release
      int status = 0;
      is >> status;
      throw Fatal(exit_subject, "the leader of trial " + std::to_string(index) +
                                    " died during the experiment" + describe_leader_status(status));
    }
    if (!l)
      throw Fatal(exit_subject, "the subject host said \"" + line.substr(0, 200) + "\"");
    if (what == "spawned") {
      std::string mono, boot;
      if (!(is >> l->pid >> mono >> boot) || !parse_window(mono, l->mono) ||
          !parse_window(boot, l->boot))
        throw Fatal(exit_subject, "bad spawn report \"" + line.substr(0, 200) + "\"");
      l->spawned = true;
    } else if (what == "ready") {
      std::string error;
      auto rep = parse_report(line.substr(line.find("ready")), error);
      if (!rep)
        throw Fatal(exit_subject, "subject " + std::to_string(l->pid) + ": " + error);
      l->report = *rep;
      l->ready = true;
      ready++;
    } else if (what == "died") {
      int status = 0;
      is >> status;
      throw Fatal(exit_subject, "subject " + std::to_string(l->pid) +
                                    " died during the experiment" + describe_leader_status(status));
    } else {
      throw Fatal(exit_subject, "the subject host said \"" + line.substr(0, 200) + "\"");
    }
    if (!announced && opt.on_stage &&
        std::all_of(subjects.begin(), subjects.end(), [](auto *x) { return x->spawned; })) {
      announced = true;
      opt.on_stage(phase + "-spawned", pids_of(host, subjects));
    }
  }
  // In a new pid namespace whose /proc was not remounted (unshare -p -f
  // without --mount-proc), /proc/<pid> names another process, the one with
  // that pid in the outer namespace (its start ticks once contradicted the
  // subjects' and start_boottime came out unresolved). So each subject says
  // which id the mounted /proc gives it (/proc/thread-self), and that is the
  // one read. Where it could not tell (0), our own id is read only from a
  // /proc of our own namespace; without either, the windows decide and the
  // chains are unresolved.
  bool proc_is_ours = proc_matches_pid_namespace();
  auto view = [proc_is_ours](int32_t reported, int ours) {
    return reported > 0 ? reported : proc_is_ours ? ours : 0;
  };
  for (auto *l : subjects) {
    if (!l->spawned) // "ready" came first: the spawn line must follow
      throw Fatal(exit_subject, "subject " + std::to_string(l->index) + " was never announced");
    const auto &r = l->report;
    int leader = view(r.proc_leader, l->pid), thread = view(r.proc_thread, r.thread_tid),
        grandchild = view(r.proc_grandchild, r.grandchild_pid);
    std::string proc = "/proc/" + std::to_string(leader);
    if (leader && thread)
      l->thread_ticks = read_start_ticks(proc + "/task/" + std::to_string(thread) + "/stat");
    if (leader)
      l->leader_ticks = read_start_ticks(proc + "/stat");
    if (grandchild)
      l->grandchild_ticks = read_start_ticks("/proc/" + std::to_string(grandchild) + "/stat");
    observe_families(opt.fields, *l, leader, thread, grandchild);
    if (opt.fields.beyond_task()) {
      auto known = [](int pid) {
        Launched::Known k;
        if (pid <= 0)
          return k;
        std::string p = "/proc/" + std::to_string(pid);
        k.cred_ids = read_cred_ids(p + "/status");
        k.loginuid = read_u32_file(p + "/loginuid");
        k.sessionid = read_u32_file(p + "/sessionid");
        k.ns_inum = read_ns_inums(pid);
        k.mm = read_mm_stat(p + "/stat");
        return k;
      };
      l->leader_known = known(leader);
      l->creds_known = known(view(r.proc_creds, r.creds_pid));
      l->unshared_known = known(view(r.proc_unshared, r.unshared_pid));
    }
  }
  if (opt.on_stage)
    opt.on_stage(phase + "-ready", pids_of(host, subjects));
}

// Each subject is captured exactly once while its snapshot is taken: L, T
// and G at the trigger, E at its exit. A slot captured twice, or a trigger
// slot captured at exit, holds a subject that died mid-experiment (its exit
// overwrote the capture; killing G made exit_code look ambiguous instead of
// failing) or a foreign task that copied a cookie from /proc to poison the
// trial. Neither may reach the solver. count/site 0: the backend does not tell.
void check_capture(const Subject &s, const char *role, uint32_t want_site) {
  if (!s.snap.captured)
    return;
  if (s.snap.count > 1 || (s.snap.site && s.snap.site != want_site))
    throw Fatal(exit_subject, std::string("the ") + role + " subject " + s.comm + " (tid " +
                                  std::to_string(s.snap.tid) + ") was captured " +
                                  std::to_string(s.snap.count) + " times, last at " +
                                  (s.snap.site == OP_SITE_EXIT ? "exit" : "the trigger") +
                                  ": it died during the experiment, or another task took its comm");
}

void release(SubjectHost &host, const std::vector<Launched *> &subjects) {
  for (auto *l : subjects)
    host.send("release " + std::to_string(l->index));
}

// Makes the live subjects' L, C and N trigger again (for the chain scanner)
// and waits until every leader says "again".
void retrigger(const CalibrateOptions &opt, SubjectHost &host,
               const std::vector<Launched *> &subjects) {
  std::vector<int> indices;
  for (auto *l : subjects) {
    host.send("again " + std::to_string(l->index));
    indices.push_back(l->index);
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(opt.subject_timeout_ms);
  size_t done = 0;
  while (done < subjects.size()) {
    std::string line = host.read_line_for(opt, deadline, indices);
    std::istringstream is(line);
    int index = -1;
    std::string what;
    is >> index >> what;
    if (what != "again")
      throw Fatal(exit_subject,
                  "the subject host said \"" + line.substr(0, 200) + "\" during the chain stage");
    done++;
  }
}

std::vector<Launched> make_subjects(uint32_t n) {
  std::vector<Launched> out(n);
  for (uint32_t i = 0; i < n; i++) {
    out[i].index = static_cast<int>(i);
    out[i].cookies = fresh_cookies();
    out[i].exit_code = random_exit_code();
    out[i].cred_plan = fresh_cred_plan();
  }
  return out;
}

// Fills a trial's known values (windows in the host clock domain).
Trial make_trial(const Launched &l, const TimeNsOffsets &ns) {
  Trial t;
  auto known = [&](Subject &s, Role role, const std::string &cookie, Window mono, Window boot,
                   std::optional<uint64_t> ticks) {
    s.role = role;
    s.comm = cookie;
    s.mono = shift(mono, ns.monotonic_ns);
    s.boot = shift(boot, ns.boottime_ns);
    s.start_ticks = ticks;
  };
  const auto &r = l.report;
  known(t.leader, Role::leader, l.cookies.leader, l.mono, l.boot, l.leader_ticks);
  known(t.thread, Role::thread, l.cookies.thread, r.thread_mono, r.thread_boot, l.thread_ticks);
  known(t.grandchild, Role::grandchild, l.cookies.grandchild, r.grandchild_mono, r.grandchild_boot,
        l.grandchild_ticks);
  known(t.exiter, Role::exiter, l.cookies.exiter, r.exiter_mono, r.exiter_boot, std::nullopt);
  for (Subject *s : {&t.leader, &t.thread, &t.grandchild})
    if (auto it = l.observed.find(s->role); it != l.observed.end())
      s->known = it->second;
  t.exiter.exit_code = (l.exit_code & 0xff) << 8;
  t.traced = r.traced;
  t.trace_error = r.trace_error;
  // C and N: forked by L after G; no start windows are needed for them.
  t.creds.role = Role::creds;
  t.creds.comm = l.cookies.creds;
  t.unshared.role = Role::unshared;
  t.unshared.comm = l.cookies.unshared;
  auto chain_known = [](Subject &s, const Launched::Known &k) {
    s.cred_ids = k.cred_ids;
    s.loginuid = k.loginuid;
    s.sessionid = k.sessionid;
    s.ns_inum = k.ns_inum;
    s.mm = k.mm;
  };
  chain_known(t.leader, l.leader_known);
  chain_known(t.creds, l.creds_known);
  chain_known(t.unshared, l.unshared_known);
  t.creds_error = r.creds_error;
  t.loginuid_error = r.loginuid_error;
  t.unshare_error = r.unshare_error;
  // C's ids must be the planned ones; /proc/<pid>/status confirms it.
  if (t.creds_error.empty() && t.creds.cred_ids) {
    for (size_t i = 0; i < 8; i++)
      if ((*t.creds.cred_ids)[i] != l.cred_plan.ids[i])
        t.creds_error = "ids:not-as-planned";
  }
  if (t.loginuid_error.empty() && t.creds.loginuid && *t.creds.loginuid != l.cred_plan.loginuid)
    t.loginuid_error = "loginuid:not-as-planned";
  return t;
}

// OFFSETPROBE_TIMING=1: where the milliseconds go, on stderr, counted from
// the start of calibrate().
Clock::time_point g_t0 = Clock::now();
void mark(const char *what) {
  static const bool timing = getenv("OFFSETPROBE_TIMING") != nullptr;
  if (timing)
    std::fprintf(stderr, "offsetprobe: %8.2f ms %s\n",
                 std::chrono::duration<double, std::milli>(Clock::now() - g_t0).count(), what);
}

// Validation: read a fresh subject's fields back through the offsets, with
// the catalogue's read-back plan, and let each family check what was read.
class Validator {
public:
  Validator(std::vector<FieldResult> &fields) : fields_(fields) {}

  // `s` is a fresh subject spawned for validation, still waiting for "go".
  // `mode` is the trigger the scanner attached (automatic outside a
  // calibration), so that the reader need not load a fallback.
  void run(const CalibrateOptions &opt, TriggerMode mode, SubjectHost &host, Launched &s,
           const TimeNsOffsets &ns, int64_t tick_offset_ns, uint64_t tick_ns) {
    const bool chains = opt.fields.beyond_task();
    ReadbackPlan rp = readback_plan(fields_);
    const Backend &backend = opt.backend ? *opt.backend : libbpf_backend();
    auto reader_ptr = backend.make_reader(mode, rp.plan);
    Reader &reader = *reader_ptr;
    mark("reader loaded");
    std::vector<std::pair<Role, uint32_t>> slots;
    run_subjects(opt, host, "validate", {&s}, [&](const Cookies &c) {
      slots = {{Role::leader, reader.add_cookie(c.leader)},
               {Role::thread, reader.add_cookie(c.thread)},
               {Role::grandchild, reader.add_cookie(c.grandchild)},
               {Role::exiter, reader.add_cookie(c.exiter)}};
      if (chains) {
        slots.push_back({Role::creds, reader.add_cookie(c.creds)});
        slots.push_back({Role::unshared, reader.add_cookie(c.unshared)});
      }
    });
    Trial t = make_trial(s, ns);
    std::map<Role, ReadValues> seen;
    for (auto [role, slot] : slots)
      seen[role] = reader.readback(slot);
    // All but E are read at their trigger; a read at exit means one died
    // while it was being read (like check_capture for the trials).
    for (const auto &[role, rb] : seen)
      if (role != Role::exiter && rb.captured && rb.site == OP_SITE_EXIT)
        throw Fatal(exit_subject, "validation subject " + std::to_string(rb.tid) +
                                      " exited while its fields were read back");
    release(host, {&s});
    ReadbackCheck check(fields_, rp, t, std::move(seen), tick_offset_ns, tick_ns);
    // The other families first, task_struct's own last, as they always ran:
    // a check that fails makes its field unresolved, and later checks ask
    // which offsets are still calibrated.
    const auto &families = catalogue();
    if (chains)
      for (size_t i = 1; i < families.size(); i++)
        families[i].verify(check);
    families.front().verify(check);
  }

private:
  std::vector<FieldResult> &fields_;
};

} // namespace

// A stop signal kills the subjects at once (kill_subjects_from_signal_handler),
// so whatever error that causes here ("the subject host died") is reported
// as the stop it is; the locals, subjects among them, are gone by then.
Calibration calibrate(const CalibrateOptions &opt) try {
  auto t0 = Clock::now();
  g_t0 = t0;
  check_bpf_privileges();
  Calibration cal;
  auto ns = read_timens_offsets();
  cal.boot_offset_ns = ns.boottime_ns;
  cal.mono_offset_ns = ns.monotonic_ns;
  auto slab = slab_task_struct_size();
  uint32_t nr_chunks = slab ? (*slab + OP_CHUNK_SIZE - 1) / OP_CHUNK_SIZE : OP_MAX_CHUNKS;

  TriggerMode used_trigger;
  bool exit_hook = false;
  // The scanner stays attached until validation has attached the reader:
  // taking a tracepoint's last probe away and adding one again (1 -> 0 -> 1)
  // makes the kernel wait for an RCU grace period (tp_rcu_cond_sync), which
  // costs milliseconds; overlapping the two sessions avoids it.
  const Backend &backend = opt.backend ? *opt.backend : libbpf_backend();
  std::unique_ptr<Scanner> scanner_holder;
  // The host starts (fork, exec, dynamic linking: Boost.Process waits for the
  // exec) on another thread while this one loads the scanner.
  // The starter thread then stays until the end: PR_SET_PDEATHSIG fires
  // when the *thread* that forked the host exits, not the process.
  std::optional<SubjectHost> host_holder;
  std::exception_ptr host_error;
  std::binary_semaphore started(0), done(0);
  std::thread starter([&] {
    try {
      host_holder.emplace(opt);
    } catch (...) {
      host_error = std::current_exception();
    }
    started.release();
    done.acquire();
  });
  struct Joiner {
    std::thread &t;
    std::binary_semaphore &done;
    ~Joiner() {
      done.release();
      t.join();
    }
  } joiner{starter, done};
  auto subjects = make_subjects(opt.trials + 1); // the last one validates
  std::vector<Launched *> trial_subjects;
  for (uint32_t i = 0; i < opt.trials; i++)
    trial_subjects.push_back(&subjects[i]);

  SolveOptions so;
  so.min_trials = std::min<uint32_t>(3, opt.trials);
  so.struct_size = slab;
  so.boot_offset_ns = ns.boottime_ns;
  long hz = sysconf(_SC_CLK_TCK);
  so.tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
  // A config that says randstruct settles the layout before any field does.
  if (auto l = layout_from_kernel_config())
    so.layout = *l;

  // Stage planning from the catalogue's Requires graph: a second capture
  // stage when a selected field lies one or two pointers away.
  StagePlan stages = plan_stages(field_graph(&opt.fields));
  if (!stages.error.empty())
    throw Fatal(exit_failure, "field catalogue: " + stages.error);
  const bool stage2 = stages.stages.size() > 1;
  std::unique_ptr<ChainScanner> chain_holder;
  std::string chain_error; // why the chain stage did not run
  bool chain_error_required = true;
  {
    scanner_holder = backend.make_scanner(opt.trigger, nr_chunks);
    Scanner &scanner = *scanner_holder;
    used_trigger = scanner.mode();
    exit_hook = scanner.exit_attached();
    mark("scanner loaded");
    started.acquire();
    mark("subject host started");
    if (host_error)
      std::rethrow_exception(host_error);
    SubjectHost &host = *host_holder;
    std::vector<std::array<uint32_t, 6>> slots;
    run_subjects(opt, host, "trial", trial_subjects, [&](const Cookies &c) {
      uint32_t none = UINT32_MAX;
      slots.push_back({scanner.add_cookie(c.leader), scanner.add_cookie(c.thread),
                       scanner.add_cookie(c.grandchild), scanner.add_cookie(c.exiter),
                       opt.fields.beyond_task() ? scanner.add_cookie(c.creds) : none,
                       opt.fields.beyond_task() ? scanner.add_cookie(c.unshared) : none});
    });
    for (size_t i = 0; i < trial_subjects.size(); i++) {
      Trial t = make_trial(*trial_subjects[i], ns);
      t.leader.snap = scanner.snapshot(slots[i][0]);
      t.thread.snap = scanner.snapshot(slots[i][1]);
      t.grandchild.snap = scanner.snapshot(slots[i][2]);
      t.exiter.snap = scanner.snapshot(slots[i][3]);
      if (opt.fields.beyond_task()) {
        t.creds.snap = scanner.snapshot(slots[i][4]);
        t.unshared.snap = scanner.snapshot(slots[i][5]);
      }
      if (!exit_hook)
        t.exiter.exit_code.reset();
      check_capture(t.leader, "leader", OP_SITE_TRIGGER);
      check_capture(t.thread, "thread", OP_SITE_TRIGGER);
      check_capture(t.grandchild, "grandchild", OP_SITE_TRIGGER);
      check_capture(t.exiter, "exiter", OP_SITE_EXIT);
      if (opt.fields.beyond_task()) {
        check_capture(t.creds, "creds", OP_SITE_TRIGGER);
        check_capture(t.unshared, "unshared", OP_SITE_TRIGGER);
      }
      cal.trials.push_back(std::move(t));
    }
    mark("stage 1 captured");
    // The validation subject is made now and held: its setup runs on another
    // CPU while this thread loads programs and solves.
    if (opt.validate)
      prepare_subjects(host, {&subjects.back()});
    // Stage 2, while the subjects live: follow the candidate pointers.
    if (stage2) {
      auto plan = chain_plan(cal.trials, so, OP_MAX_PTRS, OP_MAX_NESTED);
      if (!backend.make_chain_scanner) {
        chain_error = "the " + backend.name + " backend has no chain scanner";
        chain_error_required = false;
      } else if (!plan.error.empty()) {
        chain_error = "stage 1: " + plan.error;
      } else {
        chain_holder = backend.make_chain_scanner(used_trigger, plan.plan,
                                                  static_cast<uint32_t>(3 * opt.trials));
        mark("chain scanner loaded");
        ChainScanner &chains = *chain_holder;
        std::vector<std::array<uint32_t, 3>> cslots;
        for (auto *l : trial_subjects)
          cslots.push_back({chains.add_cookie(l->cookies.leader),
                            chains.add_cookie(l->cookies.creds),
                            chains.add_cookie(l->cookies.unshared)});
        retrigger(opt, host, trial_subjects);
        for (size_t i = 0; i < trial_subjects.size(); i++) {
          cal.trials[i].leader.chain = chains.capture(cslots[i][0]);
          cal.trials[i].creds.chain = chains.capture(cslots[i][1]);
          cal.trials[i].unshared.chain = chains.capture(cslots[i][2]);
        }
      }
    }
    mark("stage 2 captured");
    // Detached now, while the scanner stays: a tracepoint going 2 -> 1 probes
    // with its first probe removed waits for an RCU grace period
    // (tracepoint_remove_func -> tp_rcu_cond_sync: ~10 ms here), removing
    // the last-added one does not.
    chain_holder.reset();
    release(host, trial_subjects);
    if (opt.on_stage)
      opt.on_stage("trial-released", {host.pid()});
  }
  throw_if_stopped(opt);

  auto &r = cal.result;
  r.fields = solve(cal.trials, so);
  if (!exit_hook)
    for (auto &f : r.fields)
      if (f.member == "exit_code")
        f.reason = "sched:sched_process_exit could not be attached; " + f.reason;
  if (opt.fields.beyond_task()) {
    for (auto &f : solve_audit(cal.trials, so))
      r.fields.push_back(f);
    // The layout as task_struct's own fields show it, for the chains' rules.
    so.layout = detect_layout_order(r.fields, so.layout);
    auto chain_results = solve_chains(cal.trials, so);
    if (!chain_error.empty())
      mark_chains_unresolved(chain_results, chain_error, chain_error_required);
    for (auto &f : chain_results)
      r.fields.push_back(f);
  }
  // The families whose fields the catalogue declares with predicates
  // (families/sched.cpp), on the same stage-1 trials.
  solve_declared(cal.trials, so, opt.fields, r.fields);
  // Only what was asked for is reported (the experiments may find more).
  std::erase_if(r.fields, [&](const FieldResult &f) { return !opt.fields.has(f.name); });
  if (auto l = detect_layout_order(r.fields, so.layout); l.randomized)
    r.layout = "randomized layout detected (" + l.evidence + ")";
  r.trials = opt.trials;
  r.backend = backend.name;
  r.trigger = to_string(used_trigger);
  r.task_struct_size = slab;
  r.scan_bytes = nr_chunks * OP_CHUNK_SIZE;

  bool any = false;
  for (const auto &f : r.fields)
    any |= f.status == FieldStatus::calibrated;
  if (opt.validate && any) {
    mark("solved");
    Validator v(r.fields);
    v.run(opt, used_trigger, *host_holder, subjects.back(), ns, ns.boottime_ns, so.tick_ns);
    mark("validated");
  }
  // The net family's own experiment (calibration/net/), after the ns
  // family's net.ns.inum is validated: skc_net is found through it.
  if (net::net_selected(opt)) {
    net::calibrate_net(opt, backend.name, r.fields);
    mark("net family");
  }
  scanner_holder.reset();
  host_holder->finish(opt);
  files::add_files_family(opt, backend, slab, r.fields);
  mark("done");
  throw_if_stopped(opt);
  r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return cal;
} catch (...) {
  throw_if_stopped(opt);
  throw;
}

std::vector<FieldResult> validate_offsets(const CalibrateOptions &opt,
                                          std::vector<FieldResult> fields) try {
  check_bpf_privileges();
  auto ns = read_timens_offsets();
  for (auto &f : fields) {
    f.validation = Validation::not_run;
    f.validation_detail.clear();
  }
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t tick_ns = 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
  g_t0 = Clock::now();
  // The file family's read-back (calibration/files/) needs nothing the other
  // families' read-backs establish: its own subjects and program, and of the
  // others only task_struct.mm's offset, not its validation. So it runs on a
  // copy of the fields, in a thread, beside the task and chain read-back
  // (the bundle's validation-only path spends most of its time in these
  // two). Signals stay with this thread, whose blocking calls they must
  // interrupt (EINTR); the future's destructor joins on every path.
  auto files_done = std::async(std::launch::async, [&opt, copy = fields]() mutable {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    files::validate_files_family(opt, copy);
    mark("validate: files family");
    return copy;
  });
  SubjectHost host(opt);
  auto subjects = make_subjects(1);
  mark("validate: host started");
  Validator v(fields);
  v.run(opt, opt.trigger, host, subjects[0], ns, ns.boottime_ns, tick_ns);
  mark("validate: task and chains read back");
  // The net family reads itself back (calibration/net/), after net.ns.inum
  // passed: skc_net is read through it.
  net::validate_net(opt, opt.backend ? opt.backend->name : "libbpf", fields);
  mark("validate: net family");
  host.finish(opt);
  mark("validate: host finished");
  throw_if_stopped(opt);
  // Only the file family's fields changed in the copy.
  const auto &names = families::files_field_names();
  for (auto &f : files_done.get())
    if (std::find(names.begin(), names.end(), f.name) != names.end())
      for (auto &mine : fields)
        if (mine.name == f.name)
          mine = f;
  mark("validate: joined");
  throw_if_stopped(opt);
  return fields;
} catch (...) {
  throw_if_stopped(opt);
  throw;
}

} // namespace offsetprobe
