// SPDX-License-Identifier: GPL-2.0-only
// The --backend and --kernel-headers options, and the run on the backend they
// chose: the same for every command that has a BCC backend.
#include "offsetprobe/cli/bcc_bridge.h"

namespace offsetprobe {

void add_backend_options(CLI::App *cmd, std::string &backend, std::string &kernel_headers,
                         const std::string &backend_help) {
  cmd->add_option("--backend", backend, backend_help)->check(CLI::IsMember({"libbpf", "bcc"}));
  cmd->add_option("--kernel-headers", kernel_headers,
                  "Kernel header tree for --backend bcc (default: /lib/modules/$(uname -r)/build, "
                  "else the newest /usr/src/linux-headers-*)");
}

int run_on_backend(const GlobalOptions &g, const std::string &backend,
                   const std::string &kernel_headers,
                   const std::function<int(const BccContext *)> &body) {
  if (backend == "bcc")
    return with_bcc_backend(g, kernel_headers, [&](const BccContext &ctx) { return body(&ctx); });
  if (!kernel_headers.empty())
    log_warn("--kernel-headers is used by --backend bcc only; ignored");
  return body(nullptr);
}

} // namespace offsetprobe
