/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Plain data shared by the reader (reader.bpf.c, both backends) and its loaders.
 *
 * The reader knows no field: it walks a plan of steps, each "read `size`
 * bytes at `offset` from a base", where the base is the current task or the
 * pointer another step read. User space builds the plan from the calibrated
 * offsets and interprets the values; the program only copies bytes.
 */
#ifndef OFFSETPROBE_BPF_READER_H
#define OFFSETPROBE_BPF_READER_H

#include "scanner.h"

/* Steps per plan: the whole catalogue's read-back (70 steps for the 48 fields
 * of 6.18) with room for another family. */
#define OP_MAX_STEPS 96
/* Steps the exit program may read: the catalogue puts them first (2 today:
 * one field and the pointer it is read through). Its own, smaller bound
 * keeps the exit program small: the verifier's passes over the whole
 * program, dead steps included, cost ~0.6 us an instruction (under BCC,
 * where the steps are inlined, each is a few dozen). */
#define OP_MAX_EXIT_STEPS 8
/* Subjects one reader reads back (its `readbacks` map's size). */
#define OP_READER_SLOTS_USED 8
/* Bytes a step may read: the largest field (comm) and any pointer fit. */
#define OP_STEP_BYTES 16
/* op_read_step.parent of a step whose base is the current task. */
#define OP_FROM_TASK 0

/* One step of the plan. `sites` is a mask of enum op_capture_site values: a
 * step is read only at those hooks (the exit program reads few steps, which
 * keeps it small and quick to verify). A step's parent is read at every site
 * the step is (the loaders check it): a base is never a stale value. */
struct op_read_step {
  unsigned int parent; /* OP_FROM_TASK, or 1 + the index of an earlier step of size 8 */
  unsigned int offset;
  unsigned int size; /* 1..OP_STEP_BYTES */
  unsigned int sites;
};

/* What the reader saw for one subject: the value of each step, and whether
 * its read worked (bit i of ok[i / 64]). */
struct op_readback {
  unsigned long long task_addr;
  unsigned long long pid_tgid;
  unsigned int site;
  unsigned int pad;
  unsigned long long ok[(OP_MAX_STEPS + 63) / 64];
  /* Step i's bytes. In 8-byte words so that a parent's pointer is one
   * aligned load, not eight byte loads. */
  unsigned long long values[OP_MAX_STEPS][OP_STEP_BYTES / 8];
};

#endif
