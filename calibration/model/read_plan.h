// SPDX-License-Identifier: GPL-2.0-only
// The read-back plan: what the reader program (bpf/reader.h) walks, and what
// it saw. Neither names a field: a step reads `size` bytes at `offset` from
// the subject's task or from the pointer an earlier step read; the caller
// that built the plan knows what each step means.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

// A step of a plan by index; nullopt: not in the plan.
using Step = std::optional<uint32_t>;

// Where a step may be read: bits of enum op_capture_site (bpf/scanner.h).
inline constexpr uint32_t kAtTrigger = 1, kAtExit = 2;

struct ReadStep {
  std::optional<uint32_t> parent; // index of the step whose pointer is the base; none: the task
  uint32_t offset = 0;
  uint32_t size = 0;
  uint32_t sites = kAtTrigger;
  // The field whose offset this is ("task_struct.pid"): the BCC reader
  // receives the offset as that field's export macro, as a consumer would.
  std::string field;
};

// Invariants (checked by add): at most OP_MAX_STEPS steps; a size of
// 1..OP_STEP_BYTES; a parent is an earlier step of 8 bytes read at every site
// its child is.
class ReadPlan {
public:
  // Appends a step and returns its index. Throws std::invalid_argument when
  // the step breaks an invariant.
  uint32_t add(const ReadStep &step);
  const std::vector<ReadStep> &steps() const { return steps_; }
  bool empty() const { return steps_.empty(); }

private:
  std::vector<ReadStep> steps_;
};

// What the reader saw for one subject.
struct ReadValues {
  bool captured = false;
  uint64_t task_addr = 0;
  uint32_t tid = 0, tgid = 0;
  uint32_t site = 0;                     // enum op_capture_site of the last capture (0: unknown)
  std::vector<bool> ok;                  // [i]: step i's read worked at that capture
  std::vector<std::vector<uint8_t>> raw; // [i]: step i's bytes (its size)

  bool has(std::optional<uint32_t> step) const {
    return captured && step && *step < ok.size() && ok[*step];
  }
  // Step `step`'s value as a T (zero-extended or truncated to sizeof(T) from
  // the step's bytes), or nullopt when it was not read.
  template <typename T> std::optional<T> get(std::optional<uint32_t> step) const {
    if (!has(step))
      return std::nullopt;
    T v{};
    const auto &b = raw[*step];
    std::memcpy(&v, b.data(), std::min(sizeof(T), b.size()));
    return v;
  }
  // The value, or T{} when it was not read (for messages).
  template <typename T> T value_or_zero(std::optional<uint32_t> step) const {
    return get<T>(step).value_or(T{});
  }
  // A string step (comm), up to its first NUL; "" when not read.
  std::string text(std::optional<uint32_t> step) const;
};

} // namespace offsetprobe
