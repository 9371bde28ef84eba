// SPDX-License-Identifier: GPL-2.0-only
/*
 * The counting probe: counts chosen syscalls per process, keyed by
 * {tgid, start time in USER_HZ ticks}. The start time is the thread group
 * leader's start_boottime, read through offsets found by calibration; they
 * are const volatile rodata, so the verifier (and the JIT) see constants.
 *
 * Cost: a bpf_probe_read_kernel() costs about 40 ns here, twice what the
 * whole bare tgid counter spends in its program. So the key is read once per
 * thread, on its first counted syscall, and kept with the thread's count in
 * the tasks map, keyed by the task_struct address. When the thread exits
 * (sched_process_exit, attached before the counting hook) its count moves to
 * the counts map under the process key and its tasks entry is deleted, so an
 * address reused by a later task never finds a stale key. User space reports
 * counts + the live threads' tasks entries, summed per key.
 *
 * One source for both backends (compat.bpf.h): every kernel struct access
 * goes through the offsets, so under BCC the host's headers (possibly of a
 * nearby kernel) only get BCC's helpers through the compiler.
 *
 * Two hooks, chosen by user space: the raw sys_enter tracepoint with the
 * syscall number tested against a bitmap, or one per-syscall tracepoint
 * each (no filter). See docs/counting-probe.md for which and why.
 */
#include "compat.bpf.h"
#include "counter.h"
/* The key's offsets, clock, --pid filter and pid namespace (shared with
 * connwatch.bpf.c), and its read. */
#include "owner_key.bpf.h"

OP_LICENSE_GPL;

/* Benchmark only: read the key on every event instead of once per thread. */
OP_CONST(__u32, no_task_cache, OP_NO_TASK_CACHE, 0);

/* The maps' size: libbpf's loader resizes them, BCC gets OP_COUNT_ENTRIES. */
#ifndef OP_COUNT_ENTRIES
#define OP_COUNT_ENTRIES OP_COUNT_DEFAULT_ENTRIES
#endif

/* Per process: the counts of its exited threads (and of events counted
 * directly when the tasks map was full). */
OP_HASH_MAP(counts, struct op_count_key, __u64, OP_COUNT_ENTRIES);
/* Per live thread, keyed by task_struct address: its process key and count. */
OP_HASH_MAP(tasks, __u64, struct op_task_count, OP_COUNT_ENTRIES);
OP_PERCPU_ARRAY_MAP(drops, __u64, OP_DROP_SLOTS);

/* The syscall bitmap: bit nr set, syscall nr is counted (raw tracepoint
 * only); syscall_word(i) is its word i. BCC has no .rodata, so no constant
 * array read at a run-time index: its words come as OP_SYSCALLS_W0..W7 and a
 * switch picks one. */
#ifdef OP_BCC
_Static_assert(OP_COUNT_BITMAP_WORDS == 8, "syscall_word() spells out 8 words");
static __always_inline __u64 syscall_word(__u64 i)
{
  switch (i) {
  case 0: return OP_SYSCALLS_W0;
  case 1: return OP_SYSCALLS_W1;
  case 2: return OP_SYSCALLS_W2;
  case 3: return OP_SYSCALLS_W3;
  case 4: return OP_SYSCALLS_W4;
  case 5: return OP_SYSCALLS_W5;
  case 6: return OP_SYSCALLS_W6;
  case 7: return OP_SYSCALLS_W7;
  }
  return 0;
}
#else
OP_CONST_ARRAY(__u64, syscalls, OP_COUNT_BITMAP_WORDS, /* BCC: OP_SYSCALLS_W<i> */);

static __always_inline __u64 syscall_word(__u64 i)
{
  return syscalls[i];
}
#endif

static __always_inline void drop(__u32 slot, __u64 n)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &slot);

  if (v)
    *v += n; /* per-CPU: no atomic needed */
}

#ifndef OP_BCC
/*
 * Names from the kernel (libbpf only; BCC has no file family): with the file
 * family's offsets (with_names), the process's comm (its leader's, through
 * task_struct.comm) and its executable's path (mm->exe_file walked by
 * pathwalk.bpf.h) go to user space on the `names` ring buffer at a thread's
 * first counted syscall and when a counted thread execs. A process that
 * exits before user space reads /proc is still named.
 */
#include "pathwalk.bpf.h"

const volatile __u32 with_names = 0;
const volatile __u32 off_comm = 0; /* task_struct.comm */

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} names SEC(".maps");

/* The name is built here (too big for the stack), then sent trimmed. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct op_count_name);
} name_scratch SEC(".maps");

static __always_inline void send_name(__u64 task, __u64 pid_tgid, const struct op_count_key *key)
{
  struct op_count_name *n;
  struct op_walk_pos *pos;
  __u32 zero = 0, off;
  __u64 leader = task;

  if (!with_names)
    return;
  n = bpf_map_lookup_elem(&name_scratch, &zero);
  if (!n)
    return;
  /* A thread may have a name of its own: the process's is its leader's. */
  if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32))
    leader = op_read_ptr(task, off_group_leader);
  n->key = *key;
  n->comm[0] = 0;
  if (leader)
    bpf_probe_read_kernel_str(n->comm, sizeof(n->comm), (void *)(leader + off_comm));
  pos = op_walk_file(op_task_exe(task), n->names, 0, OP_WALK_BYTES - OP_NAME_MAX);
  if (!pos)
    return;
  n->exe_walk = pos->flags;
  off = pos->off;
  n->exe_bytes = off;
  if (off > OP_NAMES_BYTES)
    off = OP_NAMES_BYTES;
  if (bpf_ringbuf_output(&names, n, OP_COUNT_NAME_HEADER + off, 0))
    drop(OP_DROP_NAME, 1);
}
#else
#define send_name(task, pid_tgid, key)                                                             \
  do {                                                                                             \
  } while (0)
#endif

/* Adds n to the process's entry in counts. */
static __always_inline void add_count(struct op_count_key *key, __u64 n)
{
  __u64 *v = bpf_map_lookup_elem(&counts, key);

  if (v) {
    __sync_fetch_and_add(v, n);
    return;
  }
  if (bpf_map_update_elem(&counts, key, &n, BPF_NOEXIST) == 0)
    return;
  /* Another CPU may have added the key first (a thread of the same process). */
  v = bpf_map_lookup_elem(&counts, key);
  if (v)
    __sync_fetch_and_add(v, n);
  else
    drop(OP_DROP_MAP_FULL, n);
}

/* The current task's process key, read through the offsets. */
static __always_inline int read_key(__u64 task, __u64 pid_tgid, __u32 tgid,
                                    struct op_count_key *key)
{
  __u64 ticks;

  if (op_start_ticks(task, pid_tgid, &ticks))
    return -1;
  key->tgid = tgid;
  key->pad = 0;
  key->start_ticks = ticks;
  return 0;
}

static __always_inline int count_current(void)
{
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u64 task = bpf_get_current_task();
  struct op_task_count *tc, fresh = {};
  __u32 tgid, tid;

  if (op_current_ids(pid_tgid, &tgid, &tid)) {
    drop(OP_DROP_OTHER_NS, 1);
    return 0;
  }
  if (filter_tgid && tgid != filter_tgid)
    return 0;

  if (no_task_cache) {
    if (read_key(task, pid_tgid, tgid, &fresh.key))
      drop(OP_DROP_READ, 1);
    else
      add_count(&fresh.key, 1);
    return 0;
  }
  tc = bpf_map_lookup_elem(&tasks, &task);
  if (tc) {
    /* Only this thread touches its entry, and only in task context. */
    tc->count += 1;
    return 0;
  }
  /* First counted syscall of this thread. */
  if (read_key(task, pid_tgid, tgid, &fresh.key)) {
    drop(OP_DROP_READ, 1);
    return 0;
  }
  fresh.count = 1;
  send_name(task, pid_tgid, &fresh.key);
  if (bpf_map_update_elem(&tasks, &task, &fresh, BPF_NOEXIST))
    add_count(&fresh.key, 1); /* tasks map full: count in place, slower */
  return 0;
}

OP_SEC("raw_tracepoint/sys_enter")
int count_raw(struct bpf_raw_tracepoint_args *ctx)
{
  __u64 nr = ctx->args[1];

  if (nr >= OP_COUNT_MAX_NR || !((syscall_word(nr / 64) >> (nr % 64)) & 1))
    return 0;
  return count_current();
}

/* Attached to syscalls/sys_enter_<name> for each chosen syscall. */
OP_SEC("tracepoint")
int count_tp(void *ctx)
{
  return count_current();
}

/* Every thread passes here in do_exit(), after its last syscall and before
 * its task_struct can be freed and reused: move its count to its process
 * and forget its address. A raw tracepoint: no tracefs needed, and no
 * bpf_prog_active recursion guard that could skip it. */
OP_SEC("raw_tracepoint/sched_process_exit")
int count_exit(void *ctx)
{
  __u64 task = bpf_get_current_task();
  struct op_task_count *tc;

  tc = bpf_map_lookup_elem(&tasks, &task);
  if (!tc)
    return 0;
  if (tc->count)
    add_count(&tc->key, tc->count);
  bpf_map_delete_elem(&tasks, &task);
  return 0;
}

#ifndef OP_BCC
/* A counted thread that execs renames its process (comm, executable): send
 * the new name. Attached only with the names (user space loads it then). */
OP_SEC("raw_tracepoint/sched_process_exec")
int count_exec(void *ctx)
{
  __u64 task = bpf_get_current_task();
  struct op_task_count *tc = bpf_map_lookup_elem(&tasks, &task);

  if (tc)
    send_name(task, bpf_get_current_pid_tgid(), &tc->key);
  return 0;
}
#endif
