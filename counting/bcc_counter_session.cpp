// SPDX-License-Identifier: GPL-2.0-only
#include "counting/bcc_counter_session.h"

#include "bpf/runtime/bcc_object.h"

#include "counter.bcc.h"

namespace offsetprobe {

BccCounterSession::BccCounterSession(const CounterConfig &cfg, const BccCounterOptions &opts)
    : LoadedCounter(
          [&opts](const ProgramSpec &spec) {
            return load_bcc(spec, kCounterBccSource, {opts.headers_origin, opts.verbose});
          },
          cfg) {}

} // namespace offsetprobe
