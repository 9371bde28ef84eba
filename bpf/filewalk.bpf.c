// SPDX-License-Identifier: GPL-2.0-only
/*
 * The file walker: for a subject picked by comm cookie, serves the next
 * FW_PER_TRIGGER requests (filewalk.h) per trigger syscall: for each, follows
 * the request's pointer offsets from the current task and copies bytes at the
 * last pointer.
 *
 * It dereferences only values it read itself, starting at the current task,
 * and only when they lie in the kernel half of the address space
 * (kptr_or_0); user space supplies offsets, never addresses. Every read is a
 * bpf_probe_read_kernel(): a fault leaves a zero pointer (whose reads fault
 * in turn) or leaves a chunk unread but for its bytes before the page that
 * faulted (read_chunk.bpf.h).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "filewalk.h"
#include "subject.bpf.h"
#include "read_ok.bpf.h"
#include "read_chunk.bpf.h"
#include "kptr.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FW_MAX_REQ);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct fw_request);
} fw_requests SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FW_MAX_REQ);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct fw_response);
} fw_responses SEC(".maps");

/* The walker records nothing per subject: `cookies` (subject.bpf.h) only
 * says whether the current task is one; this map gives it a record. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FW_MAX_CHUNKS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct fw_chunk);
} fw_chunks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, __u32);
} fw_slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct fw_control);
} fw_control SEC(".maps");

const volatile __u64 trigger_nr = 0;

/* Request idx of the round. A global function (noinline and not static, as
 * compat.bpf.h's OP_SUBPROG, which this libbpf-only object does not
 * include): verified once, whatever the number of calls. */
__attribute__((noinline)) int serve(__u32 idx) {
  struct fw_request *req;
  struct fw_response *resp;
  __u32 i, c;
  __u64 base;

  req = bpf_map_lookup_elem(&fw_requests, &idx);
  resp = bpf_map_lookup_elem(&fw_responses, &idx);
  if (!req || !resp)
    return 0;
  base = bpf_get_current_task();
  resp->task = base;
#pragma unroll
  for (c = 0; c < FW_CHUNKS; c++)
    resp->read[c] = 0;
#pragma unroll
  for (i = 0; i < FW_MAX_STEPS; i++) {
    __u64 p = 0;

    if (i >= req->nsteps)
      break;
    bpf_probe_read_kernel(&p, sizeof(p), (void *)(base + req->steps[i]));
    resp->ptr[i] = p;
    base = kptr_or_0(p);
  }
#pragma unroll
  for (c = 0; c < FW_CHUNKS; c++) {
    struct fw_chunk *chunk;
    __u32 at;

    if (c >= req->nchunks)
      break;
    at = req->chunk_first + c;
    chunk = bpf_map_lookup_elem(&fw_chunks, &at);
    if (!chunk)
      break;
    resp->read[c] =
        op_read_prefix(chunk->bytes, base + (__s64)req->copy_off + c * FW_CHUNK, FW_CHUNK);
  }
  resp->done = 1;
  return 0;
}

/* The next FW_PER_TRIGGER requests of the round. */
static __always_inline int walk(void) {
  struct fw_control *ctl;
  __u32 zero = 0, first, k;

  if (!subject_record(&fw_slots))
    return 0;
  ctl = bpf_map_lookup_elem(&fw_control, &zero);
  if (!ctl)
    return 0;
  /* Not atomic: a fetch-and-add that returns its value needs BPF_FETCH
   * (5.12+), and only one subject, one thread, triggers during a round. */
  first = ctl->next;
  ctl->next = first + FW_PER_TRIGGER;
  for (k = 0; k < FW_PER_TRIGGER; k++) {
    if (first + k >= ctl->count || first + k >= FW_MAX_REQ)
      break;
    serve(first + k);
  }
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int walk_tp(void *ctx) {
  return walk();
}

SEC("raw_tracepoint/sys_enter")
int walk_raw(struct bpf_raw_tracepoint_args *ctx) {
  if (ctx->args[1] != trigger_nr)
    return 0;
  return walk();
}
