// SPDX-License-Identifier: GPL-2.0-only
#include "connwatch/bcc_conn_loader.h"

#include "connwatch.bcc.h"

namespace offsetprobe::conn {

ObjectLoader conn_bcc_loader(const BccCompileOptions &opts) {
  return [opts](const ProgramSpec &spec) { return load_bcc(spec, kConnwatchBccSource, opts); };
}

} // namespace offsetprobe::conn
