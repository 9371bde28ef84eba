// SPDX-License-Identifier: GPL-2.0-only
// Boost.Process (1.74) offers bp::posix::use_vfork only where its config
// sees an XPG-only vfork; glibc declares vfork under _GNU_SOURCE too, so it
// is said here, before the first Boost.Process header (subject_host.h).
#define BOOST_POSIX_HAS_VFORK 1
#include "calibration/experiment/subject_host.h"
#include "calibration/model/catalogue.h"

#include "calibration/model/error.h"
#include "calibration/experiment/proc_read.h"

#include "scanner.h"

#include <boost/process/env.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/posix.hpp>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bp = boost::process;

namespace offsetprobe {

void throw_if_stopped(const CalibrateOptions &opt) {
  if (!opt.stop_signal)
    return;
  int sig = opt.stop_signal->load();
  if (sig == SIGINT)
    throw Error(ErrorKind::interrupted,
                "interrupted (SIGINT): calibration stopped, nothing written");
  if (sig != 0)
    throw Error(ErrorKind::terminated, "terminated (signal " + std::to_string(sig) +
                                           "): calibration stopped, nothing written");
}

SubjectHost::SubjectHost(const CalibrateOptions &opt) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
    throw Error(ErrorKind::failure, std::string("pipe: ") + std::strerror(errno));
  in_ = in[1];
  out_ = out[0];
  const pid_t self = ::getpid();
  try {
    // Between fork and exec (async-signal-safe calls only): a group of its
    // own, and the parent-death signal with the check that we did not die
    // before it was set (it survives exec; the host sets it again anyway).
    // LD_BIND_NOW: the host binds every library's symbols before it forks
    // the leaders, which otherwise each bound them again on first use
    // (_dl_fixup writing a GOT page: ~20 page faults per leader, ~10 us each
    // on this kind of VM; the binary itself is linked -z now already).
    // vfork (bp::posix::use_vfork): a fork would write-protect every page
    // of this (multi-threaded, large) process, and each page it writes
    // afterwards would take a copy-on-write fault (~12 us on this kind of VM);
    // the child only runs the async-signal-safe setup below and execs.
    child_ =
        bp::child(opt.self_exe, kSubjectArg, std::to_string(self), subject_hooks_arg(opt.fields),
                  bp::posix::use_vfork, bp::env["LD_BIND_NOW"] = "1", bp::posix::fd.bind(0, in[0]),
                  bp::posix::fd.bind(1, out[1]), bp::extend::on_exec_setup([self](auto &) {
                    ::setpgid(0, 0);
                    if (!die_with_parent(self))
                      ::_exit(127);
                  }));
    group_.adopt(child_.id());
  } catch (const std::exception &e) {
    ::close(in[0]);
    ::close(out[1]);
    throw Error(ErrorKind::subject,
                std::string("starting the subject host (") + opt.self_exe + "): " + e.what());
  }
  ::close(in[0]);
  ::close(out[1]);
}

SubjectHost::~SubjectHost() {
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

void SubjectHost::send(const std::string &line) {
  std::string l = line + "\n";
  if (::write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
    throw Error(ErrorKind::subject, "the subject host is gone" + exit_description());
}

std::string SubjectHost::read_line_for(const CalibrateOptions &opt, Clock::time_point deadline,
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

std::string SubjectHost::read_line(const CalibrateOptions &opt, Clock::time_point deadline) {
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
      throw Error(ErrorKind::failure, std::string("poll: ") + std::strerror(errno));
    if (n == 0 && left.count() <= 0)
      throw Error(ErrorKind::subject, "a subject did not answer within " +
                                          std::to_string(opt.subject_timeout_ms) +
                                          " ms (hung?); on a very slow machine raise --timeout");
    if (n <= 0)
      continue;
    char chunk[1024];
    ssize_t r = ::read(out_, chunk, sizeof(chunk));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      throw Error(ErrorKind::subject, "the subject host died" + exit_description());
    buf_.append(chunk, static_cast<size_t>(r));
  }
}

void SubjectHost::finish(const CalibrateOptions &opt) {
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
    throw Error(ErrorKind::subject, left);
  // It has nothing left to do but kill and reap its leaders: one that
  // cannot is hung (stopped, say), and a hung subject is an error (exit 9)
  // wherever it happens, not only while we wait for an answer.
  if (hung)
    throw Error(ErrorKind::subject, "the subject host did not exit within " +
                                        std::to_string(opt.subject_timeout_ms) +
                                        " ms of the end of the calibration (hung?); it was killed");
  // A host that did not end by itself (exit 0 on EOF) died under us: the
  // subjects may have gone with it while they were being read.
  int native = child_.native_exit_code();
  if (WIFSIGNALED(native) || WEXITSTATUS(native) != 0)
    throw Error(ErrorKind::subject,
                "the subject host died during the calibration" + exit_description());
}

void SubjectHost::close_stdin() {
  if (in_ >= 0)
    ::close(in_);
  in_ = -1;
}

std::string SubjectHost::exit_description() {
  std::error_code ec;
  if (child_.valid() && !child_.running(ec)) {
    int native = child_.native_exit_code();
    if (WIFSIGNALED(native))
      return " (killed by signal " + std::to_string(WTERMSIG(native)) + ")";
    return " (exit code " + std::to_string(WEXITSTATUS(native)) + ")";
  }
  return "";
}

static int random_exit_status() {
  unsigned char b = 0;
  while (getrandom(&b, 1, 0) != 1) {
  }
  return 1 + b % 254; // 1..254: never 0, never 255 (a common generic failure)
}

static Cookies fresh_cookies() {
  return Cookies{make_cookie(), make_cookie(), make_cookie(),
                 make_cookie(), make_cookie(), make_cookie()};
}

// Unusual ids for C: a random base in [1e6, 9e6), then +1..+8 in struct
// cred's order, and a loginuid beyond them. Random per trial, so a decoy that
// matches one trial's value is dropped by the others. `order` (CredOrder,
// subject.h) makes fsuid equal euid, or fsgid equal egid.
static CredPlan fresh_cred_plan(CredOrder order) {
  uint32_t r = 0;
  while (getrandom(&r, sizeof(r), 0) != sizeof(r)) {
  }
  uint32_t base = 1'000'000 + r % 8'000'000;
  CredPlan p;
  for (uint32_t i = 0; i < 8; i++)
    p.ids[i] = base + 1 + i;
  if (order == CredOrder::uids_last)
    p.ids[6] = p.ids[4];
  else if (order == CredOrder::gids_last)
    p.ids[7] = p.ids[5];
  p.loginuid = base + 20;
  return p;
}

static Window shift(Window w, int64_t offset) {
  w.lo = static_cast<uint64_t>(static_cast<int64_t>(w.lo) - offset);
  w.hi = static_cast<uint64_t>(static_cast<int64_t>(w.hi) - offset);
  return w;
}

static std::vector<int> pids_of(const SubjectHost &host, const std::vector<Launched *> &subjects) {
  std::vector<int> p{host.pid()};
  for (auto *l : subjects)
    if (l->pid)
      p.push_back(l->pid);
  return p;
}

// True when /proc belongs to our pid namespace (/proc/self is our pid).
static bool proc_matches_pid_namespace() {
  char buf[32] = {};
  ssize_t n = ::readlink("/proc/self", buf, sizeof(buf) - 1);
  return n > 0 && std::string(buf, static_cast<size_t>(n)) == std::to_string(::getpid());
}

static bool parse_window(const std::string &s, Window &w) {
  return std::sscanf(s.c_str(), "%" SCNu64 ":%" SCNu64, &w.lo, &w.hi) == 2 && w.lo <= w.hi;
}

// The host's trial/prepare command arguments for leader `l`.
static std::string leader_args(const Launched &l) {
  const auto &c = l.cookies;
  std::string ids;
  for (uint32_t id : l.cred_plan.ids)
    ids += " " + std::to_string(id);
  return std::to_string(l.index) + " " + c.leader + " " + c.thread + " " + c.grandchild + " " +
         c.exiter + " " + std::to_string(l.exit_status) + " " + c.creds + " " + c.unshared + ids +
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
static void observe_families(const FieldSelection &sel, Launched &l, int leader, int thread,
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
// Error(ErrorKind::subject) when one dies.
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
  // A leader writes its "ready" line itself, on the pipe its host's
  // "spawned" line goes to after fork() returns: a host descheduled right
  // after the fork (a busy core) lets "ready" come first. So the loop waits
  // for both lines of every subject (a held one was spawned at "prepare").
  auto all_spawned = [&subjects] {
    return std::all_of(subjects.begin(), subjects.end(), [](auto *x) { return x->spawned; });
  };
  while (ready < subjects.size() || !all_spawned()) {
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
      throw Error(ErrorKind::subject, "the leader of trial " + std::to_string(index) +
                                          " died during the experiment" +
                                          describe_leader_status(status));
    }
    if (!l)
      throw Error(ErrorKind::subject, "the subject host said \"" + line.substr(0, 200) + "\"");
    if (what == "spawned") {
      std::string mono, boot;
      if (!(is >> l->pid >> mono >> boot) || !parse_window(mono, l->mono) ||
          !parse_window(boot, l->boot))
        throw Error(ErrorKind::subject, "bad spawn report \"" + line.substr(0, 200) + "\"");
      l->spawned = true;
    } else if (what == "ready") {
      std::string error;
      auto rep = parse_report(line.substr(line.find("ready")), error);
      if (!rep)
        throw Error(ErrorKind::subject, "subject " + std::to_string(l->pid) + ": " + error);
      l->report = *rep;
      l->ready = true;
      ready++;
    } else if (what == "died") {
      int status = 0;
      is >> status;
      throw Error(ErrorKind::subject, "subject " + std::to_string(l->pid) +
                                          " died during the experiment" +
                                          describe_leader_status(status));
    } else {
      throw Error(ErrorKind::subject, "the subject host said \"" + line.substr(0, 200) + "\"");
    }
    if (!announced && opt.on_stage && all_spawned()) {
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
      throw Error(ErrorKind::subject,
                  "subject " + std::to_string(l->index) + " was never announced");
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
// overwrote the capture; killing G made a field look ambiguous instead of
// failing) or a foreign task that copied a cookie from /proc to poison the
// trial. Neither may reach the solver. count/site 0: the backend does not tell.
void check_capture(const Subject &s, const char *role, uint32_t want_site) {
  if (!s.snap.captured)
    return;
  if (s.snap.count > 1 || (s.snap.site && s.snap.site != want_site))
    throw Error(ErrorKind::subject,
                std::string("the ") + role + " subject " + s.comm + " (tid " +
                    std::to_string(s.snap.tid) + ") was captured " + std::to_string(s.snap.count) +
                    " times, last at " + (s.snap.site == OP_SITE_EXIT ? "exit" : "the trigger") +
                    ": it died during the experiment, or another task took its comm");
}

void release_subjects(SubjectHost &host, const std::vector<Launched *> &subjects) {
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
      throw Error(ErrorKind::subject,
                  "the subject host said \"" + line.substr(0, 200) + "\" during the chain stage");
    done++;
  }
}

std::vector<Launched> make_subjects(uint32_t trials, uint32_t readbacks) {
  static constexpr CredOrder orders[] = {CredOrder::all_distinct, CredOrder::uids_last,
                                         CredOrder::gids_last};
  std::vector<Launched> out(trials + readbacks);
  for (uint32_t i = 0; i < out.size(); i++) {
    out[i].index = static_cast<int>(i);
    out[i].cookies = fresh_cookies();
    out[i].exit_status = random_exit_status();
    // A read-back's subject takes eight distinct ids: each id's read-back
    // then tells its offset from every other id's.
    out[i].cred_plan = fresh_cred_plan(i < trials ? orders[i % 3] : CredOrder::all_distinct);
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
  t.exiter.wait_status = W_EXITCODE(l.exit_status & 0xff, 0);
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

} // namespace offsetprobe
