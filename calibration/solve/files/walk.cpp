// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/files/walk.h"

#include <algorithm>

namespace offsetprobe::files {

std::string WalkRequest::key() const {
  std::string k;
  for (auto s : steps)
    k += std::to_string(s) + ",";
  return k + "@" + std::to_string(copy_off) + "+" + std::to_string(len);
}

bool WalkResponse::ok(int64_t at, uint32_t n) const {
  if (at < 0 || n == 0 || static_cast<uint64_t>(at) + n > bytes.size())
    return false;
  uint64_t end = static_cast<uint64_t>(at) + n;
  for (uint64_t c = static_cast<uint64_t>(at) / kChunk; c <= (end - 1) / kChunk; c++)
    if (c >= chunk_read.size() || c * kChunk + chunk_read[c] < std::min(end, (c + 1) * kChunk))
      return false;
  return true;
}

} // namespace offsetprobe::files
