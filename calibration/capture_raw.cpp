// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/capture_raw.h"

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

Readback to_readback(const op_readback &raw) {
  Readback rb;
  if (raw.task_addr == 0)
    return rb;
  rb.captured = true;
  rb.task_addr = raw.task_addr;
  rb.tid = static_cast<uint32_t>(raw.pid_tgid);
  rb.tgid = static_cast<uint32_t>(raw.pid_tgid >> 32);
  rb.ok = raw.ok;
  rb.site = raw.site;
  rb.pid = raw.pid;
  rb.tgid_field = raw.tgid;
  rb.comm.assign(raw.comm, strnlen(raw.comm, sizeof(raw.comm)));
  rb.start_time = raw.start_time;
  rb.start_boottime = raw.start_boottime;
  rb.group_leader = raw.group_leader;
  rb.real_parent = raw.real_parent;
  rb.parent = raw.parent;
  rb.exit_code = raw.exit_code;
  rb.leader_pid = raw.leader_pid;
  rb.leader_start_boottime = raw.leader_start_boottime;
  rb.real_parent_tgid = raw.real_parent_tgid;
  rb.parent_pid = raw.parent_pid;
  rb.chain_ok = raw.chain_ok;
  rb.real_cred_ids_ok = raw.real_cred_ids_ok;
  rb.cred_ids_ok = raw.cred_ids_ok;
  rb.ns_ptr_ok = raw.ns_ptr_ok;
  rb.ns_inum_ok = raw.ns_inum_ok;
  rb.mm_ok = raw.mm_ok;
  rb.active_mm_ok = raw.active_mm_ok;
  rb.real_cred = raw.real_cred;
  rb.cred = raw.cred;
  rb.nsproxy = raw.nsproxy;
  rb.mm = raw.mm;
  rb.active_mm = raw.active_mm;
  std::copy(std::begin(raw.real_cred_ids), std::end(raw.real_cred_ids), rb.real_cred_ids.begin());
  std::copy(std::begin(raw.cred_ids), std::end(raw.cred_ids), rb.cred_ids.begin());
  std::copy(std::begin(raw.ns_ptr), std::end(raw.ns_ptr), rb.ns_ptr.begin());
  std::copy(std::begin(raw.ns_inum), std::end(raw.ns_inum), rb.ns_inum.begin());
  std::copy(std::begin(raw.mm_fields), std::end(raw.mm_fields), rb.mm_fields.begin());
  std::copy(std::begin(raw.active_mm_fields), std::end(raw.active_mm_fields),
            rb.active_mm_fields.begin());
  rb.loginuid = raw.loginuid;
  rb.sessionid = raw.sessionid;
  return rb;
}

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
    s.chunk_size = OP_CHAIN_CHUNK_SIZE;
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
