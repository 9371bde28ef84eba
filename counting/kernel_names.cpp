// SPDX-License-Identifier: GPL-2.0-only
#include "counting/kernel_names.h"

#include "opens/open_record.h"

#include "counter.h"
#include "opens.h"

#include <algorithm>
#include <cstring>

namespace offsetprobe {

static_assert(sizeof(op_count_name::names) == OP_NAMES_BYTES + OP_NAME_MAX,
              "counter.h spells out opens.h's sizes");

std::optional<KernelName> decode_count_name(const void *data, size_t size) {
  if (size < OP_COUNT_NAME_HEADER)
    return std::nullopt;
  op_count_name n;
  std::memset(&n, 0, sizeof(n));
  std::memcpy(&n, data, std::min(size, sizeof(n)));
  if (n.exe_bytes > size - OP_COUNT_NAME_HEADER)
    return std::nullopt;
  KernelName k;
  k.key = {n.key.tgid, n.key.start_ticks};
  k.comm.assign(n.comm, strnlen(n.comm, sizeof(n.comm)));
  if (n.exe_walk & OP_WALK_COMPLETE)
    k.exe = join_walk_names(n.names, n.exe_bytes);
  return k;
}

} // namespace offsetprobe
