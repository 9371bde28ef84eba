/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Least reach, in one place: the programs of a calibration (scanner, chain
 * scanner, reader) act only on tasks whose comm is one of the cookies the
 * running calibration put into `cookies`, and pick them by comm rather than
 * by pid so that they work from inside a pid namespace. Each cookie maps to
 * a slot of the program's own record array.
 *
 * Include once per *.bpf.c, after the BPF headers; it defines the map.
 */
#ifndef OFFSETPROBE_BPF_SUBJECT_H
#define OFFSETPROBE_BPF_SUBJECT_H

#include "scanner.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, OP_MAX_SLOTS);
  __type(key, char[OP_COMM_LEN]);
  __type(value, __u32);
} cookies SEC(".maps");

/* The current task's record in `records` (an array indexed by slot), or
 * NULL when the task is not a subject of this calibration. */
static __always_inline void *subject_record(void *records) {
  char comm[OP_COMM_LEN] = {};
  __u32 *slot;

  if (bpf_get_current_comm(comm, sizeof(comm)))
    return NULL;
  slot = bpf_map_lookup_elem(&cookies, comm);
  if (!slot)
    return NULL;
  return bpf_map_lookup_elem(records, slot);
}

#endif
