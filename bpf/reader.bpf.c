// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader: walks a fresh subject's task_struct through the calibrated
 * offsets (const volatile rodata, so the verifier sees constants) and records
 * what it finds. User space compares the values with what it knows; only a
 * calibration that reads back correctly is reported as calibrated.
 *
 * It follows only pointers it read from the current task at the given offsets;
 * it never dereferences an address that user space supplies.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "reader.h"
#include "subject.bpf.h"
#include "read_ok.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 trigger_nr = 0;
const volatile __u32 off_pid = OP_NO_OFFSET;
const volatile __u32 off_tgid = OP_NO_OFFSET;
const volatile __u32 off_comm = OP_NO_OFFSET;
const volatile __u32 off_start_time = OP_NO_OFFSET;
const volatile __u32 off_start_boottime = OP_NO_OFFSET;
const volatile __u32 off_group_leader = OP_NO_OFFSET;
const volatile __u32 off_real_parent = OP_NO_OFFSET;
const volatile __u32 off_parent = OP_NO_OFFSET;
const volatile __u32 off_exit_code = OP_NO_OFFSET;
/* Chains; arrays are filled with OP_NO_OFFSET by the loader. */
const volatile __u32 off_real_cred = OP_NO_OFFSET;
const volatile __u32 off_cred = OP_NO_OFFSET;
const volatile __u32 off_cred_ids[OP_CRED_IDS] = {};
const volatile __u32 off_nsproxy = OP_NO_OFFSET;
const volatile __u32 off_ns_ptr[OP_NS_KINDS] = {};
const volatile __u32 off_ns_inum[OP_NS_KINDS] = {};
const volatile __u32 off_mm = OP_NO_OFFSET;
const volatile __u32 off_active_mm = OP_NO_OFFSET;
const volatile __u32 off_mm_fields[OP_MM_FIELDS] = {};
const volatile __u32 off_loginuid = OP_NO_OFFSET;
const volatile __u32 off_sessionid = OP_NO_OFFSET;
/* Set when any chain offset is given: otherwise the chain walk is dead code,
 * which the verifier skips (loading stays cheap for --fields task). */
const volatile __u32 read_chain_fields = 0;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct op_readback);
} readbacks SEC(".maps");

/* Reads `dst` at base + off and sets `bit` in `okvar` when the read worked.
 * An offset that was not calibrated (OP_NO_OFFSET, a constant to the
 * verifier) leaves the code out. A base of 0 (a pointer whose own read
 * failed, or NULL) makes the read fault rather than be skipped: no branch
 * for the verifier to walk (read_ok.bpf.h), same result. */
#define READ_INTO(okvar, dst, base, off, bit)                                                      \
  do {                                                                                             \
    if ((off) != OP_NO_OFFSET)                                                                     \
      (okvar) |= read_ok(                                                                          \
          bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)((base) + (off))), (bit));            \
  } while (0)

#define READ(dst, base, off, bit) READ_INTO(rb->ok, dst, base, off, bit)

/* Walks task -> real_cred/cred -> ids, task -> nsproxy -> *_ns -> ns.inum,
 * task -> mm/active_mm -> layout fields, and task's loginuid/sessionid. */
static __always_inline void read_chains(struct op_readback *rb, unsigned long long task)
{
  __u32 i;

  rb->chain_ok = 0;
  rb->real_cred_ids_ok = rb->cred_ids_ok = rb->ns_ptr_ok = rb->ns_inum_ok = 0;
  rb->mm_ok = rb->active_mm_ok = 0;
  READ_INTO(rb->chain_ok, rb->real_cred, task, off_real_cred, OP_RDC_REAL_CRED);
  READ_INTO(rb->chain_ok, rb->cred, task, off_cred, OP_RDC_CRED);
  READ_INTO(rb->chain_ok, rb->nsproxy, task, off_nsproxy, OP_RDC_NSPROXY);
  READ_INTO(rb->chain_ok, rb->mm, task, off_mm, OP_RDC_MM);
  READ_INTO(rb->chain_ok, rb->active_mm, task, off_active_mm, OP_RDC_ACTIVE_MM);
  READ_INTO(rb->chain_ok, rb->loginuid, task, off_loginuid, OP_RDC_LOGINUID);
  READ_INTO(rb->chain_ok, rb->sessionid, task, off_sessionid, OP_RDC_SESSIONID);
  /* A failed pointer read left the pointer 0: the reads through it fault. */
  for (i = 0; i < OP_CRED_IDS; i++) {
    READ_INTO(rb->real_cred_ids_ok, rb->real_cred_ids[i], rb->real_cred, off_cred_ids[i],
              1u << i);
    READ_INTO(rb->cred_ids_ok, rb->cred_ids[i], rb->cred, off_cred_ids[i], 1u << i);
  }
  for (i = 0; i < OP_NS_KINDS; i++) {
    READ_INTO(rb->ns_ptr_ok, rb->ns_ptr[i], rb->nsproxy, off_ns_ptr[i], 1u << i);
    READ_INTO(rb->ns_inum_ok, rb->ns_inum[i], rb->ns_ptr[i], off_ns_inum[i], 1u << i);
  }
  for (i = 0; i < OP_MM_FIELDS; i++) {
    READ_INTO(rb->mm_ok, rb->mm_fields[i], rb->mm, off_mm_fields[i], 1u << i);
    READ_INTO(rb->active_mm_ok, rb->active_mm_fields[i], rb->active_mm, off_mm_fields[i],
              1u << i);
  }
}

static __always_inline int read_fields(unsigned int site)
{
  struct op_readback *rb;
  unsigned long long task;

  rb = subject_record(&readbacks);
  if (!rb)
    return 0;

  task = bpf_get_current_task();
  rb->task_addr = task;
  rb->pid_tgid = bpf_get_current_pid_tgid();
  rb->site = site;
  rb->ok = 0;
  if (site == OP_SITE_EXIT) {
    /* At exit only the exiter's exit_code and active_mm are compared (and
     * the site itself, which tells a subject that died): reading no more
     * keeps the exit program small and quick to verify. */
    READ(rb->exit_code, task, off_exit_code, OP_RD_EXIT_CODE);
    rb->chain_ok = 0;
    READ_INTO(rb->chain_ok, rb->active_mm, task, off_active_mm, OP_RDC_ACTIVE_MM);
    return 0;
  }
  READ(rb->pid, task, off_pid, OP_RD_PID);
  READ(rb->tgid, task, off_tgid, OP_RD_TGID);
  READ(rb->comm, task, off_comm, OP_RD_COMM);
  READ(rb->start_time, task, off_start_time, OP_RD_START_TIME);
  READ(rb->start_boottime, task, off_start_boottime, OP_RD_START_BOOTTIME);
  READ(rb->group_leader, task, off_group_leader, OP_RD_GROUP_LEADER);
  READ(rb->real_parent, task, off_real_parent, OP_RD_REAL_PARENT);
  READ(rb->parent, task, off_parent, OP_RD_PARENT);
  /* One pointer further: the chains the counting probe and agents use (a
   * pointer whose read failed is 0, and the read through it faults). */
  READ(rb->leader_start_boottime, rb->group_leader, off_start_boottime,
       OP_RD_LEADER_START_BOOTTIME);
  READ(rb->leader_pid, rb->group_leader, off_pid, OP_RD_LEADER_PID);
  READ(rb->real_parent_tgid, rb->real_parent, off_tgid, OP_RD_REAL_PARENT_TGID);
  READ(rb->parent_pid, rb->parent, off_pid, OP_RD_PARENT_PID);
  if (read_chain_fields)
    read_chains(rb, task);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_trigger_tp(void *ctx)
{
  return read_fields(OP_SITE_TRIGGER);
}

/* Where per-syscall tracepoints are absent (no CONFIG_FTRACE_SYSCALLS, or no
 * tracefs): the raw sys_enter tracepoint, filtered by syscall number. */
SEC("raw_tracepoint/sys_enter")
int read_trigger_raw(struct bpf_raw_tracepoint_args *ctx)
{
  if (ctx->args[1] != trigger_nr)
    return 0;
  return read_fields(OP_SITE_TRIGGER);
}

SEC("uprobe")
int read_trigger_uprobe(void *ctx)
{
  return read_fields(OP_SITE_TRIGGER);
}

SEC("tracepoint/sched/sched_process_exit")
int read_exit(void *ctx)
{
  return read_fields(OP_SITE_EXIT);
}

SEC("raw_tracepoint/sched_process_exit")
int read_exit_raw(void *ctx)
{
  return read_fields(OP_SITE_EXIT);
}
