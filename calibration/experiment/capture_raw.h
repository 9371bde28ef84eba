// SPDX-License-Identifier: GPL-2.0-only
// Conversions from the raw map values both backends share (bpf/scanner.h,
// bpf/reader.h, bpf/chainscan.h) to the engine's types: one place, so that the libbpf and the
// BCC backend cannot read the same bytes differently.
#pragma once

#include "calibration/experiment/capture.h"
#include "calibration/model/snapshot.h"

struct op_snapshot;
struct op_readback;
struct op_chain_snapshot;

namespace offsetprobe {

// A raw snapshot value; captured == false when the slot was never written.
Snapshot to_snapshot(const op_snapshot &raw);

// A raw readback value, read with `plan` loaded; captured == false when the
// slot was never written.
ReadValues to_read_values(const op_readback &raw, const ReadPlan &plan);

// A raw chain-scanner value, read with `plan` loaded; captured == false when
// the slot was never written.
ChainCapture to_chain_capture(const op_chain_snapshot &raw, const ChainPlan &plan);

} // namespace offsetprobe
