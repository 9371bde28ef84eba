// SPDX-License-Identifier: GPL-2.0-only
// The net family's experiment: trials of the socket subject captured by the
// socket scanner, the solver, and the read-back of a fresh trial through the
// offsets found, in the kernel.
#pragma once

#include "calibration/model/calibrate_options.h"
#include "calibration/experiment/capture.h"
#include "calibration/experiment/net/sock_subject.h"
#include "calibration/experiment/net/sockscan_session.h"
#include "calibration/experiment/teardown.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::net {

// Where the net experiment's trials come from: the socket subject under the
// socket scanner on this kernel (live_sock_trials), or a recording of them
// (the tests' fake environment, tests/fixture_environment.h).
class SockTrials {
public:
  virtual ~SockTrials() = default;
  // The read-back plan the hits of the next trials carry.
  virtual void set_plan(const std::vector<SockStep> &plan) = 0;
  // One trial, with fresh random values.
  virtual SockTrialRun run() = 0;
  // The kernel's release (uname -r): sk_type and sk_protocol are bit-fields
  // before 5.6.
  virtual std::string release() const = 0;
};

// The socket subject and `backend`'s socket scanner, which follows the sk's
// first words to net.ns.inum at `inum_offset` (none: not followed);
// `readback_only` as SockScanSession's. Throws Error like SockScanSession.
std::unique_ptr<SockTrials> live_sock_trials(const ObjectLoader &sockscan,
                                             std::optional<uint32_t> inum_offset,
                                             bool readback_only);

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
// The same on trials from `source` (which follows net.ns.inum at the offset
// in `fields`, as calibrate_net's own does).
void calibrate_net(const CalibrateOptions &opt, SockTrials &source,
                   std::vector<FieldResult> &fields);

// Reads the calibrated net fields of `fields` (offsets found elsewhere: a
// bundle) back on this kernel, like a calibration's own read-back; those
// that fail become unresolved. Throws Error like calibrate_net.
// skc_net is read through `inum`, net.ns.inum's offset: the caller passes
// it before that offset's own read-back has passed (so that both run at
// once) and fails skc_net afterwards if it did not (sock_solver.h:
// skc_net_behind_failed_inum).
// `later`: where the socket scanner goes once the results are in, to be
// detached by the caller (teardown.h); without it, before this returns.
void validate_net(const CalibrateOptions &opt, const Backend &backend,
                  std::vector<FieldResult> &fields, std::optional<uint32_t> inum,
                  Deferred *later = nullptr);
// The same on a trial from `source` (read-back only, following `inum`).
void validate_net(const CalibrateOptions &opt, SockTrials &source, std::vector<FieldResult> &fields,
                  std::optional<uint32_t> inum);

// net.ns.inum's offset as `fields` give it (calibrated), or none: the offset
// a bundle's read-back follows before that field's own read-back passed.
std::optional<uint32_t> given_inum_offset(const std::vector<FieldResult> &fields);

} // namespace offsetprobe::net
