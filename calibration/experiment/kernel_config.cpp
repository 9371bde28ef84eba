// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/kernel_config.h"

#include "calibration/solve/layout_order.h"

#include <fstream>
#include <sstream>

#include <sys/utsname.h>
#include <zlib.h>

namespace offsetprobe {

std::optional<std::string> read_kernel_config(std::string *source) {
  if (gzFile gz = gzopen("/proc/config.gz", "rb")) {
    std::string text;
    char buf[65536];
    int n;
    while ((n = gzread(gz, buf, sizeof buf)) > 0)
      text.append(buf, static_cast<size_t>(n));
    bool ok = n == 0;
    gzclose(gz);
    if (ok && !text.empty()) {
      if (source)
        *source = "/proc/config.gz";
      return text;
    }
  }
  struct utsname u {};
  if (uname(&u) == 0) {
    std::string path = std::string("/boot/config-") + u.release;
    std::ifstream f(path);
    if (f) {
      std::ostringstream os;
      os << f.rdbuf();
      if (source)
        *source = path;
      return os.str();
    }
  }
  return std::nullopt;
}

std::optional<LayoutOrder> layout_from_kernel_config() {
  std::string source;
  auto text = read_kernel_config(&source);
  if (!text)
    return std::nullopt;
  LayoutOrder l;
  std::string opt = randstruct_in_config(*text);
  if (!opt.empty()) {
    l.randomized = true;
    l.evidence = source + " has " + opt;
  }
  return l;
}

} // namespace offsetprobe
