// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/subject_group.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <vector>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

// The groups of the calibrations running in this process (0: a free slot);
// read by the signal handler, hence lock-free atomics. More than one at a
// time: the bundle's read-back ends its subjects on a thread of its own while
// a calibration of the fields the bundle lacks has already started its own.
constexpr size_t kMaxGroups = 8;
std::array<std::atomic<pid_t>, kMaxGroups> g_running_groups{};
static_assert(std::atomic<pid_t>::is_always_lock_free);

// PR_SET_CHILD_SUBREAPER is the process's, not a group's: set while any group
// lives, restored when the last one ends. A group that restored it on its own
// end took it from a calibration still running beside it, whose orphans then
// went to PID 1 (zombies under a PID 1 that reaps nothing, tests/zombies.sh).
std::mutex g_reaper_mutex;
int g_live_groups = 0;
int g_was_subreaper = 0;

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
  std::lock_guard lock(g_reaper_mutex);
  if (g_live_groups++ == 0) {
    prctl(PR_GET_CHILD_SUBREAPER, &g_was_subreaper, 0, 0, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
}

SubjectGroup::~SubjectGroup() {
  end();
}

void SubjectGroup::adopt(pid_t pgid) {
  pgid_ = pgid;
  for (size_t i = 0; i < g_running_groups.size() && slot_ < 0; i++) {
    pid_t free = 0;
    if (g_running_groups[i].compare_exchange_strong(free, pgid))
      slot_ = static_cast<int>(i);
  }
  // No free slot (never so many at once): the end() below still kills and
  // reaps the group; only a stop signal would not reach it at once.
}

std::string SubjectGroup::end(int timeout_ms) {
  if (ended_)
    return "";
  ended_ = true;
  std::string left;
  if (slot_ >= 0)
    g_running_groups[static_cast<size_t>(slot_)].store(0);
  slot_ = -1;
  if (pgid_ > 0) {
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
  std::lock_guard lock(g_reaper_mutex);
  if (--g_live_groups == 0 && !g_was_subreaper)
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  return left;
}

void kill_subjects_from_signal_handler() {
  for (auto &slot : g_running_groups)
    if (pid_t g = slot.load(); g > 0)
      ::kill(-g, SIGKILL);
}

} // namespace offsetprobe
