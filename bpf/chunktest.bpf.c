// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test only (tests/test_read_chunk.cpp): runs the scanners' chunk read
 * (read_chunk.bpf.h: op_read_grains in 512 B chunks, op_read_prefix in 256 B
 * ones) at addresses just before a page that is not mapped, so
 * that the read again to a page's end is checked against the real thing.
 * The area is the value of a one-entry BPF_F_MMAPABLE array: the kernel
 * puts it in page-aligned vmalloc memory that ends at a page boundary, and
 * vmalloc leaves the next page unmapped (its guard page). The program
 * copies the chunk at `area + sizeof(area) - back[i]` for each case, never an
 * address user space supplies; it is run by BPF_PROG_TEST_RUN, never
 * attached.
 */
#include "compat.bpf.h"
#include "chunktest.h"
#include "read_chunk.bpf.h"

OP_LICENSE_GPL;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct op_chunktest_area);
} area SEC(".maps");

OP_ARRAY_MAP(out, struct op_chunktest_out, 1);

SEC("syscall")
int chunk_test(struct op_chunktest_args *args)
{
  __u32 zero = 0, i;
  __u64 base;
  struct op_chunktest_area *a = bpf_map_lookup_elem(&area, &zero);
  struct op_chunktest_out *o = bpf_map_lookup_elem(&out, &zero);

  if (!a || !o)
    return 1;
  /* The address as a plain number: read back from the map (the verifier
   * allows no arithmetic on a map pointer beyond its bounds). */
  o->area = (__u64)a;
  base = *(volatile __u64 *)&o->area + sizeof(*a);
#pragma unroll
  for (i = 0; i < OP_CHUNKTEST_CASES; i++) {
    __u32 back = args->back[i];

    if (back > sizeof(*a))
      return 2;
    o->mask[i] = op_read_grains(o->bytes[i], base - back, OP_CHUNKTEST_BIG);
    o->small_len[i] = op_read_prefix(o->small_bytes[i], base - back, OP_CHUNKTEST_SMALL);
  }
  return 0;
}
