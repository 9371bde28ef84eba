/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Plain data shared by opens.bpf.c (and the path walk of pathwalk.bpf.h)
 * with its loader (opens/).
 *
 * A path is sent as its names leaf first, each NUL-terminated ("passwd\0etc\0"
 * for /etc/passwd): the walk appends each name it reads at a growing offset,
 * which the verifier bounds with one mask, and user space reverses them.
 */
#ifndef OFFSETPROBE_BPF_OPENS_H
#define OFFSETPROBE_BPF_OPENS_H

/* Steps of one walk at most: a step is one name or one mount crossed. A
 * deeper path is sent with the names read so far and OP_WALK_TRUNCATED. */
#define OP_WALK_MAX_STEPS 32
/* Bytes of one name read at most (NAME_MAX + its NUL). */
#define OP_NAME_MAX 256
/* Bytes of one walk's names at most, then OP_WALK_TRUNCATED. */
#define OP_WALK_BYTES 4096
/* The names of both walks (the file's, then the executable's). */
#define OP_NAMES_BYTES (2 * OP_WALK_BYTES)

/* How a walk ended (low byte: the file's path; high byte: the executable's). */
enum op_walk_flags {
  OP_WALK_COMPLETE = 1,  /* reached the root of the mount tree */
  OP_WALK_TRUNCATED = 2, /* hit OP_WALK_MAX_STEPS or OP_WALK_BYTES first */
  OP_WALK_ESCAPED = 4,   /* a dentry that is its own parent but not a mount root */
  OP_WALK_FAULT = 8,     /* a read faulted (or a NULL pointer): path incomplete */
  OP_WALK_NONE = 16,     /* nothing to walk (no file at fd, a task with no mm) */
};

/* Per-CPU counters of events not sent. */
enum op_opens_drop {
  OP_OPENS_DROP_RINGBUF = 0,  /* the ring buffer was full */
  OP_OPENS_DROP_OTHER_NS = 1, /* the task is outside our pid namespace */
  OP_OPENS_DROP_SLOTS = 2,
};

/* One successful open, as the kernel saw it at the syscall's exit. */
struct op_open_event {
  unsigned long long start_ticks; /* group_leader->start_boottime in USER_HZ ticks */
  unsigned long long ino;         /* f_inode->i_ino */
  unsigned int tgid;              /* as our pid namespace numbers it */
  unsigned int tid;
  int fd;                    /* the syscall's return value */
  unsigned int syscall_nr;   /* which open syscall (the tracepoint's __syscall_nr) */
  unsigned int dev;          /* f_inode->i_sb->s_dev (kernel encoding: major << 20 | minor) */
  unsigned int mnt_id;       /* real_mount(f_path.mnt)->mnt_id */
  unsigned int f_flags;      /* file->f_flags */
  unsigned short i_mode;     /* f_inode->i_mode */
  unsigned short walk_flags; /* op_walk_flags: path | exe << 8 */
  unsigned short path_bytes; /* the path's names: names[0, path_bytes) */
  unsigned short exe_bytes;  /* the executable's: names[path_bytes, +exe_bytes) */
  unsigned short path_depth; /* names in the path */
  unsigned short exe_depth;
  char comm[16];
  char names[OP_NAMES_BYTES + OP_NAME_MAX];
};

#define OP_OPEN_EVENT_HEADER ((unsigned long)&((struct op_open_event *)0)->names)

#endif
