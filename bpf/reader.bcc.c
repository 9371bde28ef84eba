// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader, as BCC source: reads a fresh subject's fields through the
 * calibrated offsets, like reader.bpf.c. The offsets come in as -D macros
 * named as `offsetprobe export --format bcc-cflags` prints them
 * (OFFSETPROBE_TASK_STRUCT_PID, ...): a field whose macro is undefined is not
 * read. This is exactly how a BCC consumer of the offsets compiles.
 *
 * The pointer chains (task -> real_cred/cred -> ids, task -> nsproxy -> *_ns ->
 * ns.inum, task -> mm/active_mm -> layout fields, and loginuid/sessionid) are
 * walked as in reader.bpf.c's read_chains, each step only when the macros of
 * its pointer and its member are defined (OFFSETPROBE_TASK_STRUCT_REAL_CRED,
 * OFFSETPROBE_CRED_UID, OFFSETPROBE_NSPROXY_UTS_NS,
 * OFFSETPROBE_UTS_NAMESPACE_NS_INUM, OFFSETPROBE_MM_STRUCT_START_CODE, ...):
 * without chain macros none of that code is compiled.
 *
 * Other macros from the loader: OP_TRIGGER_NR and OP_WANT_TP / OP_WANT_RAW /
 * OP_WANT_UPROBE, as for the scanner.
 *
 * It follows only pointers it read from the current task at the given
 * offsets; it never dereferences an address that user space supplies, and it
 * never names a member of a kernel struct (the headers may be of another
 * kernel: every access goes through the offsets).
 */
#include "reader.h"
#include "read_ok.bpf.h"

struct op_comm_key {
  char c[OP_COMM_LEN];
};

BPF_HASH(cookies, struct op_comm_key, u32, OP_MAX_SLOTS);
BPF_ARRAY(readbacks, struct op_readback, OP_MAX_SLOTS);

#define READ(dst, base, off, bit)                                                                  \
  do {                                                                                             \
    if ((base) && bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)((base) + (off))) == 0)       \
      rb->ok |= (bit);                                                                             \
  } while (0)

#if defined(OFFSETPROBE_TASK_STRUCT_REAL_CRED) || defined(OFFSETPROBE_TASK_STRUCT_CRED) ||          \
    defined(OFFSETPROBE_TASK_STRUCT_NSPROXY) || defined(OFFSETPROBE_TASK_STRUCT_MM) ||              \
    defined(OFFSETPROBE_TASK_STRUCT_ACTIVE_MM) || defined(OFFSETPROBE_TASK_STRUCT_LOGINUID) ||      \
    defined(OFFSETPROBE_TASK_STRUCT_SESSIONID)
#define OP_READ_CHAINS 1

/* Reads `dst` at base + off and sets `bit` in `okvar` when the read worked,
 * without a branch (read_ok.bpf.h): a base of 0 (a pointer whose own read
 * failed, or NULL) makes the read fault, same result. */
#define READ_INTO(okvar, dst, base, off, bit)                                                      \
  do {                                                                                             \
    (okvar) |= read_ok(bpf_probe_read_kernel(&(dst), sizeof(dst), (void *)((base) + (off))),      \
                       (bit));                                                                     \
  } while (0)

/* One id of struct cred, through real_cred and through cred. */
#ifdef OFFSETPROBE_TASK_STRUCT_REAL_CRED
#define READ_REAL_CRED_ID(i, off)                                                                  \
  READ_INTO(rb->real_cred_ids_ok, rb->real_cred_ids[i], rb->real_cred, off, 1u << (i))
#else
#define READ_REAL_CRED_ID(i, off)
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_CRED
#define READ_CRED_ID(i, off)                                                                       \
  READ_INTO(rb->cred_ids_ok, rb->cred_ids[i], rb->cred, off, 1u << (i))
#else
#define READ_CRED_ID(i, off)
#endif
#define READ_IDS(i, off)                                                                           \
  do {                                                                                             \
    READ_REAL_CRED_ID(i, off);                                                                     \
    READ_CRED_ID(i, off);                                                                          \
  } while (0)

/* nsproxy's pointer to namespace i, and that namespace's ns.inum. */
#ifdef OFFSETPROBE_TASK_STRUCT_NSPROXY
#define READ_NS_PTR(i, off) READ_INTO(rb->ns_ptr_ok, rb->ns_ptr[i], rb->nsproxy, off, 1u << (i))
#define READ_NS_INUM(i, off)                                                                       \
  READ_INTO(rb->ns_inum_ok, rb->ns_inum[i], rb->ns_ptr[i], off, 1u << (i))
#else
#define READ_NS_PTR(i, off)
#define READ_NS_INUM(i, off)
#endif

/* One layout field of mm_struct, through mm and through active_mm. */
#ifdef OFFSETPROBE_TASK_STRUCT_MM
#define READ_MM_OF_MM(i, off) READ_INTO(rb->mm_ok, rb->mm_fields[i], rb->mm, off, 1u << (i))
#else
#define READ_MM_OF_MM(i, off)
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_ACTIVE_MM
#define READ_MM_OF_ACTIVE(i, off)                                                                  \
  READ_INTO(rb->active_mm_ok, rb->active_mm_fields[i], rb->active_mm, off, 1u << (i))
#else
#define READ_MM_OF_ACTIVE(i, off)
#endif
#define READ_MM(i, off)                                                                            \
  do {                                                                                             \
    READ_MM_OF_MM(i, off);                                                                         \
    READ_MM_OF_ACTIVE(i, off);                                                                     \
  } while (0)

/* Walks task -> real_cred/cred -> ids, task -> nsproxy -> *_ns -> ns.inum,
 * task -> mm/active_mm -> layout fields, and task's loginuid/sessionid, like
 * reader.bpf.c's read_chains. At exit only active_mm is read, as there. */
static __always_inline void read_chains(struct op_readback *rb, unsigned long long task,
                                        unsigned int site)
{
  rb->chain_ok = 0;
  if (site == OP_SITE_EXIT) {
#ifdef OFFSETPROBE_TASK_STRUCT_ACTIVE_MM
    READ_INTO(rb->chain_ok, rb->active_mm, task, OFFSETPROBE_TASK_STRUCT_ACTIVE_MM,
              OP_RDC_ACTIVE_MM);
#endif
    return;
  }
  rb->real_cred_ids_ok = rb->cred_ids_ok = rb->ns_ptr_ok = rb->ns_inum_ok = 0;
  rb->mm_ok = rb->active_mm_ok = 0;
#ifdef OFFSETPROBE_TASK_STRUCT_REAL_CRED
  READ_INTO(rb->chain_ok, rb->real_cred, task, OFFSETPROBE_TASK_STRUCT_REAL_CRED,
            OP_RDC_REAL_CRED);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_CRED
  READ_INTO(rb->chain_ok, rb->cred, task, OFFSETPROBE_TASK_STRUCT_CRED, OP_RDC_CRED);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_NSPROXY
  READ_INTO(rb->chain_ok, rb->nsproxy, task, OFFSETPROBE_TASK_STRUCT_NSPROXY, OP_RDC_NSPROXY);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_MM
  READ_INTO(rb->chain_ok, rb->mm, task, OFFSETPROBE_TASK_STRUCT_MM, OP_RDC_MM);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_ACTIVE_MM
  READ_INTO(rb->chain_ok, rb->active_mm, task, OFFSETPROBE_TASK_STRUCT_ACTIVE_MM,
            OP_RDC_ACTIVE_MM);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_LOGINUID
  READ_INTO(rb->chain_ok, rb->loginuid, task, OFFSETPROBE_TASK_STRUCT_LOGINUID, OP_RDC_LOGINUID);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_SESSIONID
  READ_INTO(rb->chain_ok, rb->sessionid, task, OFFSETPROBE_TASK_STRUCT_SESSIONID,
            OP_RDC_SESSIONID);
#endif
  /* struct cred's ids (calibration/snapshot.h: kCredIds' order). */
#ifdef OFFSETPROBE_CRED_UID
  READ_IDS(0, OFFSETPROBE_CRED_UID);
#endif
#ifdef OFFSETPROBE_CRED_GID
  READ_IDS(1, OFFSETPROBE_CRED_GID);
#endif
#ifdef OFFSETPROBE_CRED_SUID
  READ_IDS(2, OFFSETPROBE_CRED_SUID);
#endif
#ifdef OFFSETPROBE_CRED_SGID
  READ_IDS(3, OFFSETPROBE_CRED_SGID);
#endif
#ifdef OFFSETPROBE_CRED_EUID
  READ_IDS(4, OFFSETPROBE_CRED_EUID);
#endif
#ifdef OFFSETPROBE_CRED_EGID
  READ_IDS(5, OFFSETPROBE_CRED_EGID);
#endif
#ifdef OFFSETPROBE_CRED_FSUID
  READ_IDS(6, OFFSETPROBE_CRED_FSUID);
#endif
#ifdef OFFSETPROBE_CRED_FSGID
  READ_IDS(7, OFFSETPROBE_CRED_FSGID);
#endif
  /* Namespaces (calibration/chains.h: kNsKinds' order); the inode is read
   * only through a namespace pointer that was read. */
#ifdef OFFSETPROBE_NSPROXY_UTS_NS
  READ_NS_PTR(0, OFFSETPROBE_NSPROXY_UTS_NS);
#ifdef OFFSETPROBE_UTS_NAMESPACE_NS_INUM
  READ_NS_INUM(0, OFFSETPROBE_UTS_NAMESPACE_NS_INUM);
#endif
#endif
#ifdef OFFSETPROBE_NSPROXY_IPC_NS
  READ_NS_PTR(1, OFFSETPROBE_NSPROXY_IPC_NS);
#ifdef OFFSETPROBE_IPC_NAMESPACE_NS_INUM
  READ_NS_INUM(1, OFFSETPROBE_IPC_NAMESPACE_NS_INUM);
#endif
#endif
#ifdef OFFSETPROBE_NSPROXY_MNT_NS
  READ_NS_PTR(2, OFFSETPROBE_NSPROXY_MNT_NS);
#ifdef OFFSETPROBE_MNT_NAMESPACE_NS_INUM
  READ_NS_INUM(2, OFFSETPROBE_MNT_NAMESPACE_NS_INUM);
#endif
#endif
#ifdef OFFSETPROBE_NSPROXY_PID_NS_FOR_CHILDREN
  READ_NS_PTR(3, OFFSETPROBE_NSPROXY_PID_NS_FOR_CHILDREN);
#ifdef OFFSETPROBE_PID_NAMESPACE_NS_INUM
  READ_NS_INUM(3, OFFSETPROBE_PID_NAMESPACE_NS_INUM);
#endif
#endif
#ifdef OFFSETPROBE_NSPROXY_NET_NS
  READ_NS_PTR(4, OFFSETPROBE_NSPROXY_NET_NS);
#ifdef OFFSETPROBE_NET_NS_INUM
  READ_NS_INUM(4, OFFSETPROBE_NET_NS_INUM);
#endif
#endif
#ifdef OFFSETPROBE_NSPROXY_TIME_NS
  READ_NS_PTR(5, OFFSETPROBE_NSPROXY_TIME_NS);
#ifdef OFFSETPROBE_TIME_NAMESPACE_NS_INUM
  READ_NS_INUM(5, OFFSETPROBE_TIME_NAMESPACE_NS_INUM);
#endif
#endif
#ifdef OFFSETPROBE_NSPROXY_CGROUP_NS
  READ_NS_PTR(6, OFFSETPROBE_NSPROXY_CGROUP_NS);
#ifdef OFFSETPROBE_CGROUP_NAMESPACE_NS_INUM
  READ_NS_INUM(6, OFFSETPROBE_CGROUP_NAMESPACE_NS_INUM);
#endif
#endif
  /* mm_struct's layout fields (calibration/snapshot.h: kMmFields' order). */
#ifdef OFFSETPROBE_MM_STRUCT_START_CODE
  READ_MM(0, OFFSETPROBE_MM_STRUCT_START_CODE);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_END_CODE
  READ_MM(1, OFFSETPROBE_MM_STRUCT_END_CODE);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_START_DATA
  READ_MM(2, OFFSETPROBE_MM_STRUCT_START_DATA);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_END_DATA
  READ_MM(3, OFFSETPROBE_MM_STRUCT_END_DATA);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_START_BRK
  READ_MM(4, OFFSETPROBE_MM_STRUCT_START_BRK);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_START_STACK
  READ_MM(5, OFFSETPROBE_MM_STRUCT_START_STACK);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_ARG_START
  READ_MM(6, OFFSETPROBE_MM_STRUCT_ARG_START);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_ARG_END
  READ_MM(7, OFFSETPROBE_MM_STRUCT_ARG_END);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_ENV_START
  READ_MM(8, OFFSETPROBE_MM_STRUCT_ENV_START);
#endif
#ifdef OFFSETPROBE_MM_STRUCT_ENV_END
  READ_MM(9, OFFSETPROBE_MM_STRUCT_ENV_END);
#endif
}
#endif /* chain offsets */

static __always_inline int read_fields(unsigned int site)
{
  struct op_comm_key comm = {};
  struct op_readback *rb;
  unsigned long long task;
  u32 *slot;

  if (bpf_get_current_comm(&comm.c, sizeof(comm.c)))
    return 0;
  slot = cookies.lookup(&comm);
  if (!slot)
    return 0;
  rb = readbacks.lookup(slot);
  if (!rb)
    return 0;

  task = bpf_get_current_task();
  rb->task_addr = task;
  rb->pid_tgid = bpf_get_current_pid_tgid();
  rb->site = site;
  rb->ok = 0;
#ifdef OFFSETPROBE_TASK_STRUCT_PID
  READ(rb->pid, task, OFFSETPROBE_TASK_STRUCT_PID, OP_RD_PID);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_TGID
  READ(rb->tgid, task, OFFSETPROBE_TASK_STRUCT_TGID, OP_RD_TGID);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_COMM
  READ(rb->comm, task, OFFSETPROBE_TASK_STRUCT_COMM, OP_RD_COMM);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_START_TIME
  READ(rb->start_time, task, OFFSETPROBE_TASK_STRUCT_START_TIME, OP_RD_START_TIME);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_START_BOOTTIME
  READ(rb->start_boottime, task, OFFSETPROBE_TASK_STRUCT_START_BOOTTIME, OP_RD_START_BOOTTIME);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_GROUP_LEADER
  READ(rb->group_leader, task, OFFSETPROBE_TASK_STRUCT_GROUP_LEADER, OP_RD_GROUP_LEADER);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_REAL_PARENT
  READ(rb->real_parent, task, OFFSETPROBE_TASK_STRUCT_REAL_PARENT, OP_RD_REAL_PARENT);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_PARENT
  READ(rb->parent, task, OFFSETPROBE_TASK_STRUCT_PARENT, OP_RD_PARENT);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_EXIT_CODE
  if (site == OP_SITE_EXIT)
    READ(rb->exit_code, task, OFFSETPROBE_TASK_STRUCT_EXIT_CODE, OP_RD_EXIT_CODE);
#endif
  /* One pointer further: the chains the counting probe and agents use. */
#ifdef OFFSETPROBE_TASK_STRUCT_GROUP_LEADER
  if (rb->ok & OP_RD_GROUP_LEADER) {
#ifdef OFFSETPROBE_TASK_STRUCT_START_BOOTTIME
    READ(rb->leader_start_boottime, rb->group_leader, OFFSETPROBE_TASK_STRUCT_START_BOOTTIME,
         OP_RD_LEADER_START_BOOTTIME);
#endif
#ifdef OFFSETPROBE_TASK_STRUCT_PID
    READ(rb->leader_pid, rb->group_leader, OFFSETPROBE_TASK_STRUCT_PID, OP_RD_LEADER_PID);
#endif
  }
#endif
#if defined(OFFSETPROBE_TASK_STRUCT_REAL_PARENT) && defined(OFFSETPROBE_TASK_STRUCT_TGID)
  if (rb->ok & OP_RD_REAL_PARENT)
    READ(rb->real_parent_tgid, rb->real_parent, OFFSETPROBE_TASK_STRUCT_TGID,
         OP_RD_REAL_PARENT_TGID);
#endif
#if defined(OFFSETPROBE_TASK_STRUCT_PARENT) && defined(OFFSETPROBE_TASK_STRUCT_PID)
  if (rb->ok & OP_RD_PARENT)
    READ(rb->parent_pid, rb->parent, OFFSETPROBE_TASK_STRUCT_PID, OP_RD_PARENT_PID);
#endif
#ifdef OP_READ_CHAINS
  read_chains(rb, task, site);
#else
  rb->chain_ok = 0;
#endif
  return 0;
}

#ifdef OP_WANT_TP
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
  return read_fields(OP_SITE_TRIGGER);
}
#endif

#ifdef OP_WANT_RAW
RAW_TRACEPOINT_PROBE(sys_enter)
{
  if (ctx->args[1] != OP_TRIGGER_NR)
    return 0;
  return read_fields(OP_SITE_TRIGGER);
}
#endif

#ifdef OP_WANT_UPROBE
int read_trigger_uprobe(struct pt_regs *ctx)
{
  return read_fields(OP_SITE_TRIGGER);
}
#endif

RAW_TRACEPOINT_PROBE(sched_process_exit)
{
  return read_fields(OP_SITE_EXIT);
}
