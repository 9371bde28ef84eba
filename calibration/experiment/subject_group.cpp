// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/subject_group.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <vector>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

// The group of the calibration running in this process (0: none); read by
// the signal handler, hence a lock-free atomic.
std::atomic<pid_t> g_running_group{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);

} // namespace

bool die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // getppid is the scanner's trigger: make the check under a comm that no
  // cookie can equal (a fork starts with its parent's comm, a cookie).
  prctl(PR_SET_NAME, kNeutralComm, 0, 0, 0);
  // Not the raw syscall's value compared with 1: in a pid namespace (or an
  // initramfs) the calibrator itself may be pid 1, and a subreaper adopts
  // orphans too. Only the pid we were forked by says "still there".
  return static_cast<pid_t>(syscall(SYS_getppid)) == parent;
}

void keep_only_fds(std::initializer_list<int> keep) {
  // No heap: in a child just forked, the first malloc writes the arena's
  // pages, each a copy-on-write fault (~10 us on this kind of VM), and the
  // subjects that call this allocate nothing else.
  std::array<unsigned, 16> k{};
  size_t nk = 0;
  for (int fd : keep)
    if (fd > 2 && nk < k.size())
      k[nk++] = static_cast<unsigned>(fd);
  if (keep.size() > k.size())
    ::_exit(4); // a caller's bug: more to keep than this holds
  std::sort(k.begin(), k.begin() + static_cast<std::ptrdiff_t>(nk));
  unsigned from = 3;
  bool have_close_range = true;
  auto close_span = [&](unsigned lo, unsigned hi) { // [lo, hi]
    if (lo > hi)
      return;
    if (have_close_range && syscall(SYS_close_range, lo, hi, 0) == 0)
      return;
    // Kernels before 5.9 have no close_range: close one by one, up to the
    // descriptor limit (a forked subject has a handful open).
    have_close_range = false;
    rlimit rl{};
    unsigned max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                       ? static_cast<unsigned>(rl.rlim_cur)
                       : 65536;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++)
      close(static_cast<int>(fd));
  };
  for (size_t i = 0; i < nk; i++) {
    unsigned fd = k[i];
    if (fd > from)
      close_span(from, fd - 1);
    from = std::max(from, fd + 1);
  }
  close_span(from, ~0u);
}

SubjectGroup::SubjectGroup() {
  // Orphans of the subjects (a leader whose host was killed, the init of the
  // unshared subject's pid namespace) come back to us rather than to PID 1,
  // which in a container may be an agent that reaps nothing.
  prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper_, 0, 0, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

SubjectGroup::~SubjectGroup() {
  end();
}

void SubjectGroup::adopt(pid_t pgid) {
  pgid_ = pgid;
  g_running_group.store(pgid);
}

std::string SubjectGroup::end(int timeout_ms) {
  if (ended_)
    return "";
  ended_ = true;
  std::string left;
  if (pgid_ > 0) {
    g_running_group.store(0);
    // Every member dies; each one's children are reparented to us (the
    // subreaper) before it can be reaped, so the group is empty exactly
    // when waitpid says we have no child left in it. Killed again on every
    // round: a member forking at the moment of the first kill.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      ::kill(-pgid_, SIGKILL);
      int status = 0;
      pid_t r = ::waitpid(-pgid_, &status, WNOHANG | __WALL);
      if (r > 0 || (r < 0 && errno == EINTR))
        continue;
      if (r < 0) // ECHILD: none left
        break;
      if (std::chrono::steady_clock::now() > deadline) {
        left = "subject processes of group " + std::to_string(pgid_) + " did not end within " +
               std::to_string(timeout_ms) + " ms of SIGKILL";
        break;
      }
      ::usleep(500);
    }
  }
  // Once reaped, the id may name someone else's group: never kill it again.
  pgid_ = 0;
  if (!was_subreaper_)
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  return left;
}

void kill_subjects_from_signal_handler() {
  pid_t g = g_running_group.load();
  if (g > 0)
    ::kill(-g, SIGKILL);
}

} // namespace offsetprobe
