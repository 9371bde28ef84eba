// SPDX-License-Identifier: GPL-2.0-only
// The scanners' chunk read (bpf/read_chunk.bpf.h) against a real
// unmapped page: bpf/chunktest.bpf.c runs it at addresses just before the
// end of a BPF_F_MMAPABLE array's value, which vmalloc follows with its
// unmapped guard page. A chunk running past that end faulted whole before
// (C's cred 256 B before a guest's last RAM page left cred `cannot tell`,
// tests/fixtures/failures/); now the bytes before the page's end are read,
// and only those count: in whole 64 B grains in the chain scanner's and the
// socket scanner's 512 B chunks (a struct file of 232 B behind a socket is
// the cred's case again), to the byte in the file walker's 256 B ones. Root
// and BPF: the
// check skips with the reason outside CI and fails under CI=true.
#include "chunktest.h"
#include "chunktest.skel.h"

#include "ci_skip.h"

#include <doctest/doctest.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
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
    unsigned long long mask; // 512 B chunks, in grains
    unsigned small_len;      // 256 B chunks, in bytes
  };
  const Case cases[OP_CHUNKTEST_CASES] = {
      {1024, 0xff, 256}, // the whole chunk lies in the area
      {512, 0xff, 256},  // it ends exactly at the page's end (512 B)
      {256, 0x0f, 256},  // four grains before the unmapped page (the cred's case)
      {200, 0x07, 200},  // 200 bytes: three whole grains
      {64, 0x01, 64},    // one grain
      {63, 0x00, 63},    // less than a grain: no grain, 63 bytes
      {0, 0x00, 0},      // wholly in the unmapped page
      {4096 + 256, 0xff, 256},
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
  // Every byte counted as read is the area's; every byte past what was read
  // is 0 (a grain read in part holds its bytes, but is not counted).
  auto check_bytes = [&](const unsigned char *got, unsigned n, unsigned counted, unsigned read,
                         size_t start) {
    for (unsigned k = 0; k < n; k++) {
      if (k < counted && got[k] != area[start + k]) {
        CAPTURE(k);
        CHECK(got[k] == area[start + k]);
        break;
      }
      if (k >= read && got[k] != 0) {
        CAPTURE(k);
        CHECK(got[k] == 0);
        break;
      }
    }
  };
  for (int i = 0; i < OP_CHUNKTEST_CASES; i++) {
    CAPTURE(cases[i].back);
    CHECK(out.mask[i] == cases[i].mask);
    CHECK(out.small_len[i] == cases[i].small_len);
    size_t start = size - cases[i].back;
    unsigned grains = static_cast<unsigned>(__builtin_popcountll(out.mask[i])) * 64;
    unsigned before = std::min<unsigned>(cases[i].back, OP_CHUNKTEST_BIG);
    check_bytes(out.bytes[i], OP_CHUNKTEST_BIG, grains, before, start);
    check_bytes(out.small_bytes[i], OP_CHUNKTEST_SMALL, cases[i].small_len, cases[i].small_len,
                start);
  }
  munmap(m, size);
  op_chunktest__destroy(skel);
}

} // namespace offsetprobe::test
