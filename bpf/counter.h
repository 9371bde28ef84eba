/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by counter.bpf.c and its user-space loader. */
#ifndef OFFSETPROBE_BPF_COUNTER_H
#define OFFSETPROBE_BPF_COUNTER_H

/* Syscall numbers the filter bitmap covers (x86_64 tops out below 470). */
#define OP_COUNT_MAX_NR 512
#define OP_COUNT_BITMAP_WORDS (OP_COUNT_MAX_NR / 64)

/* Default size of the maps: a busy host runs tens of thousands of processes
 * at once, not more; user space drains the entries of processes that have
 * exited, so the counts map holds live processes only. */
#define OP_COUNT_DEFAULT_ENTRIES 65536

/* The key: the process (thread group) and its start time, exactly as
 * /proc/<tgid>/stat field 22 shows it, so that a recycled pid does not alias
 * an earlier process and every key can be matched to a live process. */
struct op_count_key {
  unsigned int tgid;              /* global tgid, or the tgid in our pid namespace */
  unsigned int pad;               /* always 0 (keys are hashed bytewise) */
  unsigned long long start_ticks; /* group_leader->start_boottime in USER_HZ ticks */
};

/* A live thread's own count and its process's key, in the tasks map (keyed
 * by the task_struct address; the entry is deleted when the thread exits). */
struct op_task_count {
  struct op_count_key key;
  unsigned long long count;
};

/* Slots of the per-CPU drops array: events that were not counted. */
enum op_count_drop {
  OP_DROP_MAP_FULL = 0, /* the counts map was full: a new key could not be added */
  OP_DROP_READ = 1,     /* reading group_leader or start_boottime faulted */
  OP_DROP_OTHER_NS = 2, /* the task is outside our pid namespace (not visible to us) */
  OP_DROP_NAME = 3,     /* a process's name was not sent: the names ring buffer was full */
  OP_DROP_SLOTS = 4,
};

/* A process's name from the kernel (libbpf only, with the file family's
 * offsets): its leader's comm and its executable's path (names leaf first,
 * as bpf/opens.h says), sent on the `names` ring buffer at a thread's first
 * counted syscall and when a counted thread execs, so that a process that
 * exits before user space looks at /proc is still named. */
struct op_count_name {
  struct op_count_key key;
  char comm[16];
  unsigned short exe_bytes;
  unsigned short exe_walk; /* op_walk_flags of the executable's walk */
  unsigned int pad;
  char names[8192 + 256]; /* OP_NAMES_BYTES + OP_NAME_MAX (bpf/opens.h) */
};

#define OP_COUNT_NAME_HEADER ((unsigned long)&((struct op_count_name *)0)->names)

#endif
