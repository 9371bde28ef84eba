// SPDX-License-Identifier: GPL-2.0-only
// The skip rule of the doctest suites: a check that cannot run here says why
// and is skipped, except under CI=true, where the machine is known to have
// what it needs and a skip would hide a regression: there it fails.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace offsetprobe::test {

inline bool under_ci() {
  const char *ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// skip_or_fail REASON: MESSAGE("SKIP: ...") outside CI, a failed check under
// CI=true. The caller returns afterwards.
inline void skip_or_fail(const std::string &reason) {
  if (under_ci())
    FAIL_CHECK("SKIP not allowed under CI=true: " << reason);
  else
    MESSAGE("SKIP: " << reason);
}

} // namespace offsetprobe::test
