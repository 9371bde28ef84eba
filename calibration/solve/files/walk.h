// SPDX-License-Identifier: GPL-2.0-only
// The file family's view of kernel memory: requests "from the current task
// of subject S, follow these pointer offsets, then copy LEN bytes at COPY_OFF
// from the last pointer" (bpf/filewalk.h), and their answers. The solver
// (files/solve.h) sees the kernel only through Memory, so it runs on the live
// walker (files/walker.h), on a recorded capture (files/record.h) or on a
// synthetic kernel in the tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::files {

struct WalkRequest {
  std::vector<uint32_t> steps; // pointer offsets followed from the task
  int32_t copy_off = 0;        // the copy starts here, relative to the last pointer
  uint32_t len = 256;          // bytes copied (a multiple of 256, at most 2048)

  std::string key() const;
};

struct WalkResponse {
  uint64_t task = 0;          // the current task's address
  std::vector<uint64_t> ptrs; // each pointer read (0 on a fault)
  std::vector<uint8_t> bytes; // `len` bytes; zero where a chunk faulted
  // Bytes read from the start of each kChunk chunk: kChunk, 0 when it
  // faulted, or those before a page that faulted when it ran into one
  // (bpf/read_chunk.bpf.h: the struct's bytes before that page are kept).
  std::vector<uint32_t> chunk_read;
  bool done = false; // the request ran

  // The bytes [at, at + n) were read (relative to the copy's start).
  bool ok(int64_t at, uint32_t n) const;
  std::optional<uint64_t> u64(int64_t at) const { return get<uint64_t>(at); }
  std::optional<uint32_t> u32(int64_t at) const { return get<uint32_t>(at); }
  std::optional<uint16_t> u16(int64_t at) const { return get<uint16_t>(at); }
  // The pointer the walk ended at (the copy's base), 0 when a step faulted.
  uint64_t base() const { return ptrs.empty() ? 0 : ptrs.back(); }

  template <class T> std::optional<T> get(int64_t at) const {
    if (!ok(at, sizeof(T)))
      return std::nullopt;
    T v;
    std::memcpy(&v, bytes.data() + at, sizeof(T));
    return v;
  }
};

// Subjects are numbered by the experiment (files/known.h).
class Memory {
public:
  virtual ~Memory() = default;
  // Answers every request, in order, for `subject`.
  virtual std::vector<WalkResponse> walk(int subject, const std::vector<WalkRequest> &reqs) = 0;
};

// A kernel pointer as the walker follows it (kptr_or_0 in bpf/kptr.bpf.h):
// aligned, in the kernel half of the address space.
inline bool is_kptr(uint64_t v) {
  return (v >> 56) == 0xff && (v & 7) == 0;
}

constexpr uint32_t kChunk = 256;
constexpr uint32_t kMaxCopy = 2048;
constexpr uint32_t kMaxSteps = 8;

} // namespace offsetprobe::files
