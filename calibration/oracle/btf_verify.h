// SPDX-License-Identifier: GPL-2.0-only
// Comparing a calibration with the kernel's BTF: the logic of `offsetprobe
// verify` and of the portability matrix, kept out of the command so it can be
// tested against crafted BTF.
#pragma once

#include "calibration/oracle/btf_oracle.h"
#include "calibration/model/result.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

enum class Verdict {
  match,          // calibrated offset and size equal BTF's
  mismatch,       // calibrated, but offset or size differ from BTF's
  not_calibrated, // ambiguous or unresolved; or "not present" although BTF has it
  not_in_btf,     // BTF gives no byte offset (no such member, or a bitfield)
};

const char *to_string(Verdict v);

struct FieldVerdict {
  std::string name;
  FieldStatus status = FieldStatus::unresolved;
  std::optional<uint32_t> offset; // calibrated
  std::optional<uint32_t> btf_offset;
  uint32_t size = 0; // calibrated (declared)
  std::optional<uint32_t> btf_size;
  Verdict verdict = Verdict::not_in_btf;
  bool ok = false;    // false when this field fails the verification
  std::string detail; // why, for anything but a plain match
};

struct VerifyReport {
  std::string btf; // the oracle's source
  // Why this kernel's BTF cannot be trusted (a randomized layout: the kernel
  // config says randstruct, or the calibration saw the layout shuffled), or "".
  std::string btf_untrusted;
  std::vector<FieldVerdict> fields;
  // True when there is at least one field and none failed.
  bool ok() const;
};

// verify_against_btf compares every field of `calibration` with `oracle`,
// which must be loaded.
VerifyReport verify_against_btf(const CalibrationResult &calibration, const BtfOracle &oracle);

// Marks the report's BTF untrusted for `why` and says so in every mismatch's
// detail: on a randstruct kernel BTF and DWARF describe the declared layout,
// not the shuffled one the code uses.
void explain_untrusted_btf(VerifyReport &r, const std::string &why);

// Why the BTF of the kernel `calibration` ran on cannot be trusted, or "":
// the running kernel's config (/proc/config.gz, /boot/config-*) when it says
// randstruct, else the calibration's own layout verdict.
std::string untrusted_btf_reason(const CalibrationResult &calibration);

// {"btf": path, "fields": [{name, status, offset, btf_offset, size, btf_size,
//  verdict, detail}], "ok": bool}; absent numbers are null.
nlohmann::json to_json(const VerifyReport &r);

} // namespace offsetprobe
