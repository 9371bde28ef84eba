// SPDX-License-Identifier: GPL-2.0-only
// What the subjects C and N do to themselves before they trigger: C takes
// the credential plan's ids and a loginuid, N unshares its namespaces and
// moves its mm's layout fields. Internal to the subject (subject.cpp runs them
// in its children); the protocol and the roles of L, T, G and E stay there.
// Every function reports what failed as "what:ERRNO" tokens, never throws:
// a role that could not be taken is a reason in the report, not a dead subject.
#pragma once

#include "calibration/experiment/subject.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace offsetprobe {

// errno's name ("EPERM"), or "E<number>" for one glibc does not name.
std::string err_name(int err);

// Appends `what` to a comma-separated error list.
void append_error(std::string &to, const std::string &what);

// C: loginuid first (writing it needs CAP_AUDIT_CONTROL, which setresuid to
// non-zero ids takes away), then gids, uids and fsuid (see subject_roles.cpp).
void take_credentials(const CredPlan &p, std::string &cred_error, std::string &loginuid_error);

// N: one unshare() per namespace; returns the errors ("NEWTIME:EINVAL,...").
std::string unshare_namespaces();

// N: moves its mm's layout fields by small random amounts (PR_SET_MM_MAP).
// `now` is its layout in kMmFields order. Returns "" or the error.
std::string move_mm_layout(const std::array<uint64_t, 10> &now);

// Our own mm layout from /proc/self/stat, kMmFields order.
std::optional<std::array<uint64_t, 10>> own_mm_layout();

} // namespace offsetprobe
