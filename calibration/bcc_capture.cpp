// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/bcc_capture.h"

#include "calibration/capture_raw.h"
#include "calibration/chains.h"
#include "calibration/error.h"
#include "calibration/stderr_capture.h"
#include "calibration/subject.h"
#include "offsetprobe/exit_codes.h"

#include "chainscan.bcc.h"
#include "chainscan.h"
#include "reader.bcc.h"
#include "reader.h"
#include "scanner.bcc.h"
#include "scanner.h"

#include <bcc/BPF.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace offsetprobe {

std::vector<std::string> reader_cflags(const ReadPlan &plan) {
  // The offsets as the export names of their fields (macro_name), so the
  // reader compiles exactly as a BCC consumer of `export --format
  // bcc-cflags` does; the plan refers to them by name.
  std::vector<std::string> out;
  std::map<std::string, uint32_t> offsets;
  std::string steps;
  const auto &all = plan.steps();
  for (size_t i = 0; i < all.size(); i++) {
    const ReadStep &s = all[i];
    std::string off = std::to_string(s.offset) + "U";
    if (!s.field.empty()) {
      auto [it, fresh] = offsets.emplace(s.field, s.offset);
      if (!fresh && it->second != s.offset)
        throw Fatal(exit_failure, "reader plan: two offsets for " + s.field);
      if (fresh)
        out.push_back("-D" + macro_name(s.field) + "=" + off);
      off = macro_name(s.field);
    }
    steps += "OP_STEP(" + std::to_string(i) + ", " +
             std::to_string(s.parent ? *s.parent + 1 : OP_FROM_TASK) + ", " + off + ", " +
             std::to_string(s.size) + ", " + std::to_string(s.sites) + ") ";
  }
  out.push_back("-DOP_PLAN=" + steps);
  return out;
}

std::vector<std::string> chainscan_cflags(const ChainPlan &plan, uint32_t max_subjects) {
  auto list = [](const std::vector<uint32_t> &v) {
    std::string s;
    for (uint32_t x : v) {
      if (!s.empty())
        s += ',';
      s += std::to_string(x);
      s += 'U';
    }
    return s;
  };
  return {
      "-DOP_NR_PTRS=" + std::to_string(plan.ptr_offsets.size()),
      "-DOP_PTR_OFFS=" + list(plan.ptr_offsets),
      "-DOP_NR_NESTED=" + std::to_string(plan.nested_of.size()),
      "-DOP_NESTED_OF=" + list(plan.nested_of),
      "-DOP_MAX_SUBJECTS=" + std::to_string(max_subjects),
  };
}

namespace {

// The ELF virtual address of offsetprobe_trigger() in the running binary: the
// runtime address minus the main program's load bias. BCC turns it into the
// file offset the uprobe needs; the symbol table is not needed (a stripped
// install works).
uint64_t trigger_vaddr() {
  uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) {
        *static_cast<uintptr_t *>(data) = info->dlpi_addr;
        return 1; // the first entry is the main program
      },
      &bias);
  return reinterpret_cast<uintptr_t>(&offsetprobe_trigger) - bias;
}

std::string self_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "/proc/self/exe" : p.string();
}

// One compiled BCC module with its cookie map, attached per the trigger mode
// like the libbpf sessions (capture.cpp: plan_for/attach): automatic is the
// raw sys_enter tracepoint, else a uprobe on offsetprobe_trigger(); the exit
// hook, where the program has one (`exit_hook`), is always the raw
// sched_process_exit tracepoint. Cookies go to slots below `max_slots`.
class BccSession {
public:
  BccSession(const BccConfig &cfg, const char *what, const char *source,
             std::vector<std::string> cflags, TriggerMode requested, const char *uprobe_fn,
             bool exit_hook = true, uint32_t max_slots = OP_MAX_SLOTS)
      : what_(what), bpf_(std::make_unique<ebpf::BPF>()), max_slots_(max_slots) {
    TriggerMode plan =
        requested == TriggerMode::automatic ? TriggerMode::raw_tracepoint : requested;
    bool uprobe_fallback = requested == TriggerMode::automatic;
    cflags.push_back("-DOP_TRIGGER_NR=" + std::to_string(SYS_getppid) + "ULL");
    if (plan == TriggerMode::tracepoint)
      cflags.push_back("-DOP_WANT_TP");
    if (plan == TriggerMode::raw_tracepoint)
      cflags.push_back("-DOP_WANT_RAW");
    if (plan == TriggerMode::uprobe || uprobe_fallback)
      cflags.push_back("-DOP_WANT_UPROBE");

    auto st = bpf_->init(source, cflags);
    if (!st.ok())
      throw Fatal(exit_bpf, std::string("compiling the ") + what + " with BCC (kernel headers: " +
                                cfg.headers_origin + "): " + st.msg());

    StderrCapture quiet(cfg.verbose);
    int err = 0;
    auto try_attach = [&](TriggerMode m) {
      auto st = attach_one(m, uprobe_fn);
      err = st.ok() ? 0 : errno;
      return st;
    };
    mode_ = plan;
    auto st_attach = try_attach(plan);
    if (!st_attach.ok() && uprobe_fallback) {
      auto st_uprobe = try_attach(TriggerMode::uprobe);
      if (st_uprobe.ok()) {
        mode_ = TriggerMode::uprobe;
        st_attach = st_uprobe;
      }
    }
    if (!st_attach.ok()) {
      std::string chatter = quiet.finish();
      std::string msg = std::string("attaching the ") + what + "'s trigger hook (" +
                        to_string(plan) + ") with BCC: " + st_attach.msg() +
                        (chatter.empty() ? "" : " [" + chatter + "]");
      if (err == EPERM || err == EACCES)
        throw Fatal(exit_permission, msg + ": run as root with CAP_BPF and CAP_PERFMON");
      throw Fatal(exit_tracing, msg + ". Is tracefs mounted? mount -t tracefs nodev "
                                      "/sys/kernel/tracing; or try --trigger uprobe");
    }
    if (exit_hook)
      exit_attached_ =
          bpf_->attach_raw_tracepoint("sched_process_exit", "raw_tracepoint__sched_process_exit")
              .ok();
    quiet.finish();
  }

  ~BccSession() {
    // BPF's destructor detaches everything; keep its chatter quiet as well.
    StderrCapture quiet(false);
    bpf_.reset();
  }

  TriggerMode mode() const { return mode_; }
  bool exit_attached() const { return exit_attached_; }

private:
  ebpf::StatusTuple attach_one(TriggerMode m, const char *uprobe_fn) {
    switch (m) {
    case TriggerMode::tracepoint:
      return bpf_->attach_tracepoint("syscalls:sys_enter_getppid",
                                     "tracepoint__syscalls__sys_enter_getppid");
    case TriggerMode::raw_tracepoint:
      return bpf_->attach_raw_tracepoint("sys_enter", "raw_tracepoint__sys_enter");
    case TriggerMode::uprobe:
      return bpf_->attach_uprobe(self_path(), "", uprobe_fn, trigger_vaddr());
    case TriggerMode::automatic:
      break;
    }
    return ebpf::StatusTuple(-1, "no trigger mode");
  }

public:
  int map_fd(const char *name) {
    int fd = bpf_->get_table(name).get_fd();
    if (fd < 0)
      throw Fatal(exit_bpf, std::string("the ") + what_ + " has no map " + name);
    return fd;
  }

  uint32_t add_cookie(const std::string &cookie, uint32_t slot) {
    if (slot >= max_slots_)
      throw Fatal(exit_failure, std::string("too many subjects for the ") + what_);
    char key[OP_COMM_LEN] = {};
    std::memcpy(key, cookie.data(), std::min(cookie.size(), sizeof(key) - 1));
    if (bpf_update_elem(map_fd("cookies"), key, &slot, BPF_ANY) != 0)
      throw Fatal(exit_bpf, std::string("registering a subject cookie in the ") + what_ + ": " +
                                std::strerror(errno));
    return slot;
  }

  bool lookup(const char *map, uint32_t slot, void *value) {
    return bpf_lookup_elem(map_fd(map), &slot, value) == 0;
  }

private:
  const char *what_;
  std::unique_ptr<ebpf::BPF> bpf_;
  uint32_t max_slots_;
  TriggerMode mode_ = TriggerMode::raw_tracepoint;
  bool exit_attached_ = false;
};

class BccScanner : public Scanner {
public:
  BccScanner(const BccConfig &cfg, TriggerMode mode, uint32_t nr_chunks)
      : session_(cfg, "scanner", kScannerBccSource,
                 {"-DOP_NR_CHUNKS=" + std::to_string(nr_chunks) + "U"}, mode,
                 "scan_trigger_uprobe") {}

  uint32_t add_cookie(const std::string &cookie) override {
    return session_.add_cookie(cookie, next_slot_++);
  }
  Snapshot snapshot(uint32_t slot) const override {
    std::vector<uint8_t> buf(sizeof(op_snapshot));
    if (!session_.lookup("snapshots", slot, buf.data()))
      return Snapshot{};
    return to_snapshot(*reinterpret_cast<const op_snapshot *>(buf.data()));
  }
  TriggerMode mode() const override { return session_.mode(); }
  bool exit_attached() const override { return session_.exit_attached(); }

private:
  mutable BccSession session_;
  uint32_t next_slot_ = 0;
};

class BccReader : public Reader {
public:
  BccReader(const BccConfig &cfg, TriggerMode mode, const ReadPlan &plan)
      : plan_(plan), session_(cfg, "reader", kReaderBccSource, reader_cflags(plan), mode,
                              "read_trigger_uprobe") {}

  uint32_t add_cookie(const std::string &cookie) override {
    return session_.add_cookie(cookie, next_slot_++);
  }
  ReadValues readback(uint32_t slot) const override {
    op_readback raw{};
    if (!session_.lookup("readbacks", slot, &raw))
      return ReadValues{};
    return to_read_values(raw, plan_);
  }
  bool exit_attached() const override { return session_.exit_attached(); }

private:
  ReadPlan plan_;
  mutable BccSession session_;
  uint32_t next_slot_ = 0;
};

// The chain scanner (bpf/chainscan.bcc.c): the plan is compiled in as -D
// macros; only the trigger is attached (chains are read from live subjects).
// `mode` is the mode the stage-1 scanner attached with (never automatic).
class BccChainScanner : public ChainScanner {
public:
  BccChainScanner(const BccConfig &cfg, TriggerMode mode, const ChainPlan &plan,
                  uint32_t max_subjects)
      : plan_(checked(plan)), max_subjects_(std::max(1u, max_subjects)),
        session_(cfg, "chain scanner", kChainscanBccSource, chainscan_cflags(plan_, max_subjects_),
                 mode, "chain_trigger_uprobe", false, max_subjects_) {}

  uint32_t add_cookie(const std::string &cookie) override {
    return session_.add_cookie(cookie, next_slot_++);
  }

  ChainCapture capture(uint32_t slot) const override {
    std::vector<uint8_t> buf(sizeof(op_chain_snapshot));
    if (!session_.lookup("chain_snaps", slot, buf.data()))
      return ChainCapture{};
    return to_chain_capture(*reinterpret_cast<const op_chain_snapshot *>(buf.data()), plan_);
  }

private:
  static const ChainPlan &checked(const ChainPlan &plan) {
    if (plan.ptr_offsets.size() > OP_MAX_PTRS || plan.nested_of.size() > OP_MAX_NESTED)
      throw Fatal(exit_failure, "chain scanner: plan exceeds its capacity");
    for (uint32_t n : plan.nested_of)
      if (n >= plan.ptr_offsets.size())
        throw Fatal(exit_failure, "chain scanner: nested index out of range");
    return plan;
  }

  ChainPlan plan_;
  uint32_t max_subjects_;
  mutable BccSession session_;
  uint32_t next_slot_ = 0;
};

} // namespace

Backend make_bcc_backend(const BccConfig &config) {
  // BCC reads the header location from the environment at each compile; this
  // process (offsetprobe-bcc) exists for the BCC backend alone.
  ::setenv("BCC_KERNEL_SOURCE", config.kernel_source.c_str(), 1);
  return Backend{
      "bcc",
      [config](TriggerMode m, uint32_t nr_chunks) -> std::unique_ptr<Scanner> {
        return std::make_unique<BccScanner>(config, m, nr_chunks);
      },
      [config](TriggerMode m, const ReadPlan &plan) -> std::unique_ptr<Reader> {
        return std::make_unique<BccReader>(config, m, plan);
      },
      [config](TriggerMode m, const ChainPlan &plan, uint32_t n) -> std::unique_ptr<ChainScanner> {
        return std::make_unique<BccChainScanner>(config, m, plan, n);
      },
  };
}

} // namespace offsetprobe
