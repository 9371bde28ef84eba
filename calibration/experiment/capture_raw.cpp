// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/capture_raw.h"

#include "chainscan.h"
#include "reader.h"
#include "scanner.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace offsetprobe {

Snapshot to_snapshot(const op_snapshot &raw) {
  Snapshot snap;
  if (raw.count == 0)
    return snap;
  snap.captured = true;
  snap.task_addr = raw.task_addr;
  snap.tid = static_cast<uint32_t>(raw.pid_tgid);
  snap.tgid = static_cast<uint32_t>(raw.pid_tgid >> 32);
  snap.chunk_size = OP_CHUNK_SIZE;
  snap.readable = raw.readable;
  snap.site = raw.site;
  snap.count = raw.count;
  snap.bytes.assign(raw.data, raw.data + OP_SNAPSHOT_BYTES);
  return snap;
}

ReadValues to_read_values(const op_readback &raw, const ReadPlan &plan) {
  ReadValues rv;
  if (raw.task_addr == 0)
    return rv;
  rv.captured = true;
  rv.task_addr = raw.task_addr;
  rv.tid = static_cast<uint32_t>(raw.pid_tgid);
  rv.tgid = static_cast<uint32_t>(raw.pid_tgid >> 32);
  rv.site = raw.site;
  const auto &steps = plan.steps();
  for (size_t i = 0; i < steps.size() && i < OP_MAX_STEPS; i++) {
    rv.ok.push_back(raw.ok[i / 64] >> (i % 64) & 1);
    const auto *bytes = reinterpret_cast<const uint8_t *>(raw.values[i]);
    rv.raw.emplace_back(bytes, bytes + std::min<uint32_t>(steps[i].size, OP_STEP_BYTES));
  }
  return rv;
}

static_assert(OP_NESTED_CHUNKS * OP_CHAIN_GRAINS <= 64 && OP_PTEE_CHUNKS * OP_CHAIN_GRAINS <= 64,
              "a readable mask holds one bit per grain");

ChainCapture to_chain_capture(const op_chain_snapshot &raw, const ChainPlan &plan) {
  ChainCapture out;
  if (raw.count == 0)
    return out;
  out.captured = true;
  out.ptr_offsets = plan.ptr_offsets;
  out.nested_of = plan.nested_of;
  auto snap = [](uint64_t addr, uint64_t readable, const unsigned char *b, size_t n) {
    Snapshot s;
    s.captured = true;
    s.task_addr = addr;
    s.chunk_size = OP_CHAIN_GRAIN; // the masks count 64 B grains (chainscan.h)
    s.readable = readable;
    s.bytes.assign(b, b + n);
    return s;
  };
  for (size_t i = 0; i < plan.ptr_offsets.size() && i < OP_MAX_PTRS; i++)
    out.pointees.push_back(snap(raw.ptr[i], raw.ptr_readable[i], raw.ptee[i], sizeof(raw.ptee[i])));
  for (size_t n = 0; n < plan.nested_of.size() && n < OP_MAX_NESTED; n++) {
    std::vector<Snapshot> slots;
    for (size_t j = 0; j < OP_NESTED_SLOTS; j++)
      slots.push_back(snap(raw.nested_ptr[n][j], raw.nested_readable[n][j], raw.nested[n][j],
                           sizeof(raw.nested[n][j])));
    out.nested.push_back(std::move(slots));
  }
  return out;
}

} // namespace offsetprobe
