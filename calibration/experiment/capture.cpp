// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/capture.h"
#include "calibration/experiment/net/sockscan_session.h"

#include "calibration/experiment/capture_raw.h"

#include "calibration/model/error.h"
#include "calibration/model/result.h"
#include "calibration/experiment/subject.h"

#include "bpf/runtime/libbpf_object.h"
#include "calibration/experiment/trigger.h"

#include "chainscan.h"
#include "chainscan.skel.h"
#include "reader.h"
#include "reader.skel.h"
#include "scanner.h"
#include "scanner.skel.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace offsetprobe {

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
  throw Error(ErrorKind::permission,
              "missing " + missing +
                  " (or CAP_SYS_ADMIN): loading the scanner needs them; run as root "
                  "(e.g. sudo offsetprobe calibrate)");
}

std::optional<uint32_t> slab_object_size(const std::string &cache, uint32_t max) {
  {
    std::ifstream f("/sys/kernel/slab/" + cache + "/object_size");
    uint32_t v = 0;
    if (f >> v && v > 0 && v <= max)
      return v;
  }
  std::ifstream f("/proc/slabinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string name;
    uint64_t active = 0, num = 0, objsize = 0;
    if (is >> name >> active >> num >> objsize && name == cache && objsize > 0 && objsize <= max)
      return static_cast<uint32_t>(objsize);
  }
  return std::nullopt;
}

std::optional<uint32_t> slab_task_struct_size() {
  // The slab object holds the whole task_struct, including the variable-size
  // FPU state at its end (arch_task_struct_size), so no field lies beyond it.
  return slab_object_size("task_struct", OP_SNAPSHOT_BYTES);
}

const TriggerHooks kScannerHooks{"scan_trigger_tp", "scan_trigger_raw", "scan_trigger_uprobe",
                                 "scan_exit_raw"};
const TriggerHooks kChainscanHooks{"chain_trigger_tp", "chain_trigger_raw", "chain_trigger_uprobe",
                                   ""};
const TriggerHooks kReaderHooks{"read_trigger_tp", "read_trigger_raw", "read_trigger_uprobe",
                                "read_exit_raw"};

ProgramSpec scanner_spec(uint32_t nr_chunks) {
  ProgramSpec spec("the scanner");
  spec.u32("nr_chunks", "OP_NR_CHUNKS", nr_chunks);
  return spec;
}

ScannerSession::ScannerSession(const ObjectLoader &load, TriggerMode mode, uint32_t nr_chunks)
    : mode_(mode) {
  auto t = load_triggered(mode, kScannerHooks, scanner_spec(nr_chunks), load);
  obj_ = std::move(t.object);
  mode_ = t.mode;
  exit_attached_ = t.exit_attached;
}

ScannerSession::~ScannerSession() = default;

uint32_t ScannerSession::add_cookie(const std::string &cookie) {
  uint32_t slot = next_slot_++;
  offsetprobe::add_cookie(*obj_, "the scanner", cookie, slot, OP_MAX_SLOTS);
  return slot;
}

Snapshot ScannerSession::snapshot(uint32_t slot) const {
  std::vector<uint8_t> buf(sizeof(op_snapshot));
  if (!lookup_slot(*obj_, "snapshots", slot, buf.data()))
    return Snapshot{};
  return to_snapshot(*reinterpret_cast<const op_snapshot *>(buf.data()));
}

ProgramSpec reader_spec(const ReadPlan &plan) {
  // libbpf: the plan as rodata, the steps as (parent, offset, size, sites)
  // words of struct op_read_step; the verifier sees each step as constants,
  // and the steps past nr_steps as dead code (an empty plan loads a trivial
  // program). BCC: the same steps as OP_PLAN, "OP_STEP(index, parent, offset,
  // size, sites) ...", each offset under the export name of its field
  // (macro_name), so the reader compiles exactly as a BCC consumer of `export
  // --format bcc-cflags` does.
  const auto &all = plan.steps();
  ProgramConstant steps{"steps", 4, {}, {}};
  std::map<std::string, uint32_t> offsets;
  std::string list;
  uint32_t exit_bound = 0;
  for (size_t i = 0; i < all.size(); i++) {
    const ReadStep &s = all[i];
    uint32_t parent = s.parent ? *s.parent + 1 : OP_FROM_TASK;
    steps.values.insert(steps.values.end(), {parent, s.offset, s.size, s.sites});
    std::string off = std::to_string(s.offset) + "U";
    if (!s.field.empty()) {
      auto [it, fresh] = offsets.emplace(s.field, s.offset);
      if (!fresh && it->second != s.offset)
        throw Error(ErrorKind::failure, "reader plan: two offsets for " + s.field);
      if (fresh)
        steps.bcc_defines.push_back("-D" + macro_name(s.field) + "=" + off);
      off = macro_name(s.field);
    }
    list += "OP_STEP(" + std::to_string(i) + ", " + std::to_string(parent) + ", " + off + ", " +
            std::to_string(s.size) + ", " + std::to_string(s.sites) + ") ";
    // The exit program walks only the steps up to the last one read at exit
    // (readback_plan() puts those first).
    if (s.sites & kAtExit)
      exit_bound = static_cast<uint32_t>(i + 1);
  }
  // libbpf's exit program unrolls only OP_MAX_EXIT_STEPS steps: a step read
  // at exit past that bound would never be read there.
  if (exit_bound > OP_MAX_EXIT_STEPS)
    throw Error(ErrorKind::failure, "reader plan: " + std::to_string(exit_bound) +
                                        " steps up to the last one read at exit, more than " +
                                        std::to_string(OP_MAX_EXIT_STEPS));
  steps.bcc_defines.push_back("-DOP_PLAN=" + list);
  // The bounds are libbpf's only: BCC's plan holds just the steps there are.
  ProgramSpec spec("the reader");
  spec.constant({"nr_steps", 4, {all.size()}, {}})
      .constant({"nr_exit_steps", 4, {exit_bound}, {}})
      .constant(std::move(steps))
      .map_size("readbacks", "OP_READER_SLOTS", OP_READER_SLOTS_USED);
  return spec;
}

ReaderSession::ReaderSession(const ObjectLoader &load, TriggerMode mode, const ReadPlan &plan)
    : plan_(plan) {
  auto t = load_triggered(mode, kReaderHooks, reader_spec(plan_), load);
  obj_ = std::move(t.object);
  exit_attached_ = t.exit_attached;
}

ReaderSession::~ReaderSession() = default;

uint32_t ReaderSession::add_cookie(const std::string &cookie) {
  uint32_t slot = next_slot_++;
  offsetprobe::add_cookie(*obj_, "the reader", cookie, slot, OP_READER_SLOTS_USED);
  return slot;
}

ReadValues ReaderSession::readback(uint32_t slot) const {
  op_readback raw{};
  if (!lookup_slot(*obj_, "readbacks", slot, &raw))
    return ReadValues{};
  return to_read_values(raw, plan_);
}

namespace {

const ChainPlan &checked(const ChainPlan &plan) {
  if (plan.ptr_offsets.size() > OP_MAX_PTRS || plan.nested_of.size() > OP_MAX_NESTED)
    throw Error(ErrorKind::failure, "chain scanner: plan exceeds its capacity");
  for (uint32_t n : plan.nested_of)
    if (n >= plan.ptr_offsets.size())
      throw Error(ErrorKind::failure, "chain scanner: nested index out of range");
  return plan;
}

} // namespace

ProgramSpec chainscan_spec(const ChainPlan &plan, uint32_t max_subjects) {
  ProgramSpec spec("the chain scanner");
  spec.u32("nr_ptrs", "OP_NR_PTRS", static_cast<uint32_t>(plan.ptr_offsets.size()))
      .u32_array("ptr_off", "OP_PTR_OFFS", plan.ptr_offsets)
      .u32("nr_nested", "OP_NR_NESTED", static_cast<uint32_t>(plan.nested_of.size()))
      .u32_array("nested_of", "OP_NESTED_OF", plan.nested_of)
      .map_size("chain_snaps", "OP_MAX_SUBJECTS", max_subjects);
  return spec;
}

ChainScannerSession::ChainScannerSession(const ObjectLoader &load, TriggerMode mode,
                                         const ChainPlan &plan, uint32_t max_subjects)
    : plan_(checked(plan)), max_subjects_(std::max(1u, max_subjects)) {
  // Only the trigger: chains are read from live subjects.
  obj_ = load_triggered(mode, kChainscanHooks, chainscan_spec(plan_, max_subjects_), load).object;
}

ChainScannerSession::~ChainScannerSession() = default;

uint32_t ChainScannerSession::add_cookie(const std::string &cookie) {
  uint32_t slot = next_slot_++;
  offsetprobe::add_cookie(*obj_, "the chain scanner", cookie, slot, max_subjects_);
  return slot;
}

ChainCapture ChainScannerSession::capture(uint32_t slot) const {
  std::vector<uint8_t> buf(sizeof(op_chain_snapshot));
  if (!lookup_slot(*obj_, "chain_snaps", slot, buf.data()))
    return ChainCapture{};
  return to_chain_capture(*reinterpret_cast<const op_chain_snapshot *>(buf.data()), plan_);
}

ObjectLoader libbpf_loader(Program p) {
  return [p](const ProgramSpec &spec) {
    LibbpfElf elf{};
    switch (p) {
    case Program::scanner:
      elf = {"op_scanner", op_scanner__elf_bytes(&elf.size), elf.size};
      break;
    case Program::chainscan:
      elf = {"op_chainscan", op_chainscan__elf_bytes(&elf.size), elf.size};
      break;
    case Program::reader:
      elf = {"op_reader", op_reader__elf_bytes(&elf.size), elf.size};
      break;
    }
    return try_load_libbpf(spec, elf);
  };
}

const Backend &libbpf_backend() {
  static const Backend b{
      "libbpf",
      [](TriggerMode m, uint32_t nr_chunks) -> std::unique_ptr<Scanner> {
        return std::make_unique<ScannerSession>(libbpf_loader(Program::scanner), m, nr_chunks);
      },
      [](TriggerMode m, const ReadPlan &plan) -> std::unique_ptr<Reader> {
        return std::make_unique<ReaderSession>(libbpf_loader(Program::reader), m, plan);
      },
      [](TriggerMode m, const ChainPlan &plan, uint32_t n) -> std::unique_ptr<ChainScanner> {
        return std::make_unique<ChainScannerSession>(libbpf_loader(Program::chainscan), m, plan, n);
      },
      net::sockscan_libbpf_loader(),
  };
  return b;
}

} // namespace offsetprobe
