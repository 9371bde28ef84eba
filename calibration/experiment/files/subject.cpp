// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/files/subject.h"

#include "calibration/experiment/files/subject_plan.h"
#include "calibration/experiment/random.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace offsetprobe::files {

namespace {

uint64_t rnd(uint64_t lo, uint64_t hi) { // [lo, hi)
  return random_in(lo, hi - 1);
}

std::string rnd_name(size_t lo, size_t hi) {
  static const char *a = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(rnd(lo, hi + 1), 'x');
  for (auto &c : s)
    c = a[rnd(0, 36)];
  return s;
}

// The planned fd numbers (all below 64: R's fd table stays embedded).
enum Fd : int {
  kCmd = 3,
  kAck = 4,
  kRCmd = 5,
  kRAck = 6,
  kMpA = 10,   // O_PATH: A's mount point, before mounting
  kRootA = 11, // O_PATH: A's root
  kA1 = 12,    // O_PATH: A/a1
  kA2 = 13,    // O_PATH: A/a1/a2
  kFa = 14,    // A/a1/a2/<same>
  kSub = 15,   // O_PATH: A/sub (bound onto B/m2)
  kMpB = 16,   // O_PATH: A/m1 before mounting B
  kRootB = 17, // O_PATH: B's root
  kB1 = 18,    // O_PATH: B/b1 (F's working directory)
  kFb = 19,    // B/b1/<same>: the same name as fa, another directory
  kMpC = 20,   // O_PATH: B/m2 before the bind
  kRootC = 21, // O_PATH: B/m2 after the bind: A/sub through C
  kFc = 22,    // B/m2/<fc>: a file of A seen through the bind mount C
  kEventfd = 23,
  kExe = 24,   // /proc/self/exe
  kSlash = 25, // O_PATH: "/"
  kFz = 26,    // A/a1/<fz>: its size is fa's inode number
  kSub2 = 27,  // O_PATH: A/sub2 (R's root)
  kW = 28,     // R only, O_PATH: /w below its root (its working directory)
};

struct RegularPlan {
  int fd;
  int acc, extra;
  uint64_t size, pos;
  uint32_t mode, uid, gid;
};

} // namespace

struct FilesTrial::Plan {
  std::string base = "/tmp";
  std::string a, a1, a2, same, sub, m1, b1, m2, fc, fz, sub2, w, d, e;
  std::array<RegularPlan, 4> reg; // fa, fb, fc, fz
  int high_fd;
  uint32_t ev_init;
  uint64_t ev_add;
  std::string f_cookie, r_cookie;
};

namespace {

// In the subject: report a failure and exit.
[[noreturn]] void die(int ack, const std::string &what) {
  std::string msg = "error " + what + ": " + std::strerror(errno) + "\n";
  (void)!write(ack, msg.data(), msg.size());
  _exit(1);
}

void place(int ack, int fd, int want, const char *what) {
  if (fd < 0)
    die(ack, what);
  if (fd != want) {
    if (dup2(fd, want) < 0)
      die(ack, what);
    close(fd);
  }
}

int open_flags(const RegularPlan &r) {
  static const int acc[] = {O_RDONLY, O_WRONLY, O_RDWR};
  static const int extra[] = {O_APPEND, O_NONBLOCK, O_NOATIME, O_DSYNC};
  int f = acc[r.acc];
  for (int i = 0; i < 4; i++)
    if (r.extra & (1 << i))
      f |= extra[i];
  return f;
}

void make_file(int ack, const std::string &path, const RegularPlan &r, uint64_t size) {
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0)
    die(ack, "create " + path);
  close(fd);
  // chown first: it clears the set-id bits chmod sets.
  if (chown(path.c_str(), r.uid, r.gid) != 0 || chmod(path.c_str(), r.mode) != 0)
    die(ack, "chown/chmod " + path);
  place(ack, open(path.c_str(), open_flags(r)), r.fd, "open");
  if (lseek(r.fd, static_cast<off_t>(r.pos), SEEK_SET) < 0)
    die(ack, "lseek " + path);
}

void opath(int ack, const std::string &path, int want) {
  place(ack, open(path.c_str(), O_PATH | O_DIRECTORY), want, ("O_PATH " + path).c_str());
}

// Our id as the mounted /proc numbers it: it differs from getpid() when the
// calibrator runs in a pid namespace whose /proc is the outer one (unshare -p
// -f without --mount-proc); 0 when /proc cannot tell.
long proc_self_id() {
  char buf[32] = {};
  ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
  return n > 0 ? std::atol(buf) : 0;
}

// "ready PID PROC_ID": PID for kill and waitpid, PROC_ID for /proc.
std::string ready_line(long proc_id) {
  return "ready " + std::to_string(getpid()) + " " + std::to_string(proc_id) + "\n";
}

void serve(int cmd, int ack) {
  for (;;) {
    uint32_t n = 0;
    if (read(cmd, &n, sizeof n) != sizeof n)
      _exit(0);
    for (uint32_t i = 0; i < n; i++)
      syscall(SYS_getppid);
    char c = 'k';
    if (write(ack, &c, 1) != 1)
      _exit(0);
  }
}

void mkdirs(int ack, const std::vector<std::string> &dirs) {
  for (const auto &d : dirs)
    if (mkdir(d.c_str(), 0755) != 0)
      die(ack, "mkdir " + d);
}

[[noreturn]] void run_r(const FilesTrial::Plan &p, const std::string &A) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  close(kCmd);
  close(kAck);
  long proc_id = proc_self_id(); // no /proc in the chroot
  if (chroot((A + "/" + p.sub2).c_str()) != 0 || chdir(("/" + p.w).c_str()) != 0)
    die(kRAck, "chroot");
  opath(kRAck, ".", kW);
  prctl(PR_SET_NAME, p.r_cookie.c_str());
  std::string ready = ready_line(proc_id);
  (void)!write(kRAck, ready.data(), ready.size());
  serve(kRCmd, kRAck);
  _exit(0);
}

[[noreturn]] void run_f(const FilesTrial::Plan &p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Only the planned fds: R's table must stay the embedded one (< 64).
  syscall(SYS_close_range, 7u, ~0u, 0u);
  if (unshare(CLONE_NEWNS) != 0)
    die(kAck, "unshare(CLONE_NEWNS)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    die(kAck, "making / private");
  if (mount("offsetprobe", p.base.c_str(), "tmpfs", 0, "mode=0755") != 0)
    die(kAck, "mount tmpfs on " + p.base);
  const std::string A = p.base + "/" + p.a;
  mkdirs(kAck, {A});
  opath(kAck, A, kMpA);
  if (mount("offsetprobe-a", A.c_str(), "tmpfs", 0, "mode=0755") != 0)
    die(kAck, "mount A");
  opath(kAck, A, kRootA);
  mkdirs(kAck, {A + "/" + p.a1, A + "/" + p.a1 + "/" + p.a2, A + "/" + p.sub, A + "/" + p.m1,
                A + "/" + p.sub2, A + "/" + p.sub2 + "/" + p.w});
  opath(kAck, A + "/" + p.a1, kA1);
  opath(kAck, A + "/" + p.a1 + "/" + p.a2, kA2);
  opath(kAck, A + "/" + p.sub, kSub);
  opath(kAck, A + "/" + p.sub2, kSub2);
  make_file(kAck, A + "/" + p.a1 + "/" + p.a2 + "/" + p.same, p.reg[0], p.reg[0].size);
  // The decoy: fz's size is fa's inode number.
  struct stat st {};
  if (fstat(kFa, &st) != 0)
    die(kAck, "fstat");
  make_file(kAck, A + "/" + p.a1 + "/" + p.fz, p.reg[3], st.st_ino);
  make_file(kAck, A + "/" + p.sub + "/" + p.fc, p.reg[2], p.reg[2].size);
  const std::string B = A + "/" + p.m1;
  opath(kAck, B, kMpB);
  if (mount("offsetprobe-b", B.c_str(), "tmpfs", 0, "mode=0755") != 0)
    die(kAck, "mount B");
  opath(kAck, B, kRootB);
  mkdirs(kAck, {B + "/" + p.b1, B + "/" + p.m2, B + "/" + p.e, A + "/" + p.d});
  // Siblings, so that B is the first child of A and C the last of B: a
  // child's mnt_child list links point into its parent's struct mount (at
  // mnt_mounts) as `prev` in a first child and `next` in a last one, so no
  // one word of struct mount can pass for mnt_parent in all of A, B and C.
  if (mount("offsetprobe-d", (A + "/" + p.d).c_str(), "tmpfs", 0, nullptr) != 0 ||
      mount("offsetprobe-e", (B + "/" + p.e).c_str(), "tmpfs", 0, nullptr) != 0)
    die(kAck, "mount D, E");
  opath(kAck, B + "/" + p.b1, kB1);
  make_file(kAck, B + "/" + p.b1 + "/" + p.same, p.reg[1], p.reg[1].size);
  const std::string C = B + "/" + p.m2;
  opath(kAck, C, kMpC);
  if (mount((A + "/" + p.sub).c_str(), C.c_str(), nullptr, MS_BIND, nullptr) != 0)
    die(kAck, "bind mount C");
  opath(kAck, C, kRootC);
  // fc again, through C: close the one opened through A first.
  close(p.reg[2].fd);
  RegularPlan via_c = p.reg[2];
  place(kAck, open((C + "/" + p.fc).c_str(), open_flags(via_c)), via_c.fd, "open fc via C");
  if (lseek(via_c.fd, static_cast<off_t>(via_c.pos), SEEK_SET) < 0)
    die(kAck, "lseek fc");
  place(kAck, eventfd(p.ev_init, 0), kEventfd, "eventfd");
  if (write(kEventfd, &p.ev_add, sizeof p.ev_add) != sizeof p.ev_add)
    die(kAck, "eventfd write");
  place(kAck, open("/proc/self/exe", O_RDONLY), kExe, "open /proc/self/exe");
  place(kAck, open("/", O_PATH | O_DIRECTORY), kSlash, "O_PATH /");
  if (chdir((B + "/" + p.b1).c_str()) != 0)
    die(kAck, "chdir");
  // R is the calibrator's child, not F's (CLONE_PARENT): the calibrator
  // reaps it. A child of F would be reparented when F is killed, to PID 1,
  // which in a container may reap nothing (tests/zombies.sh).
  pid_t r = static_cast<pid_t>(
      syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (r < 0)
    die(kAck, "fork R");
  if (r == 0)
    run_r(p, A);
  close(kRCmd);
  close(kRAck);
  // The high fd expands F's fd table beyond the embedded one.
  if (dup2(kFa, p.high_fd) < 0)
    die(kAck, "dup2 high fd");
  prctl(PR_SET_NAME, p.f_cookie.c_str());
  std::string ready = ready_line(proc_self_id());
  (void)!write(kAck, ready.data(), ready.size());
  serve(kCmd, kAck);
  _exit(0);
}

std::string read_line(int fd, uint32_t timeout_ms, pid_t pid) {
  std::string line;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(timeout_ms));
    if (r <= 0)
      throw SubjectError("the files subject " + std::to_string(pid) + " did not answer");
    char c;
    if (read(fd, &c, 1) != 1)
      throw SubjectError("the files subject " + std::to_string(pid) + " died");
    if (c == '\n')
      return line;
    line += c;
  }
}

} // namespace

namespace {

// The plan as F's command line (one argument, space-separated words: every
// name is [a-z0-9], every number decimal), in the order decode_plan reads it.
std::string encode_plan(const FilesTrial::Plan &p) {
  std::ostringstream o;
  o << p.base;
  for (const auto *n : {&p.a, &p.a1, &p.a2, &p.same, &p.sub, &p.m1, &p.b1, &p.m2, &p.fc, &p.fz,
                        &p.sub2, &p.w, &p.d, &p.e})
    o << ' ' << *n;
  for (const auto &r : p.reg)
    o << ' ' << r.fd << ' ' << r.acc << ' ' << r.extra << ' ' << r.size << ' ' << r.pos << ' '
      << r.mode << ' ' << r.uid << ' ' << r.gid;
  o << ' ' << p.high_fd << ' ' << p.ev_init << ' ' << p.ev_add << ' ' << p.f_cookie << ' '
    << p.r_cookie;
  return o.str();
}

bool decode_plan(const std::string &text, FilesTrial::Plan &p) {
  std::istringstream is(text);
  is >> p.base;
  for (auto *n : {&p.a, &p.a1, &p.a2, &p.same, &p.sub, &p.m1, &p.b1, &p.m2, &p.fc, &p.fz, &p.sub2,
                  &p.w, &p.d, &p.e})
    is >> *n;
  for (auto &r : p.reg)
    is >> r.fd >> r.acc >> r.extra >> r.size >> r.pos >> r.mode >> r.uid >> r.gid;
  is >> p.high_fd >> p.ev_init >> p.ev_add >> p.f_cookie >> p.r_cookie;
  std::string extra;
  return !is.fail() && !(is >> extra);
}

} // namespace

int files_subject_main(int argc, char **argv) {
  FilesTrial::Plan p;
  if (argc != 3 || !decode_plan(argv[2], p)) {
    errno = EINVAL;
    die(kAck, "the files subject's plan");
  }
  run_f(p);
}

FilesTrial::FilesTrial(uint32_t timeout_ms, const std::string &self_exe)
    : timeout_ms_(timeout_ms), plan_(new Plan) {
  Plan &p = *plan_;
  for (auto *s : {&p.a, &p.a1, &p.a2, &p.same, &p.sub, &p.m1, &p.b1, &p.m2, &p.fc, &p.fz, &p.sub2,
                  &p.w, &p.d, &p.e})
    *s = rnd_name(6, 20);
  const int fds[] = {kFa, kFb, kFc, kFz};
  std::set<uint32_t> ids;
  for (int i = 0; i < 4; i++) {
    RegularPlan &r = p.reg[i];
    r.fd = fds[i];
    r.acc = static_cast<int>(rnd(0, 3));
    r.extra = static_cast<int>(rnd(0, 16));
    r.size = rnd(1, 1ull << 40);
    r.pos = rnd(1, 1ull << 40);
    r.mode = static_cast<uint32_t>(rnd(0, 07777 + 1));
    do
      r.uid = static_cast<uint32_t>(rnd(100000, 1u << 30));
    while (!ids.insert(r.uid).second);
    do
      r.gid = static_cast<uint32_t>(rnd(100000, 1u << 30));
    while (!ids.insert(r.gid).second);
  }
  // Mixed access modes in one trial: f_mode's FMODE_READ/WRITE bits differ.
  p.reg[0].acc = 0;
  p.reg[1].acc = 1;
  p.reg[2].acc = 2;
  p.high_fd = static_cast<int>(rnd(130, 1000));
  p.ev_init = static_cast<uint32_t>(rnd(1, 1u << 31));
  p.ev_add = rnd(1, 1ull << 40);
  p.f_cookie = "opf" + rnd_name(12, 12);
  p.r_cookie = "opr" + rnd_name(12, 12);
  f_.cookie = p.f_cookie;
  r_.cookie = p.r_cookie;

  int fc[2], fa[2], rc[2], ra[2];
  if (pipe2(fc, O_CLOEXEC) || pipe2(fa, O_CLOEXEC) || pipe2(rc, O_CLOEXEC) || pipe2(ra, O_CLOEXEC))
    throw SubjectError(std::string("pipe: ") + std::strerror(errno));
  // F is this binary executed anew (files_subject_main), not a fork of the
  // calibrator: a fork write-protected every page of this large,
  // multi-threaded process (each page any thread wrote afterwards took a
  // copy-on-write fault, ~12 us on this kind of VM), and F, R (a fork of F)
  // and their exits each handled its whole address space. posix_spawn
  // shares our memory until the exec (CLONE_VM|CLONE_VFORK in glibc).
  // F's own process group, which R (CLONE_PARENT) inherits: cleanup() kills
  // and reaps the group, R included before its pid is known.
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa_;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawn_file_actions_init(&fa_);
  // The ends the subjects use, at planned numbers (dup2 clears O_CLOEXEC),
  // through numbers above all four so that no end is overwritten first.
  int ends[4] = {fc[0], fa[1], rc[0], ra[1]};
  int above = std::max(*std::max_element(ends, ends + 4) + 1, kRAck + 1);
  for (int i = 0; i < 4; i++)
    posix_spawn_file_actions_adddup2(&fa_, ends[i], above + i);
  for (int i = 0; i < 4; i++) {
    posix_spawn_file_actions_adddup2(&fa_, above + i, kCmd + i);
    posix_spawn_file_actions_addclose(&fa_, above + i);
  }
  std::string plan_arg = encode_plan(p);
  char *argv[] = {const_cast<char *>("offsetprobe-files"), const_cast<char *>(kFilesSubjectArg),
                  plan_arg.data(), nullptr};
  pid_t pid = -1;
  int err = posix_spawn(&pid, self_exe.c_str(), &fa_, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa_);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    for (int e : {fc[0], fc[1], fa[0], fa[1], rc[0], rc[1], ra[0], ra[1]})
      close(e);
    throw SubjectError("starting the files subject (" + self_exe + "): " + std::strerror(err));
  }
  setpgid(pid, pid); // also here: the group exists before either side runs on
  f_.pid = pid;
  f_.cmd = fc[1];
  f_.ack = fa[0];
  r_.cmd = rc[1];
  r_.ack = ra[0];
  for (int e : {fc[0], fa[1], rc[0], ra[1]})
    close(e);
}

void FilesTrial::wait_ready() {
  try {
    read_ready();
  } catch (...) {
    cleanup();
    throw;
  }
}

void FilesTrial::read_ready() {
  // "ready PID PROC_ID" (run_f, run_r).
  auto ready = [](const std::string &line, const char *who, long &pid, long &proc_id) {
    std::istringstream is(line);
    std::string word;
    if (!(is >> word >> pid >> proc_id) || word != "ready")
      throw SubjectError(std::string(who) + ": " + line.substr(line.find(' ') + 1));
  };
  long pid = 0, proc_id = 0;
  ready(read_line(f_.ack, timeout_ms_, f_.pid), "the files subject", pid, f_.proc_id);
  ready(read_line(r_.ack, timeout_ms_, f_.pid), "the files subject (chroot)", pid, proc_id);
  r_.pid = static_cast<pid_t>(pid);
  r_.proc_id = proc_id;
}

// The id under which /proc shows `p`: the one it read from /proc/self; where
// it could not, its own pid, but only from a /proc of our pid namespace (in a
// pid namespace with the outer /proc, /proc/<pid> is another process).
long FilesTrial::proc_id_of(const Proc &p) {
  if (p.proc_id > 0)
    return p.proc_id;
  char buf[32] = {};
  ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
  if (n > 0 && std::atol(buf) == getpid())
    return p.pid;
  throw SubjectError("the files subject " + std::to_string(p.pid) +
                     " could not read /proc/self, and this /proc is not of our pid "
                     "namespace: its /proc entry is unknown");
}

FilesTrial::~FilesTrial() {
  cleanup();
}

void FilesTrial::cleanup() {
  for (Proc *p : {&r_, &f_}) {
    if (p->cmd >= 0)
      close(p->cmd);
    if (p->ack >= 0)
      close(p->ack);
    if (p->pid > 0)
      kill(p->pid, SIGKILL);
  }
  // The group is F's pid: F, and R (CLONE_PARENT: our child too, in F's
  // group) even when it was cloned but had not reported its pid yet. Both
  // are our children, so waitpid reaps them from this thread; none may be
  // left as a zombie for PID 1 (tests/interrupt.sh found one after a stop
  // between R's clone and its report). Bounded: a member stuck in the
  // kernel is left after 5 s rather than hanging the stop.
  if (f_.pid > 0) {
    for (int round = 0; round < 10000; round++) {
      ::kill(-f_.pid, SIGKILL);
      pid_t w = ::waitpid(-f_.pid, nullptr, WNOHANG | __WALL);
      if (w > 0 || (w < 0 && errno == EINTR))
        continue;
      if (w < 0) // ECHILD: none left in the group
        break;
      ::usleep(500);
    }
  } else if (r_.pid > 0) {
    waitpid(r_.pid, nullptr, 0);
  }
  f_ = r_ = Proc{};
  delete plan_;
  plan_ = nullptr;
}

void FilesTrial::trigger(bool chroot, uint32_t n) {
  Proc &p = chroot ? r_ : f_;
  if (write(p.cmd, &n, sizeof n) != sizeof n)
    throw SubjectError("the files subject " + std::to_string(p.pid) + " is gone");
  pollfd pf{p.ack, POLLIN, 0};
  char c;
  if (poll(&pf, 1, static_cast<int>(timeout_ms_)) <= 0 || read(p.ack, &c, 1) != 1)
    throw SubjectError("the files subject " + std::to_string(p.pid) + " did not answer");
}

SubjectPlanView FilesTrial::view(bool chroot) const {
  const Plan &p = *plan_;
  using K = FdKnown::Kind;
  SubjectPlanView v;
  v.mounts = {
      {-1, kRootA, kMpA, -1, false}, {-1, kRootB, kMpB, -1, false}, {-1, kRootC, kMpC, -1, true}};
  auto dir = [](int fd, std::string name, int parent, int mount) {
    FdKnown f;
    f.fd = fd;
    f.kind = K::directory;
    f.name = std::move(name);
    f.parent_fd = parent;
    f.mount = mount;
    f.opath = true;
    return f;
  };
  auto reg = [&](const RegularPlan &r, std::string name, int parent, int mount) {
    FdKnown f;
    f.fd = r.fd;
    f.kind = K::regular;
    f.name = std::move(name);
    f.parent_fd = parent;
    f.mount = mount;
    f.acc = r.acc;
    return f;
  };
  v.fds = {
      dir(kMpA, p.a, -1, -1),         dir(kRootA, "/", -1, 0),       dir(kA1, p.a1, kRootA, 0),
      dir(kA2, p.a2, kA1, 0),         reg(p.reg[0], p.same, kA2, 0), dir(kSub, p.sub, kRootA, 0),
      dir(kMpB, p.m1, kRootA, 0),     dir(kRootB, "/", -1, 1),       dir(kB1, p.b1, kRootB, 1),
      reg(p.reg[1], p.same, kB1, 1),  dir(kMpC, p.m2, kRootB, 1),    dir(kRootC, p.sub, kRootA, 2),
      reg(p.reg[2], p.fc, kRootC, 2), dir(kSlash, "/", -1, -1),      reg(p.reg[3], p.fz, kA1, 0),
      dir(kSub2, p.sub2, kRootA, 0)};
  FdKnown ev;
  ev.fd = kEventfd;
  ev.kind = K::eventfd;
  ev.acc = 2;
  FdKnown exe;
  exe.fd = kExe;
  exe.kind = K::exe;
  v.fds.push_back(ev);
  v.fds.push_back(exe);
  v.exe_fd = kExe;
  if (chroot) {
    v.fds.push_back(dir(kW, p.w, kSub2, 0));
    v.root_fd = kSub2;
    v.pwd_fd = kW;
  } else {
    FdKnown high = reg(p.reg[0], p.same, kA2, 0);
    high.fd = p.high_fd;
    v.fds.push_back(high);
    v.root_fd = kSlash;
    v.pwd_fd = kB1;
  }
  return v;
}

TrialKnown FilesTrial::known() const {
  return {observe_subject(view(false), static_cast<int>(proc_id_of(f_)), "files"),
          observe_subject(view(true), static_cast<int>(proc_id_of(r_)), "chroot")};
}

} // namespace offsetprobe::files
