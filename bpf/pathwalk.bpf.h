/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The path of a struct path, walked in the kernel through the file family's
 * calibrated offsets (libbpf only: the constants are `const volatile`
 * rodata that the loader sets, so the verifier sees them as constants).
 * Used by opens.bpf.c (the opened file and the opener's executable) and by
 * counter.bpf.c (the executable of a counted process).
 *
 * The walk is the kernel's own (__prepend_path in fs/d_path.c): up d_parent
 * until the mount's root (vfsmount.mnt_root), then to the mount point
 * (mount.mnt_mountpoint) in the parent mount (mount.mnt_parent), until a
 * mount that is its own parent (the root of the mount namespace's tree). It
 * does not stop at the opener's chroot, as readlink /proc/<pid>/fd/N read
 * from the host does not. It is bounded (OP_WALK_MAX_STEPS, OP_WALK_BYTES)
 * and says how it ended (op_walk_flags).
 */
#ifndef OFFSETPROBE_BPF_PATHWALK_H
#define OFFSETPROBE_BPF_PATHWALK_H

#include "opens.h"

/* The file family's offsets (offsetprobe calibrate --fields files). */
const volatile __u32 fo_task_files = 0;    /* task_struct.files */
const volatile __u32 fo_files_fdt = 0;     /* files_struct.fdt */
const volatile __u32 fo_fdt_max_fds = 0;   /* fdtable.max_fds */
const volatile __u32 fo_fdt_fd = 0;        /* fdtable.fd */
const volatile __u32 fo_file_path = 0;     /* file.f_path + path.mnt: the vfsmount */
const volatile __u32 fo_file_dentry = 0;   /* file.f_path + path.dentry */
const volatile __u32 fo_file_inode = 0;    /* file.f_inode */
const volatile __u32 fo_file_flags = 0;    /* file.f_flags */
const volatile __u32 fo_dentry_name = 0;   /* dentry.d_name + qstr.name */
const volatile __u32 fo_dentry_parent = 0; /* dentry.d_parent */
const volatile __u32 fo_inode_ino = 0;     /* inode.i_ino */
const volatile __u32 fo_inode_mode = 0;    /* inode.i_mode */
const volatile __u32 fo_inode_sb = 0;      /* inode.i_sb */
const volatile __u32 fo_sb_dev = 0;        /* super_block.s_dev */
const volatile __u32 fo_mount_mnt = 0;     /* mount.mnt: the vfsmount inside struct mount */
const volatile __u32 fo_mount_parent = 0;  /* mount.mnt_parent */
const volatile __u32 fo_mount_point = 0;   /* mount.mnt_mountpoint */
const volatile __u32 fo_mount_id = 0;      /* mount.mnt_id */
const volatile __u32 fo_vfsmount_root = 0; /* vfsmount.mnt_root */
const volatile __u32 fo_task_mm = 0;       /* task_struct.mm */
const volatile __u32 fo_mm_exe = 0;        /* mm_struct.exe_file */

static __always_inline __u64 op_read_ptr(__u64 base, __u32 off) {
  __u64 p = 0;

  if (!base)
    return 0;
  bpf_probe_read_kernel(&p, sizeof(p), (void *)(base + off));
  return p;
}

/* The file at fd `fd` of `task` (task->files->fdt->fd[fd]), or 0. */
static __always_inline __u64 op_task_file(__u64 task, __u32 fd) {
  __u64 fdt = op_read_ptr(op_read_ptr(task, fo_task_files), fo_files_fdt);
  __u64 arr;
  __u32 max_fds = 0;

  if (!fdt)
    return 0;
  bpf_probe_read_kernel(&max_fds, sizeof(max_fds), (void *)(fdt + fo_fdt_max_fds));
  if (fd >= max_fds)
    return 0;
  arr = op_read_ptr(fdt, fo_fdt_fd);
  if (!arr)
    return 0;
  return op_read_ptr(arr + (__u64)fd * 8, 0);
}

/* The executable of `task` (task->mm->exe_file), or 0 (a kernel thread, an
 * exiting task whose mm is gone). */
static __always_inline __u64 op_task_exe(__u64 task) {
  return op_read_ptr(op_read_ptr(task, fo_task_mm), fo_mm_exe);
}

/* Where a walk is: kept in map memory, not in registers, on purpose. The
 * verifier tracks a register's range exactly; with the offset in one, every
 * mix of names and mount crossings is a state of its own, and each way out
 * of the loop verified the rest of the program again: 1M instructions, the
 * program refused (E2BIG). A value loaded from a map is unknown to it, so
 * every path is one state at the loop head, bounded by the checks below. */
struct op_walk_pos {
  __u32 off;   /* the next name goes to buf + off */
  __u16 depth; /* names appended */
  __u16 flags; /* op_walk_flags */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct op_walk_pos);
} walk_pos SEC(".maps");

/* Appends the names of `file`'s path to buf from `start`, leaf first, each
 * with its NUL; stops before the offset passes `limit` (then TRUNCATED).
 * Returns where it ended (NULL only if the map lookup fails). buf holds
 * OP_NAMES_BYTES + OP_NAME_MAX bytes: no name is read past
 * OP_NAMES_BYTES - OP_NAME_MAX, whatever `limit` says. */
static __always_inline struct op_walk_pos *op_walk_file(__u64 file, char *buf, __u32 start,
                                                        __u32 limit) {
  struct op_walk_pos *pos;
  __u64 mnt, dentry;
  __u32 zero = 0, i;

  pos = bpf_map_lookup_elem(&walk_pos, &zero);
  if (!pos)
    return 0;
  pos->off = start;
  pos->depth = 0;
  pos->flags = OP_WALK_TRUNCATED; /* unless the loop ends otherwise */
  if (!file) {
    pos->flags = OP_WALK_NONE;
    return pos;
  }
  mnt = op_read_ptr(file, fo_file_path);
  dentry = op_read_ptr(file, fo_file_dentry);
  for (i = 0; i < OP_WALK_MAX_STEPS; i++) {
    __u64 root, parent, name;
    __u32 off;
    long n;

    if (!mnt || !dentry) {
      pos->flags = OP_WALK_FAULT;
      break;
    }
    root = op_read_ptr(mnt, fo_vfsmount_root);
    parent = op_read_ptr(dentry, fo_dentry_parent);
    if (dentry == root || dentry == parent) {
      __u64 mount = mnt - fo_mount_mnt, up;

      if (dentry != root) {
        pos->flags = OP_WALK_ESCAPED;
        break;
      }
      up = op_read_ptr(mount, fo_mount_parent);
      if (!up) {
        pos->flags = OP_WALK_FAULT;
        break;
      }
      if (up == mount) {
        pos->flags = OP_WALK_COMPLETE;
        break;
      }
      dentry = op_read_ptr(mount, fo_mount_point);
      mnt = up + fo_mount_mnt;
      continue;
    }
    off = pos->off;
    if (off > limit || off > OP_NAMES_BYTES - OP_NAME_MAX) {
      pos->flags = OP_WALK_TRUNCATED;
      break;
    }
    name = op_read_ptr(dentry, fo_dentry_name);
    n = bpf_probe_read_kernel_str(buf + off, OP_NAME_MAX, (void *)name);
    if (n <= 1) { /* a fault (< 0) or an empty name: no dentry has one */
      pos->flags = OP_WALK_FAULT;
      break;
    }
    pos->off = off + n;
    pos->depth += 1;
    dentry = parent;
  }
  return pos;
}

#endif
