// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/loaded_object.h"

#include "calibration/model/error.h"

#include "scanner.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace offsetprobe {

Failure attach_failure(const LoadedObject &obj, const std::string &what, const AttachError &e,
                       const std::string &hint) {
  std::string msg =
      what + (std::string(obj.backend()) == "BCC" ? " with BCC" : "") + ": " + e.message;
  if (e.err == EPERM || e.err == EACCES)
    return {ErrorKind::permission, msg + ": run as root with CAP_BPF and CAP_PERFMON"};
  return {ErrorKind::tracing, msg + hint};
}

bool lookup_slot(const LoadedObject &obj, const std::string &map, uint32_t slot, void *value) {
  return bpf_map_lookup_elem(obj.map_fd(map), &slot, value) == 0;
}

std::optional<uint64_t> percpu_sum(int map_fd, uint32_t slot) {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return std::nullopt;
  std::vector<uint64_t> v(static_cast<size_t>(ncpu));
  if (bpf_map_lookup_elem(map_fd, &slot, v.data()) != 0)
    return std::nullopt;
  uint64_t total = 0;
  for (uint64_t x : v)
    total += x;
  return total;
}

void add_cookie(const LoadedObject &obj, const std::string &what, const std::string &cookie,
                uint32_t slot, uint32_t max_slots) {
  if (slot >= max_slots)
    throw Error(ErrorKind::failure, "too many subjects for " + what);
  char key[OP_COMM_LEN] = {};
  std::memcpy(key, cookie.data(), std::min(cookie.size(), sizeof(key) - 1));
  if (bpf_map_update_elem(obj.map_fd("cookies"), key, &slot, BPF_ANY) != 0)
    throw Error(ErrorKind::bpf,
                "registering a subject cookie in " + what + ": " + std::strerror(errno));
}

} // namespace offsetprobe
