// SPDX-License-Identifier: GPL-2.0-only
// with_bcc_backend() in offsetprobe-bcc: find headers, run in-process.
#include "offsetprobe/cli/bcc_bridge.h"

#include "calibration/experiment/bcc_capture.h"
#include "bpf/runtime/kernel_headers.h"
#include "connwatch/bcc_conn_loader.h"
#include "counting/bcc_counter_session.h"
#include "offsetprobe/usecases/calibrate_cached.h"
#include "calibration/model/error.h"

#include <sys/utsname.h>

namespace offsetprobe {

bool bcc_in_process() {
  return true;
}

int with_bcc_backend(const GlobalOptions &g, const std::string &kernel_headers,
                     const std::function<int(const BccContext &)> &body) {
  // Before the merged header view exists: a SIGINT/SIGTERM/SIGHUP from here
  // on stops the command through its destructors (the view's directory goes
  // too) instead of killing it with the view left in /run.
  install_stop_handlers();
  HeaderSearch search;
  search.explicit_dir = kernel_headers;
  utsname u{};
  if (uname(&u) == 0)
    search.release = u.release;
  HeaderLookup found = find_kernel_headers(search);
  if (!found.set)
    throw Error(ErrorKind::no_headers, no_headers_message(found.error));
  const HeaderSet &set = *found.set;
  std::string what = "kernel headers " +
                     (set.uts_release.empty() ? "" : "of " + set.uts_release + " ") + "from " +
                     set.origin;
  // Headers of another kernel are fine for our programs (every task_struct
  // access goes through calibrated offsets), but say so: a BCC user expects
  // the running kernel's.
  if (set.uts_release != search.release)
    log_info(g, what + ", running " + search.release +
                    ": fine, offsetprobe's programs reach kernel structs only through calibrated "
                    "offsets");
  else
    log_debug(g, what);

  MergedHeaderView view(set, private_temp_base());
  if (view.path() != set.layers.front())
    log_debug(g, "merged header view " + view.path());
  BccConfig cfg;
  cfg.kernel_source = view.path();
  cfg.headers_origin = set.origin;
  cfg.verbose = g.verbosity > 0;
  Backend backend = make_bcc_backend(cfg);
  BccCounterOptions counter_opts{cfg.headers_origin, cfg.verbose};
  BccContext ctx{&backend, cfg.kernel_source, cfg.headers_origin,
                 [counter_opts](const CounterConfig &c) -> std::unique_ptr<Counter> {
                   return std::make_unique<BccCounterSession>(c, counter_opts);
                 },
                 conn::conn_bcc_loader({cfg.headers_origin, cfg.verbose})};
  return body(ctx);
}

} // namespace offsetprobe
