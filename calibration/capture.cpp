// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/capture.h"

#include "calibration/capture_raw.h"

#include "calibration/error.h"
#include "calibration/subject.h"
#include "offsetprobe/exit_codes.h"

#include "chainscan.h"
#include "chainscan.skel.h"
#include "reader.h"
#include "reader.skel.h"
#include "scanner.h"
#include "scanner.skel.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace offsetprobe {

const char *to_string(TriggerMode m) {
  switch (m) {
  case TriggerMode::automatic:
    return "auto";
  case TriggerMode::tracepoint:
    return "tracepoint";
  case TriggerMode::raw_tracepoint:
    return "raw_tracepoint";
  case TriggerMode::uprobe:
    return "uprobe";
  }
  return "auto";
}

std::optional<TriggerMode> trigger_mode_from_string(const std::string &s) {
  for (auto m : {TriggerMode::automatic, TriggerMode::tracepoint, TriggerMode::raw_tracepoint,
                 TriggerMode::uprobe})
    if (s == to_string(m))
      return m;
  return std::nullopt;
}

void check_bpf_privileges() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0)
    return; // cannot tell: let the bpf() syscall speak
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1; };
  constexpr int cap_sys_admin = 21, cap_perfmon = 38, cap_bpf = 39;
  if (has(cap_sys_admin))
    return;
  if (has(cap_bpf) && has(cap_perfmon))
    return;
  std::string missing;
  if (!has(cap_bpf))
    missing += "CAP_BPF";
  if (!has(cap_perfmon))
    missing += std::string(missing.empty() ? "" : " and ") + "CAP_PERFMON";
  throw Fatal(exit_permission,
              "missing " + missing +
                  " (or CAP_SYS_ADMIN): loading the scanner needs them; run as root "
                  "(e.g. sudo offsetprobe calibrate)");
}

std::optional<uint32_t> slab_task_struct_size() {
  // The slab object holds the whole task_struct, including the variable-size
  // FPU state at its end (arch_task_struct_size), so no field lies beyond it.
  {
    std::ifstream f("/sys/kernel/slab/task_struct/object_size");
    uint32_t v = 0;
    if (f >> v && v > 0 && v <= OP_SNAPSHOT_BYTES)
      return v;
  }
  std::ifstream f("/proc/slabinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string name;
    uint64_t active = 0, num = 0, objsize = 0;
    if (is >> name >> active >> num >> objsize && name == "task_struct" && objsize > 0 &&
        objsize <= OP_SNAPSHOT_BYTES)
      return static_cast<uint32_t>(objsize);
  }
  return std::nullopt;
}

namespace {

// libbpf's messages go to stderr only with -v; otherwise they are kept quiet
// and our own error (with context) is what the user sees.
int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
  static const bool verbose = getenv("OFFSETPROBE_LIBBPF_DEBUG") != nullptr;
  if (!verbose && level != LIBBPF_WARN)
    return 0;
  if (!verbose)
    return 0;
  return vfprintf(stderr, fmt, args);
}

// With OFFSETPROBE_LIBBPF_DEBUG, each program's verifier statistics
// (instructions processed, verification time) are printed after its load.
void verifier_stats(bpf_object *obj) {
  if (!getenv("OFFSETPROBE_LIBBPF_DEBUG"))
    return;
  bpf_program *p;
  bpf_object__for_each_program(p, obj) bpf_program__set_log_level(p, 4);
}

void init_libbpf() {
  static bool done = false;
  if (done)
    return;
  done = true;
  libbpf_set_print(libbpf_print);
}

std::string errno_text(int err) {
  err = err < 0 ? -err : err;
  return std::string(strerrorname_np(err) ? strerrorname_np(err) : "E?") + " (" +
         std::strerror(err) + ")";
}

[[noreturn]] void fail_load(const char *what, int err) {
  err = err < 0 ? -err : err;
  if (err == EPERM || err == EACCES)
    throw Fatal(exit_permission, std::string("loading ") + what + ": " + errno_text(err) +
                                     ": run as root with CAP_BPF and CAP_PERFMON");
  throw Fatal(exit_bpf, std::string("loading ") + what + ": " + errno_text(err));
}

// File offset of offsetprobe_trigger() in the running binary, for the uprobe.
std::pair<std::string, uint64_t> trigger_location() {
  auto addr = reinterpret_cast<uintptr_t>(&offsetprobe_trigger);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    uint64_t off = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64 " %*s %*s%n", &lo, &hi,
                    perms, &off, &path_at) < 4)
      continue;
    if (addr < lo || addr >= hi)
      continue;
    std::string path = line.substr(static_cast<size_t>(path_at));
    path.erase(0, path.find_first_not_of(' '));
    return {path, addr - lo + off};
  }
  throw Fatal(exit_tracing, "uprobe fallback: cannot find offsetprobe_trigger in /proc/self/maps");
}

// The programs of one object that can catch a trigger or an exit.
struct TriggerPrograms {
  bpf_program *tp, *raw, *uprobe, *exit_tp, *exit_raw;
};

// Chooses, before load, the one trigger program to load for `mode` (never
// automatic: see with_fallback) and the exit hook.
void plan_for(TriggerMode mode, const TriggerPrograms &p) {
  bpf_program__set_autoload(p.tp, mode == TriggerMode::tracepoint);
  bpf_program__set_autoload(p.raw, mode == TriggerMode::raw_tracepoint);
  bpf_program__set_autoload(p.uprobe, mode == TriggerMode::uprobe);
  // The exit hook is always the raw sched_process_exit tracepoint (4.17+):
  // detaching a perf-event tracepoint waits for an RCU grace period in
  // perf_trace_event_unreg() (tens of ms here), a raw one does not.
  bpf_program__set_autoload(p.exit_tp, false);
  bpf_program__set_autoload(p.exit_raw, true);
}

// Automatic mode prefers the raw sys_enter tracepoint: it needs no tracefs,
// and detaching it does not block, while closing the last perf-event user of
// a syscalls:* tracepoint waits for an RCU grace period in
// perf_trace_event_unreg() (50-70 ms measured here). Its cost, our program
// running on every syscall for the few milliseconds of a calibration, is a
// comm lookup that returns at once for every task but the subjects.
//
// Only when the raw tracepoint cannot be loaded or attached is the object
// built again with the uprobe. Loading the uprobe program alongside, just in
// case, costs its verification on every run (0.8 ms for the scanner, 3.7 ms
// for a reader with chain offsets, measured with OFFSETPROBE_LIBBPF_DEBUG).
// `build(mode)` starts from a fresh object each time.
template <class Build> void with_fallback(TriggerMode requested, Build build) {
  if (requested != TriggerMode::automatic)
    return build(requested);
  try {
    build(TriggerMode::raw_tracepoint);
  } catch (const Fatal &e) {
    if (e.code() == exit_permission)
      throw;
    build(TriggerMode::uprobe);
  }
}

// Attaches the trigger program of `mode` and the exit hook. Links are owned
// by the caller's vector. Returns whether the exit hook attached.
bool attach(TriggerMode mode, const TriggerPrograms &p, std::vector<bpf_link *> &links) {
  bpf_link *link = nullptr;
  switch (mode) {
  case TriggerMode::tracepoint:
    link = bpf_program__attach_tracepoint(p.tp, "syscalls", "sys_enter_getppid");
    break;
  case TriggerMode::raw_tracepoint:
    // Test only (tests/live_calibrate.sh): a kernel whose raw tracepoint
    // cannot be attached, for the automatic mode's fallback.
    if (getenv("OFFSETPROBE_TEST_NO_RAW_TRACEPOINT"))
      errno = ENOENT;
    else
      link = bpf_program__attach_raw_tracepoint(p.raw, "sys_enter");
    break;
  case TriggerMode::uprobe: {
    auto [path, off] = trigger_location();
    link = bpf_program__attach_uprobe(p.uprobe, false, -1, path.c_str(), off);
    break;
  }
  case TriggerMode::automatic:
    break;
  }
  if (!link) {
    int err = -errno;
    if (err == -EPERM || err == -EACCES)
      fail_load("the trigger hook", err);
    throw Fatal(exit_tracing, std::string("attaching the trigger hook (") + to_string(mode) +
                                  "): " + errno_text(err) +
                                  ". Is tracefs mounted? mount -t tracefs nodev "
                                  "/sys/kernel/tracing; or try --trigger uprobe");
  }
  links.push_back(link);
  bpf_link *exit_link = bpf_program__attach_raw_tracepoint(p.exit_raw, "sched_process_exit");
  if (exit_link)
    links.push_back(exit_link);
  return exit_link != nullptr;
}

void destroy_links(std::vector<bpf_link *> &links) {
  for (auto *l : links)
    bpf_link__destroy(l);
  links.clear();
}

uint32_t register_cookie(bpf_map *map, const std::string &cookie, uint32_t slot) {
  if (slot >= OP_MAX_SLOTS)
    throw Fatal(exit_failure, "too many subjects for one session");
  char key[OP_COMM_LEN] = {};
  std::memcpy(key, cookie.data(), std::min(cookie.size(), sizeof(key) - 1));
  if (bpf_map__update_elem(map, key, sizeof(key), &slot, sizeof(slot), BPF_ANY) != 0)
    throw Fatal(exit_bpf, "registering a subject cookie: " + errno_text(errno));
  return slot;
}

} // namespace

struct ScannerSession::Impl {
  op_scanner *skel = nullptr;
  std::vector<bpf_link *> links;
  ~Impl() {
    destroy_links(links);
    op_scanner__destroy(skel);
  }
};

ScannerSession::ScannerSession(TriggerMode mode, uint32_t nr_chunks) : mode_(mode) {
  init_libbpf();
  with_fallback(mode, [&](TriggerMode m) {
    impl_ = std::make_unique<Impl>();
    auto &s = impl_->skel;
    s = op_scanner__open();
    if (!s)
      fail_load("the scanner", errno);
    s->rodata->nr_chunks = nr_chunks;
    s->rodata->trigger_nr = SYS_getppid;
    TriggerPrograms p{s->progs.scan_trigger_tp, s->progs.scan_trigger_raw,
                      s->progs.scan_trigger_uprobe, s->progs.scan_exit, s->progs.scan_exit_raw};
    plan_for(m, p);
    verifier_stats(s->obj);
    if (int err = op_scanner__load(s))
      fail_load("the scanner", err);
    exit_attached_ = attach(m, p, impl_->links);
    mode_ = m;
  });
}

ScannerSession::~ScannerSession() = default;

uint32_t ScannerSession::add_cookie(const std::string &cookie) {
  return register_cookie(impl_->skel->maps.cookies, cookie, next_slot_++);
}

Snapshot ScannerSession::snapshot(uint32_t slot) const {
  std::vector<uint8_t> buf(sizeof(op_snapshot));
  if (bpf_map__lookup_elem(impl_->skel->maps.snapshots, &slot, sizeof(slot), buf.data(), buf.size(),
                           0) != 0)
    return Snapshot{};
  return to_snapshot(*reinterpret_cast<const op_snapshot *>(buf.data()));
}

struct ReaderSession::Impl {
  op_reader *skel = nullptr;
  std::vector<bpf_link *> links;
  ~Impl() {
    destroy_links(links);
    op_reader__destroy(skel);
  }
};

ReaderSession::ReaderSession(TriggerMode mode, const ReadPlan &plan) : plan_(plan) {
  init_libbpf();
  with_fallback(mode, [&](TriggerMode m) { load(m); });
}

void ReaderSession::load(TriggerMode mode) {
  impl_ = std::make_unique<Impl>();
  auto &s = impl_->skel;
  s = op_reader__open();
  if (!s)
    fail_load("the reader", errno);
  s->rodata->trigger_nr = SYS_getppid;
  // The plan as rodata: the verifier sees each step as constants, and the
  // steps past nr_steps as dead code (an empty plan loads a trivial program).
  const auto &steps = plan_.steps();
  s->rodata->nr_steps = static_cast<uint32_t>(steps.size());
  uint32_t exit_bound = 0;
  for (size_t i = 0; i < steps.size(); i++) {
    auto &dst = s->rodata->steps[i];
    dst.parent = steps[i].parent ? *steps[i].parent + 1 : OP_FROM_TASK;
    dst.offset = steps[i].offset;
    dst.size = steps[i].size;
    dst.sites = steps[i].sites;
    if (steps[i].sites & kAtExit)
      exit_bound = static_cast<uint32_t>(i + 1);
  }
  // The exit program walks only the steps up to the last one read at exit
  // (readback_plan() puts those first).
  s->rodata->nr_exit_steps = exit_bound;
  TriggerPrograms p{s->progs.read_trigger_tp, s->progs.read_trigger_raw,
                    s->progs.read_trigger_uprobe, s->progs.read_exit, s->progs.read_exit_raw};
  plan_for(mode, p);
  verifier_stats(s->obj);
  if (int err = op_reader__load(s))
    fail_load("the reader", err);
  exit_attached_ = attach(mode, p, impl_->links);
}

ReaderSession::~ReaderSession() = default;

uint32_t ReaderSession::add_cookie(const std::string &cookie) {
  return register_cookie(impl_->skel->maps.cookies, cookie, next_slot_++);
}

ReadValues ReaderSession::readback(uint32_t slot) const {
  op_readback raw{};
  if (bpf_map__lookup_elem(impl_->skel->maps.readbacks, &slot, sizeof(slot), &raw, sizeof(raw),
                           0) != 0)
    return ReadValues{};
  return to_read_values(raw, plan_);
}

struct ChainScannerSession::Impl {
  op_chainscan *skel = nullptr;
  std::vector<bpf_link *> links;
  ~Impl() {
    destroy_links(links);
    op_chainscan__destroy(skel);
  }
};

ChainScannerSession::ChainScannerSession(TriggerMode mode, const ChainPlan &plan,
                                         uint32_t max_subjects)
    : impl_(std::make_unique<Impl>()), plan_(plan), max_subjects_(std::max(1u, max_subjects)) {
  init_libbpf();
  if (plan.ptr_offsets.size() > OP_MAX_PTRS || plan.nested_of.size() > OP_MAX_NESTED)
    throw Fatal(exit_failure, "chain scanner: plan exceeds its capacity");
  for (uint32_t n : plan.nested_of)
    if (n >= plan.ptr_offsets.size())
      throw Fatal(exit_failure, "chain scanner: nested index out of range");
  auto &s = impl_->skel;
  s = op_chainscan__open();
  if (!s)
    fail_load("the chain scanner", errno);
  s->rodata->trigger_nr = SYS_getppid;
  s->rodata->nr_ptrs = static_cast<uint32_t>(plan.ptr_offsets.size());
  for (size_t i = 0; i < plan.ptr_offsets.size(); i++)
    s->rodata->ptr_off[i] = plan.ptr_offsets[i];
  s->rodata->nr_nested = static_cast<uint32_t>(plan.nested_of.size());
  for (size_t i = 0; i < plan.nested_of.size(); i++)
    s->rodata->nested_of[i] = plan.nested_of[i];
  if (bpf_map__set_max_entries(s->maps.chain_snaps, max_subjects_) != 0)
    fail_load("the chain scanner (map size)", errno);
  // Only the trigger: chains are read from live subjects. The uprobe
  // fallback's program stays loadable in case the mode is uprobe.
  bpf_program__set_autoload(s->progs.chain_trigger_tp, mode == TriggerMode::tracepoint);
  bpf_program__set_autoload(s->progs.chain_trigger_raw, mode == TriggerMode::raw_tracepoint);
  bpf_program__set_autoload(s->progs.chain_trigger_uprobe, mode == TriggerMode::uprobe);
  verifier_stats(s->obj);
  if (int err = op_chainscan__load(s))
    fail_load("the chain scanner", err);
  bpf_link *link = nullptr;
  switch (mode) {
  case TriggerMode::tracepoint:
    link =
        bpf_program__attach_tracepoint(s->progs.chain_trigger_tp, "syscalls", "sys_enter_getppid");
    break;
  case TriggerMode::uprobe: {
    auto [path, off] = trigger_location();
    link = bpf_program__attach_uprobe(s->progs.chain_trigger_uprobe, false, -1, path.c_str(), off);
    break;
  }
  default:
    link = bpf_program__attach_raw_tracepoint(s->progs.chain_trigger_raw, "sys_enter");
    break;
  }
  if (!link)
    throw Fatal(exit_tracing, std::string("attaching the chain scanner (") + to_string(mode) +
                                  "): " + errno_text(errno));
  impl_->links.push_back(link);
}

ChainScannerSession::~ChainScannerSession() = default;

uint32_t ChainScannerSession::add_cookie(const std::string &cookie) {
  if (next_slot_ >= max_subjects_)
    throw Fatal(exit_failure, "too many subjects for the chain scanner");
  return register_cookie(impl_->skel->maps.cookies, cookie, next_slot_++);
}

ChainCapture ChainScannerSession::capture(uint32_t slot) const {
  std::vector<uint8_t> buf(sizeof(op_chain_snapshot));
  if (bpf_map__lookup_elem(impl_->skel->maps.chain_snaps, &slot, sizeof(slot), buf.data(),
                           buf.size(), 0) != 0)
    return ChainCapture{};
  return to_chain_capture(*reinterpret_cast<const op_chain_snapshot *>(buf.data()), plan_);
}

const Backend &libbpf_backend() {
  static const Backend b{
      "libbpf",
      [](TriggerMode m, uint32_t nr_chunks) -> std::unique_ptr<Scanner> {
        return std::make_unique<ScannerSession>(m, nr_chunks);
      },
      [](TriggerMode m, const ReadPlan &plan) -> std::unique_ptr<Reader> {
        return std::make_unique<ReaderSession>(m, plan);
      },
      [](TriggerMode m, const ChainPlan &plan, uint32_t n) -> std::unique_ptr<ChainScanner> {
        return std::make_unique<ChainScannerSession>(m, plan, n);
      },
  };
  return b;
}

} // namespace offsetprobe
