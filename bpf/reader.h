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

/* Chains: how many namespaces, ids and mm fields the reader walks. */
#define OP_NS_KINDS 7 /* uts ipc mnt pid_for_children net time cgroup */
#define OP_CRED_IDS 8 /* uid gid suid sgid euid egid fsuid fsgid */
#define OP_MM_FIELDS 10

/* Bits of op_readback.chain_ok. */
enum op_chain_bit {
  OP_RDC_REAL_CRED = 1 << 0,
  OP_RDC_CRED = 1 << 1,
  OP_RDC_NSPROXY = 1 << 2,
  OP_RDC_MM = 1 << 3,
  OP_RDC_ACTIVE_MM = 1 << 4,
  OP_RDC_LOGINUID = 1 << 5,
  OP_RDC_SESSIONID = 1 << 6,
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
  /* Chains (task -> cred/nsproxy/mm -> ...); masks: bit i = element i read. */
  unsigned int chain_ok; /* enum op_chain_bit */
  unsigned int real_cred_ids_ok, cred_ids_ok, ns_ptr_ok, ns_inum_ok, mm_ok, active_mm_ok;
  unsigned long long real_cred, cred, nsproxy, mm, active_mm;
  unsigned int real_cred_ids[OP_CRED_IDS];
  unsigned int cred_ids[OP_CRED_IDS];
  unsigned long long ns_ptr[OP_NS_KINDS];
  unsigned int ns_inum[OP_NS_KINDS];
  unsigned long long mm_fields[OP_MM_FIELDS];
  unsigned long long active_mm_fields[OP_MM_FIELDS];
  unsigned int loginuid, sessionid;
};

#endif
