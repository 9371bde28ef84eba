// SPDX-License-Identifier: GPL-2.0-only
/*
 * The chain scanner (stage 2), as BCC source: the same program as
 * chainscan.bpf.c, compiled at run time by libbcc (offsetprobe-bcc). For a
 * subject picked by comm cookie it copies the structs that candidate pointer
 * fields of its task_struct point to, and for nsproxy candidates the structs
 * one level further. Like the scanner it knows no kernel struct: the host's
 * headers only have to get BCC's helper definitions through the compiler.
 *
 * It follows only the offsets it was compiled with (the stage-1 plan, as -D
 * macros) starting at the current task, and only values that lie in the
 * kernel half of the address space (kptr_or_0); it never reads an address
 * user space supplies. Every read is a bpf_probe_read_kernel() of one 512 B
 * chunk, so a fault voids one chunk, not the capture.
 *
 * The loader passes, as -D macros:
 *   OP_NR_PTRS, OP_PTR_OFFS    how many task_struct offsets to follow, and
 *                              them as an initializer list ("1368U,1376U")
 *   OP_NR_NESTED, OP_NESTED_OF which of those (indexes) to follow one level
 *                              further, as an initializer list (may be empty)
 *   OP_MAX_SUBJECTS            records in chain_snaps (3 per trial)
 *   OP_TRIGGER_NR, OP_WANT_TP / OP_WANT_RAW / OP_WANT_UPROBE   as for the scanner
 * The loops run over compile-time bounds and are unrolled, so every offset
 * is a constant to the verifier.
 *
 * The plain-data headers below are inlined at build time (bpf/embed_bcc.py):
 * the record layout is the libbpf chain scanner's by construction.
 */
#include "chainscan.h"
#include "read_ok.bpf.h"
#include "kptr.bpf.h"

#if OP_NR_PTRS > OP_MAX_PTRS || OP_NR_NESTED > OP_MAX_NESTED
#error "chain plan exceeds the chain scanner's capacity"
#endif

struct op_comm_key {
  char c[OP_COMM_LEN];
};

BPF_HASH(cookies, struct op_comm_key, u32, OP_MAX_SLOTS);
BPF_ARRAY(chain_snaps, struct op_chain_snapshot, OP_MAX_SUBJECTS);

static __always_inline int capture(void)
{
  const u32 ptr_off[OP_MAX_PTRS] = {OP_PTR_OFFS};
  const u32 nested_of[OP_MAX_NESTED] = {OP_NESTED_OF};
  struct op_comm_key comm = {};
  struct op_chain_snapshot *snap;
  unsigned long long task;
  u32 *slot;
  u32 i, c, n, j;

  if (bpf_get_current_comm(&comm.c, sizeof(comm.c)))
    return 0;
  slot = cookies.lookup(&comm);
  if (!slot)
    return 0;
  snap = chain_snaps.lookup(slot);
  if (!snap)
    return 0;

  task = bpf_get_current_task();
  snap->task_addr = task;
  snap->pid_tgid = bpf_get_current_pid_tgid();
#pragma unroll
  for (i = 0; i < OP_NR_PTRS; i++) {
    __u64 p = 0;

    snap->ptr_readable[i] = 0;
    /* On a fault p stays 0. */
    bpf_probe_read_kernel(&p, sizeof(p), (void *)(task + ptr_off[i]));
    snap->ptr[i] = p;
    p = kptr_or_0(p);
#pragma unroll
    for (c = 0; c < OP_PTEE_CHUNKS; c++)
      snap->ptr_readable[i] |=
          read_ok(bpf_probe_read_kernel(snap->ptee[i] + c * OP_CHAIN_CHUNK_SIZE,
                                        OP_CHAIN_CHUNK_SIZE, (void *)(p + c * OP_CHAIN_CHUNK_SIZE)),
                  1ULL << c);
  }
#pragma unroll
  for (n = 0; n < OP_NR_NESTED; n++) {
    u32 src = nested_of[n];

    if (src >= OP_MAX_PTRS)
      continue;
#pragma unroll
    for (j = 0; j < OP_NESTED_SLOTS; j++) {
      __u64 p = 0;

      snap->nested_readable[n][j] = 0;
      /* The word was copied with the pointee's first chunk (zeroed when
       * that chunk faulted). */
      __builtin_memcpy(&p, snap->ptee[src] + j * 8, sizeof(p));
      snap->nested_ptr[n][j] = p;
      p = kptr_or_0(p);
#pragma unroll
      for (c = 0; c < OP_NESTED_CHUNKS; c++)
        snap->nested_readable[n][j] |= read_ok(
            bpf_probe_read_kernel(snap->nested[n][j] + c * OP_CHAIN_CHUNK_SIZE, OP_CHAIN_CHUNK_SIZE,
                                  (void *)(p + c * OP_CHAIN_CHUNK_SIZE)),
            1ULL << c);
    }
  }
  __sync_fetch_and_add(&snap->count, 1);
  return 0;
}

#ifdef OP_WANT_TP
TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
  return capture();
}
#endif

#ifdef OP_WANT_RAW
RAW_TRACEPOINT_PROBE(sys_enter)
{
  if (ctx->args[1] != OP_TRIGGER_NR)
    return 0;
  return capture();
}
#endif

#ifdef OP_WANT_UPROBE
int chain_trigger_uprobe(struct pt_regs *ctx)
{
  return capture();
}
#endif
