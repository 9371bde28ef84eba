/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Least reach, in one place: the programs of a calibration (scanner, chain
 * scanner, reader) act only on tasks whose comm is one of the cookies the
 * running calibration put into `cookies`, and pick them by comm rather than
 * by pid so that they work from inside a pid namespace. Each cookie maps to
 * a slot of the program's own record array.
 *
 * Include once per *.bpf.c, after compat.bpf.h; it defines the map.
 */
#ifndef OFFSETPROBE_BPF_SUBJECT_H
#define OFFSETPROBE_BPF_SUBJECT_H

#include "compat.bpf.h"
#include "scanner.h"

/* The comm as a map key: a struct, because BCC's map macros take a type name
 * (the same 16 bytes as the char array user space writes). */
struct op_comm_key {
  char c[OP_COMM_LEN];
};

OP_HASH_MAP(cookies, struct op_comm_key, __u32, OP_MAX_SLOTS);

/* The current task's slot (its record's index in the program's record
 * array), or NULL when the task is not a subject of this calibration. */
static __always_inline __u32 *subject_slot(void) {
  struct op_comm_key comm = {};
  __u32 *slot;

  if (bpf_get_current_comm(&comm.c, sizeof(comm.c)))
    return NULL;
  slot = bpf_map_lookup_elem(&cookies, &comm);
  if (!slot)
    return NULL;
  return slot;
}

#ifndef OP_BCC
/* The current task's record in `records` (an array indexed by slot), or
 * NULL. libbpf only: BCC cannot take a map by pointer. */
static __always_inline void *subject_record(void *records) {
  __u32 *slot = subject_slot();

  return slot ? bpf_map_lookup_elem(records, slot) : NULL;
}
#endif

#endif
