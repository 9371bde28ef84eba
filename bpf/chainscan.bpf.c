// SPDX-License-Identifier: GPL-2.0-only
/*
 * The chain scanner (stage 2): for a subject picked by comm cookie, copies the
 * structs that candidate pointer fields of its task_struct point to, and for
 * the candidates the plan marks as nested the structs one level further.
 *
 * It follows only the offsets it was loaded with (the stage-1 plan: rodata
 * for libbpf, -D macros for BCC, compat.bpf.h) starting at the current task,
 * and only values that lie in the kernel half of the address space; it never
 * reads an address user space supplies. Every read is a
 * bpf_probe_read_kernel() of one 512 B chunk, so a fault voids one chunk, not
 * the capture, and a chunk that faulted is read again up to its page's end
 * (read_chunk). Like the scanner it knows no kernel struct.
 */
#include "compat.bpf.h"
#include "chainscan.h"
#include "subject.bpf.h"
#include "read_ok.bpf.h"
#include "read_chunk.bpf.h"
#include "kptr.bpf.h"

OP_LICENSE_GPL;

/* libbpf: the loader sets max_entries to the number of subjects; BCC gets it
 * as OP_MAX_SUBJECTS. */
#ifndef OP_MAX_SUBJECTS
#define OP_MAX_SUBJECTS 1
#endif
OP_ARRAY_MAP(chain_snaps, struct op_chain_snapshot, OP_MAX_SUBJECTS);

OP_CONST(__u64, trigger_nr, OP_TRIGGER_NR, 0);
/* The task_struct offsets to follow, and which of them (indexes) to follow
 * one level further. */
OP_CONST(__u32, nr_ptrs, OP_NR_PTRS, 0);
OP_CONST_ARRAY(__u32, ptr_off, OP_MAX_PTRS, OP_PTR_OFFS);
OP_CONST(__u32, nr_nested, OP_NR_NESTED, 0);
OP_CONST_ARRAY(__u32, nested_of, OP_MAX_NESTED, OP_NESTED_OF);

_Static_assert(OP_CHAIN_GRAIN == OP_GRAIN, "chainscan.h's grain is read_chunk.bpf.h's");

/* Chunk c of the struct at p into dst + c * OP_CHAIN_CHUNK_SIZE; returns the
 * mask of the grains read, shifted to the chunk's place. */
static __always_inline __u64 read_chunk(unsigned char *dst, __u64 p, __u32 c)
{
  return op_read_grains(dst + c * OP_CHAIN_CHUNK_SIZE, p + c * OP_CHAIN_CHUNK_SIZE,
                        OP_CHAIN_CHUNK_SIZE)
         << (c * OP_CHAIN_GRAINS);
}

static __always_inline int capture(void)
{
  struct op_chain_snapshot *snap;
  __u64 task;
  __u32 *slot, i, c, n, j;

  slot = subject_slot();
  snap = slot ? bpf_map_lookup_elem(&chain_snaps, slot) : NULL;
  if (!snap)
    return 0;

  task = bpf_get_current_task();
  snap->task_addr = task;
  snap->pid_tgid = bpf_get_current_pid_tgid();
  OP_UNROLL
  for (i = 0; i < OP_MAX_PTRS && i < nr_ptrs; i++) {
    __u64 p = 0;

    snap->ptr_readable[i] = 0;
    /* On a fault p stays 0. */
    bpf_probe_read_kernel(&p, sizeof(p), (void *)(task + ptr_off[i]));
    snap->ptr[i] = p;
    p = kptr_or_0(p);
    OP_UNROLL
    for (c = 0; c < OP_PTEE_CHUNKS; c++)
      snap->ptr_readable[i] |= read_chunk(snap->ptee[i], p, c);
  }
  OP_UNROLL
  for (n = 0; n < OP_MAX_NESTED && n < nr_nested; n++) {
    __u32 src = nested_of[n];

    if (src >= OP_MAX_PTRS)
      continue;
    OP_UNROLL
    for (j = 0; j < OP_NESTED_SLOTS; j++) {
      __u64 p = 0;

      snap->nested_readable[n][j] = 0;
      /* The word was copied with the pointee's first chunk (zeroed when
       * that chunk faulted). */
      __builtin_memcpy(&p, snap->ptee[src] + j * 8, sizeof(p));
      snap->nested_ptr[n][j] = p;
      p = kptr_or_0(p);
      OP_UNROLL
      for (c = 0; c < OP_NESTED_CHUNKS; c++)
        snap->nested_readable[n][j] |= read_chunk(snap->nested[n][j], p, c);
    }
  }
  __sync_fetch_and_add(&snap->count, 1);
  return 0;
}

/* Only triggers: chains are read from live subjects. */
#if OP_WANT_TP
OP_SEC("tracepoint/syscalls/sys_enter_getppid")
int chain_trigger_tp(void *ctx)
{
  return capture();
}
#endif

#if OP_WANT_RAW
OP_SEC("raw_tracepoint/sys_enter")
int chain_trigger_raw(struct bpf_raw_tracepoint_args *ctx)
{
  if (ctx->args[1] != trigger_nr)
    return 0;
  return capture();
}
#endif

#if OP_WANT_UPROBE
OP_SEC("uprobe")
int chain_trigger_uprobe(void *ctx)
{
  return capture();
}
#endif
