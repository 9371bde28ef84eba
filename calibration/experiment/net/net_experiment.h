// SPDX-License-Identifier: GPL-2.0-only
// The net family's experiment: trials of the socket subject captured by the
// socket scanner, the solver, and the read-back of a fresh trial through the
// offsets found, in the kernel.
#pragma once

#include "calibration/model/calibrate_options.h"
#include "calibration/experiment/capture.h"
#include "calibration/experiment/net/sockscan_session.h"

#include <map>
#include <string>

#include <vector>

namespace offsetprobe::net {

// True when `opt.fields` selects a field of the net family.
bool net_selected(const CalibrateOptions &opt);

// Calibrates the selected net fields and appends their results to `fields`
// (which must hold the ns family's net.ns.inum when skc_net is selected).
// `backend` is the one the rest ran with; its socket scanner loads the same
// bpf/sockscan.bpf.c (libbpf, or compiled by BCC). A backend without one
// leaves the fields unresolved (not required) with that reason. Throws Error
// when the program cannot be loaded or on a stop signal.
void calibrate_net(const CalibrateOptions &opt, const Backend &backend,
                   std::vector<FieldResult> &fields);

// Reads the calibrated net fields of `fields` (offsets found elsewhere: a
// bundle) back on this kernel, like a calibration's own read-back; those
// that fail become unresolved. Throws Error like calibrate_net.
// skc_net is read through `inum`, net.ns.inum's offset: the caller passes
// it before that offset's own read-back has passed (so that both run at
// once) and fails skc_net afterwards if it did not (sock_solver.h:
// skc_net_behind_failed_inum).
void validate_net(const CalibrateOptions &opt, const Backend &backend,
                  std::vector<FieldResult> &fields, std::optional<uint32_t> inum);

} // namespace offsetprobe::net
