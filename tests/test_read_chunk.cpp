// SPDX-License-Identifier: GPL-2.0-only
// The chain scanner's chunk read (bpf/read_chunk.bpf.h) against a real
// unmapped page: bpf/chunktest.bpf.c runs it at addresses just before the
// end of a BPF_F_MMAPABLE array's value, which vmalloc follows with its
// unmapped guard page. A chunk running past that end faulted whole before
// (C's cred 256 B before a guest's last RAM page left cred `cannot tell`,
// tests/fixtures/failures/); now the bytes before the page's end are read,
// in whole 64 B grains, and only those are marked read. Root and BPF: the
// check skips with the reason outside CI and fails under CI=true.
#include "chunktest.h"
#include "chunktest.skel.h"

#include "ci_skip.h"

#include <doctest/doctest.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace offsetprobe::test {

TEST_CASE("read_chunk: a chunk that runs into an unmapped page keeps the bytes before it") {
  if (geteuid() != 0) {
    skip_or_fail("needs root (BPF_PROG_TEST_RUN of a syscall program)");
    return;
  }
  op_chunktest *skel = op_chunktest__open_and_load();
  if (!skel) {
    skip_or_fail(std::string("cannot load bpf/chunktest.bpf.c: ") + std::strerror(errno));
    return;
  }
  // The area's bytes, known: byte k of the area is (k * 7 + 3) & 0xff.
  const size_t size = sizeof(op_chunktest_area);
  void *m =
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(skel->maps.area), 0);
  REQUIRE(m != MAP_FAILED);
  auto *area = static_cast<unsigned char *>(m);
  for (size_t k = 0; k < size; k++)
    area[k] = static_cast<unsigned char>((k * 7 + 3) & 0xff);

  // Bytes before the area's end, and the grains read_chunk must report.
  struct Case {
    unsigned back;
    unsigned long long mask;
  };
  const Case cases[OP_CHUNKTEST_CASES] = {
      {1024, 0xff}, // the whole chunk lies in the area
      {512, 0xff},  // it ends exactly at the page's end
      {256, 0x0f},  // four grains before the unmapped page (the cred's case)
      {200, 0x07},  // 200 bytes: three whole grains
      {64, 0x01},   // one grain
      {63, 0x00},   // less than a grain: nothing
      {0, 0x00},    // wholly in the unmapped page
      {4096 + 256, 0xff},
  };
  op_chunktest_args args{};
  for (int i = 0; i < OP_CHUNKTEST_CASES; i++)
    args.back[i] = cases[i].back;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
  int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.chunk_test), &opts);
  REQUIRE_MESSAGE(err == 0, "BPF_PROG_TEST_RUN: " << std::strerror(errno));
  REQUIRE(opts.retval == 0);
  op_chunktest_out out{};
  unsigned zero = 0;
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(skel->maps.out), &zero, &out) == 0);

  // The premise: the area ends at a page boundary (the guard page follows).
  CHECK((out.area + size) % 4096 == 0);
  for (int i = 0; i < OP_CHUNKTEST_CASES; i++) {
    CAPTURE(cases[i].back);
    CHECK(out.mask[i] == cases[i].mask);
    // Every byte of a grain marked read is the area's; every other is 0.
    size_t start = size - cases[i].back;
    for (unsigned k = 0; k < OP_CHAIN_CHUNK_SIZE; k++) {
      bool read = out.mask[i] >> (k / OP_CHAIN_GRAIN) & 1;
      unsigned char want = read ? area[start + k] : 0;
      if (out.bytes[i][k] != want) {
        CAPTURE(k);
        CHECK(out.bytes[i][k] == want);
        break;
      }
    }
  }
  munmap(m, size);
  op_chunktest__destroy(skel);
}

} // namespace offsetprobe::test
