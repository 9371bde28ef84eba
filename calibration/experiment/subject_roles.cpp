// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/subject_roles.h"
#include "calibration/experiment/subject_group.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace offsetprobe {

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

namespace {

// Raises CAP_SETUID and CAP_SETGID in the effective set again after
// setresuid() to non-zero ids cleared them (PR_SET_KEEPCAPS kept them in the
// permitted set).
bool raise_id_caps() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0)
    return false;
  constexpr int cap_setgid = 6, cap_setuid = 7;
  data[0].effective |= (1u << cap_setuid) | (1u << cap_setgid);
  return syscall(SYS_capset, &hdr, data) == 0;
}

// setresgid, then setfsgid unless fsgid is to stay egid.
bool take_gids(const uint32_t *id, bool fs, std::string &cred_error) {
  if (setresgid(id[1], id[5], id[3]) != 0) {
    append_error(cred_error, "setresgid:" + err_name(errno));
    return false;
  }
  if (!fs)
    return true;
  setfsgid(id[7]);
  if (static_cast<uint32_t>(setfsgid(static_cast<gid_t>(-1))) != id[7]) {
    append_error(cred_error, "setfsgid:EPERM");
    return false;
  }
  return true;
}

// setresuid (keeping the capabilities when more calls follow), then
// setfsuid unless fsuid is to stay euid.
bool take_uids(const uint32_t *id, bool more, std::string &cred_error) {
  if (more && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    append_error(cred_error, "keepcaps:" + err_name(errno));
    return false;
  }
  if (setresuid(id[0], id[4], id[2]) != 0) {
    append_error(cred_error, "setresuid:" + err_name(errno));
    return false;
  }
  if (!more)
    return true;
  if (!raise_id_caps()) {
    append_error(cred_error, "capset:" + err_name(errno));
    return false;
  }
  setfsuid(id[6]);
  if (static_cast<uint32_t>(setfsuid(static_cast<uid_t>(-1))) != id[6]) {
    append_error(cred_error, "setfsuid:EPERM");
    return false;
  }
  return true;
}

} // namespace

// C: loginuid first (writing it needs CAP_AUDIT_CONTROL, which setresuid to
// non-zero ids takes away), then the ids in the plan's order (CredOrder,
// subject.h): gids while still root, then uids, then fsuid (needs CAP_SETUID
// back: setresuid resets fsuid to euid); or gids, fsgid and setresuid last;
// or uids, fsuid (capabilities kept and raised again) and setresgid last.
// Returns the errors as "what:ERRNO" tokens.
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
  switch (p.order()) {
  case CredOrder::all_distinct:
    (void)(take_gids(id, true, cred_error) && take_uids(id, true, cred_error));
    break;
  case CredOrder::uids_last:
    (void)(take_gids(id, true, cred_error) && take_uids(id, false, cred_error));
    break;
  case CredOrder::gids_last:
    (void)(take_uids(id, true, cred_error) && take_gids(id, false, cred_error));
    break;
  }
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
  // The numbers after the comm, read in place (no iostream: its locale and
  // buffers cost each leader fresh pages, a page fault each).
  std::vector<uint64_t> v;
  v.reserve(52);
  for (const char *q = p + 1; *q;) {
    while (*q == ' ' || *q == '\n')
      q++;
    if (!*q)
      break;
    // Each whitespace-separated token, as strtoull reads its start (the
    // state letter reads as 0, as it did through the stream).
    v.push_back(strtoull(q, nullptr, 10));
    while (*q && *q != ' ' && *q != '\n')
      q++;
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

} // namespace offsetprobe
