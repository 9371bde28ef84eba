// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/files/walk.h"

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
  for (uint64_t c = static_cast<uint64_t>(at) / kChunk;
       c <= static_cast<uint64_t>(at + n - 1) / kChunk; c++)
    if (!((readable >> c) & 1))
      return false;
  return true;
}

} // namespace offsetprobe::files
