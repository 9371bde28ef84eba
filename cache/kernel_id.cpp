// SPDX-License-Identifier: GPL-2.0-only
#include "cache/kernel_id.h"

namespace offsetprobe {

reader::Result<KernelId> read_kernel_id() {
  return reader::read_kernel_id();
}

nlohmann::json to_json(const KernelId &k) {
  return {{"build_id", k.build_id},
          {"build_id_source", k.source()},
          {"release", k.release},
          {"version", k.version},
          {"machine", k.machine}};
}

std::string describe(const KernelId &k) {
  std::string s = k.build_id + " (" + k.release + ", " + k.machine;
  if (!k.strong)
    s += ", no GNU build id: keyed by a /proc/version digest";
  return s + ")";
}

} // namespace offsetprobe
