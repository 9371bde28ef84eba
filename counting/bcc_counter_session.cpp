// SPDX-License-Identifier: GPL-2.0-only
#include "counting/bcc_counter_session.h"

#include "calibration/error.h"
#include "calibration/stderr_capture.h"
#include "offsetprobe/exit_codes.h"

#include "counter.bcc.h"

#include <bcc/BPF.h>

#include <cerrno>
#include <cstring>

namespace offsetprobe {

namespace {

constexpr const char *kExitProg = "raw_tracepoint__sched_process_exit";
constexpr const char *kRawProg = "raw_tracepoint__sys_enter";
constexpr const char *kTpProg = "count_tp";

} // namespace

struct BccCounterSession::Impl {
  std::unique_ptr<ebpf::BPF> bpf = std::make_unique<ebpf::BPF>();
  bool verbose = false;
  // What is attached, in attach order: the exit hook first.
  bool exit_attached = false;
  bool raw_attached = false;
  std::vector<std::string> tracepoints;
  int counts_fd = -1, tasks_fd = -1, drops_fd = -1;

  // Counting hooks first, the exit hook last (it was attached first).
  void detach() {
    StderrCapture quiet(verbose);
    for (auto it = tracepoints.rbegin(); it != tracepoints.rend(); ++it)
      bpf->detach_tracepoint(*it);
    tracepoints.clear();
    if (raw_attached)
      bpf->detach_raw_tracepoint("sys_enter");
    raw_attached = false;
    if (exit_attached)
      bpf->detach_raw_tracepoint("sched_process_exit");
    exit_attached = false;
  }
  ~Impl() {
    detach();
    // BPF's destructor closes the maps and programs; keep its chatter quiet.
    StderrCapture quiet(verbose);
    bpf.reset();
  }
  int map_fd(const char *name) {
    int fd = bpf->get_table(name).get_fd();
    if (fd < 0)
      throw Fatal(exit_bpf, std::string("counting probe (BCC): no map ") + name);
    return fd;
  }
};

namespace {

[[noreturn]] void attach_failed(const std::string &what, const ebpf::StatusTuple &st, int err,
                                const std::string &chatter, const std::string &hint) {
  std::string msg = "counting probe (BCC): attaching " + what + ": " + st.msg() +
                    (chatter.empty() ? "" : " [" + chatter + "]");
  if (err == EPERM || err == EACCES)
    throw Fatal(exit_permission, msg + ": run as root with CAP_BPF and CAP_PERFMON");
  throw Fatal(exit_tracing, msg + hint);
}

} // namespace

BccCounterSession::BccCounterSession(const CounterConfig &cfg, const BccCounterOptions &opts)
    : impl_(std::make_unique<Impl>()) {
  if (cfg.syscall_nrs.empty())
    throw Fatal(exit_usage, "counting probe: no syscall to count");
  if (cfg.tick_ns == 0)
    throw Fatal(exit_failure, "counting probe: tick length is 0");
  bool raw = cfg.hook == CountHook::raw_tracepoint;
  if (!raw && cfg.syscall_names.size() != cfg.syscall_nrs.size())
    throw Fatal(exit_failure, "counting probe: the tracepoint hook needs every syscall's name");
  auto &im = *impl_;
  im.verbose = opts.verbose;
  auto st = im.bpf->init(kCounterBccSource, counter_cflags(cfg));
  if (!st.ok())
    throw Fatal(exit_bpf, "counting probe: compiling with BCC (kernel headers: " +
                              opts.headers_origin + "): " + st.msg());

  // Programs load on their first attach. The exit hook first: a thread's
  // cached key must be forgotten when it exits, before its task_struct
  // address can be reused, from the first counted event on.
  StderrCapture quiet(opts.verbose);
  errno = 0;
  st = im.bpf->attach_raw_tracepoint("sched_process_exit", kExitProg);
  if (!st.ok()) {
    int err = errno;
    attach_failed("raw tracepoint sched_process_exit", st, err, quiet.finish(), "");
  }
  im.exit_attached = true;
  if (raw) {
    errno = 0;
    st = im.bpf->attach_raw_tracepoint("sys_enter", kRawProg);
    if (!st.ok()) {
      int err = errno;
      attach_failed("raw tracepoint sys_enter", st, err, quiet.finish(), "");
    }
    im.raw_attached = true;
  } else {
    for (const auto &name : cfg.syscall_names) {
      std::string tp = "syscalls:sys_enter_" + name;
      errno = 0;
      st = im.bpf->attach_tracepoint(tp, kTpProg);
      if (!st.ok()) {
        int err = errno;
        attach_failed("tracepoint " + tp, st, err, quiet.finish(),
                      " (is tracefs mounted at /sys/kernel/tracing? or use --hook "
                      "raw_tracepoint)");
      }
      im.tracepoints.push_back(tp);
    }
  }
  quiet.finish();
  im.counts_fd = im.map_fd("counts");
  im.tasks_fd = im.map_fd("tasks");
  im.drops_fd = im.map_fd("drops");
}

BccCounterSession::~BccCounterSession() = default;

void BccCounterSession::detach() {
  impl_->detach();
}

std::vector<CountEntry> BccCounterSession::entries() const {
  return read_count_entries(impl_->counts_fd, impl_->tasks_fd);
}

uint64_t BccCounterSession::take(const CountKey &key) {
  return take_count(impl_->counts_fd, key);
}

DropCounts BccCounterSession::drops() const {
  return read_drops(impl_->drops_fd);
}

} // namespace offsetprobe
