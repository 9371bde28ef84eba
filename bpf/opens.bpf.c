// SPDX-License-Identifier: GPL-2.0-only
/*
 * `offsetprobe opens`: every file a process opens, with its path resolved in
 * the kernel from the struct file the syscall installed (not copied from the
 * user's argument, which can change under a reader: TOCTOU).
 *
 * Attached to the exit tracepoint of each open syscall
 * (syscalls:sys_exit_openat, ..._open, ..._openat2, ..._creat): its record
 * holds the syscall number and the return value at offsets user space reads
 * from the tracepoint's format file (no BTF needed). On success the fd names
 * current->files->fdt->fd[ret]; the program walks its path and the opener's
 * executable (mm->exe_file) with pathwalk.bpf.h, reads the inode number,
 * mode, device and mount id, and sends one event on the ring buffer.
 * libbpf only: the BCC backend has no file family.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "opens.h"
#include "pathwalk.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The tracepoint record's fields (events/syscalls/sys_exit_NAME/format). */
const volatile __u32 tp_nr_off = 8;
const volatile __u32 tp_ret_off = 16;
/* The process key, as count makes it (counter.bpf.c). */
const volatile __u32 off_group_leader = 0;
const volatile __u32 off_start_boottime = 0;
const volatile __u64 tick_ns = 10000000;
const volatile __s64 boot_offset_ns = 0;
/* Only this tgid (0: all), never this one (offsetprobe itself). */
const volatile __u32 filter_tgid = 0;
const volatile __u32 self_tgid = 0;
/* Inside a pid namespace: report tgids as that namespace numbers them. */
const volatile __u32 use_pidns = 0;
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
/* Benchmark only: 0 leaves the executable's walk out. */
const volatile __u32 walk_exe = 1;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 22);
} events SEC(".maps");

/* The event is built here (too big for the stack), then sent trimmed. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct op_open_event);
} scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OP_OPENS_DROP_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static __always_inline void drop(__u32 slot)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &slot);

  if (v)
    *v += 1;
}

static __always_inline __u64 start_ticks(__u64 task)
{
  __u64 leader = op_read_ptr(task, off_group_leader), start = 0;

  if (!leader)
    return 0;
  bpf_probe_read_kernel(&start, sizeof(start), (void *)(leader + off_start_boottime));
  return (start + boot_offset_ns) / tick_ns;
}

SEC("tracepoint")
int opens_exit(void *ctx)
{
  struct op_open_event *e;
  struct op_walk_pos *pos;
  __u64 pid_tgid = bpf_get_current_pid_tgid(), task, file, inode, sb;
  __u32 zero = 0, tgid, tid, off = 0, nr = 0, flags;
  long ret = 0;

  bpf_probe_read_kernel(&ret, sizeof(ret), (char *)ctx + tp_ret_off);
  if (ret < 0)
    return 0;
  tgid = pid_tgid >> 32;
  tid = (__u32)pid_tgid;
  if (tgid == self_tgid)
    return 0;
  if (use_pidns) {
    struct bpf_pidns_info ns = {};

    if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns))) {
      drop(OP_OPENS_DROP_OTHER_NS);
      return 0;
    }
    tgid = ns.tgid;
    tid = ns.pid;
  }
  if (filter_tgid && tgid != filter_tgid)
    return 0;
  e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e)
    return 0;
  bpf_probe_read_kernel(&nr, sizeof(nr), (char *)ctx + tp_nr_off);
  task = bpf_get_current_task();
  e->tgid = tgid;
  e->tid = tid;
  e->fd = (int)ret;
  e->syscall_nr = nr;
  e->start_ticks = start_ticks(task);
  bpf_get_current_comm(e->comm, sizeof(e->comm));

  file = op_task_file(task, (__u32)ret);
  inode = op_read_ptr(file, fo_file_inode);
  sb = op_read_ptr(inode, fo_inode_sb);
  e->ino = op_read_ptr(inode, fo_inode_ino);
  e->dev = 0;
  e->mnt_id = 0;
  e->f_flags = 0;
  e->i_mode = 0;
  if (sb)
    bpf_probe_read_kernel(&e->dev, sizeof(e->dev), (void *)(sb + fo_sb_dev));
  if (inode)
    bpf_probe_read_kernel(&e->i_mode, sizeof(e->i_mode), (void *)(inode + fo_inode_mode));
  if (file) {
    __u64 mnt = op_read_ptr(file, fo_file_path);

    bpf_probe_read_kernel(&e->f_flags, sizeof(e->f_flags), (void *)(file + fo_file_flags));
    if (mnt)
      bpf_probe_read_kernel(&e->mnt_id, sizeof(e->mnt_id),
                            (void *)(mnt - fo_mount_mnt + fo_mount_id));
  }
  pos = op_walk_file(file, e->names, 0, OP_WALK_BYTES - OP_NAME_MAX);
  if (!pos)
    return 0;
  e->path_bytes = pos->off;
  e->path_depth = pos->depth;
  flags = pos->flags;
  e->exe_bytes = 0;
  e->exe_depth = 0;
  if (walk_exe) {
    __u32 start = pos->off;

    pos = op_walk_file(op_task_exe(task), e->names, start, start + OP_WALK_BYTES - OP_NAME_MAX);
    if (!pos)
      return 0;
    flags |= pos->flags << 8;
    e->exe_bytes = pos->off - start;
    e->exe_depth = pos->depth;
  } else {
    flags |= OP_WALK_NONE << 8;
  }
  e->walk_flags = flags;
  off = pos->off;
  if (off > OP_NAMES_BYTES)
    off = OP_NAMES_BYTES;
  if (bpf_ringbuf_output(&events, e, OP_OPEN_EVENT_HEADER + off, 0))
    drop(OP_OPENS_DROP_RINGBUF);
  return 0;
}
