// SPDX-License-Identifier: GPL-2.0-only
// The way from a command to the BCC backend. libbcc links LLVM (~100 MB of
// shared libraries), so the default offsetprobe executable does not link it:
// there, with_bcc_backend() re-executes the same command line in the separate
// offsetprobe-bcc executable, which links libbcc and implements it for real.
// Two implementations, one per executable: bcc_bridge_exec.cpp (offsetprobe)
// and bcc_bridge_local.cpp (offsetprobe-bcc).
#pragma once

#include "bpf/runtime/loaded_object.h"
#include "calibration/experiment/capture.h"
#include "counting/counter_session.h"
#include "offsetprobe/cli/cli.h"

#include <functional>
#include <string>

namespace offsetprobe {

// What the BCC side of a command needs: the backend for calibrate, and the
// header tree and log settings for count's and conn's own BCC programs.
struct BccContext {
  const Backend *backend = nullptr;
  std::string kernel_source;  // BCC_KERNEL_SOURCE (possibly a merged view)
  std::string headers_origin; // how the headers were found
  // The counting probe compiled by BCC (counting/bcc_counter_session.h).
  CounterFactory make_counter;
  // The connection probe compiled by BCC (connwatch/bcc_conn_loader.h).
  ObjectLoader load_conn;
};

// with_bcc_backend runs `body` with the BCC backend and returns its exit code.
// In offsetprobe it never returns: it execs offsetprobe-bcc (next to
// /proc/self/exe, else in the install's libexec dir) with g.argv, or throws
// Error(ErrorKind::failure) when this build has no BCC backend. In offsetprobe-bcc
// it finds the kernel headers (`kernel_headers` is --kernel-headers; throws
// Error(ErrorKind::no_headers) when none are found), builds a merged view for
// split trees (removed when body returns) and runs body in-process.
int with_bcc_backend(const GlobalOptions &g, const std::string &kernel_headers,
                     const std::function<int(const BccContext &)> &body);

// True in offsetprobe-bcc.
bool bcc_in_process();

// --backend libbpf|bcc and --kernel-headers DIR, as calibrate, count and conn
// take them (bcc_backend_options.cpp); `backend_help` says what --backend
// does for the command.
void add_backend_options(CLI::App *cmd, std::string &backend, std::string &kernel_headers,
                         const std::string &backend_help);
// Runs `body` on `backend`: "bcc" through with_bcc_backend() with its
// context, else in this process with nullptr (libbpf), after a warning for a
// --kernel-headers that only BCC uses.
int run_on_backend(const GlobalOptions &g, const std::string &backend,
                   const std::string &kernel_headers,
                   const std::function<int(const BccContext *)> &body);

} // namespace offsetprobe
