/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by reader.bpf.c and its user-space loader. */
#ifndef OFFSETPROBE_BPF_READER_H
#define OFFSETPROBE_BPF_READER_H

#include "scanner.h"

/* An offset the reader must not use (the field was not calibrated). */
#define OP_NO_OFFSET 0xffffffffu

/* Bits of op_readback.ok: which reads succeeded. */
enum op_read_bit {
  OP_RD_PID = 1 << 0,
  OP_RD_TGID = 1 << 1,
  OP_RD_COMM = 1 << 2,
  OP_RD_START_TIME = 1 << 3,
  OP_RD_START_BOOTTIME = 1 << 4,
  OP_RD_GROUP_LEADER = 1 << 5,
  OP_RD_REAL_PARENT = 1 << 6,
  OP_RD_PARENT = 1 << 7,
  OP_RD_EXIT_CODE = 1 << 8,
  OP_RD_LEADER_START_BOOTTIME = 1 << 9,
  OP_RD_LEADER_PID = 1 << 10,
  OP_RD_REAL_PARENT_TGID = 1 << 11,
  OP_RD_PARENT_PID = 1 << 12,
};

/* What the reader saw through the calibrated offsets, for one subject. */
struct op_readback {
  unsigned long long task_addr;
  unsigned long long pid_tgid;
  unsigned int site;
  unsigned int ok; /* enum op_read_bit */
  int pid;
  int tgid;
  char comm[OP_COMM_LEN];
  unsigned long long start_time;
  unsigned long long start_boottime;
  unsigned long long group_leader;
  unsigned long long real_parent;
  unsigned long long parent;
  int exit_code;
  int leader_pid;
  unsigned long long leader_start_boottime;
  int real_parent_tgid;
  int parent_pid;
};

#endif
