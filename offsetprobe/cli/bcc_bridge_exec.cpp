// SPDX-License-Identifier: GPL-2.0-only
// with_bcc_backend() in offsetprobe: hand the command to offsetprobe-bcc.
#include "offsetprobe/cli/bcc_bridge.h"

#include "calibration/model/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;

namespace offsetprobe {

namespace {

// Next to this executable first (the build tree, and installs that keep both
// in one bin dir), then the configured libexec dir.
std::vector<std::string> helper_candidates() {
  std::vector<std::string> out;
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    out.push_back((self.parent_path() / "offsetprobe-bcc").string());
#ifdef OFFSETPROBE_LIBEXECDIR
  out.push_back(std::string(OFFSETPROBE_LIBEXECDIR) + "/offsetprobe-bcc");
#endif
  return out;
}

} // namespace

bool bcc_in_process() {
  return false;
}

int with_bcc_backend(const GlobalOptions &g, const std::string &,
                     const std::function<int(const BccContext &)> &) {
  std::vector<char *> argv;
  for (const auto &a : g.argv)
    argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  std::string tried;
  for (const auto &path : helper_candidates()) {
    if (access(path.c_str(), X_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    log_debug(g, "--backend bcc: executing " + path);
    std::fflush(nullptr);
    ::execv(path.c_str(), argv.data());
    throw Error(ErrorKind::failure, "executing " + path + ": " + std::strerror(errno));
  }
  throw Error(ErrorKind::failure,
              "--backend bcc: offsetprobe-bcc not found (looked for " + tried +
                  "); this build has no BCC backend (configured with -Dbcc=disabled, or libbcc "
                  "was missing: apt-get install libbpfcc-dev and rebuild)");
}

} // namespace offsetprobe
