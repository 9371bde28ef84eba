// SPDX-License-Identifier: GPL-2.0-only
// NAME   exit_codes
// RUN    exit_code_for over every ErrorKind (no root)
// EXPECT each kind the engine reports gets the exit code the command has
//        always given it (README.md's table, the man page's EXIT STATUS), so
//        the CLI's codes cannot drift when the engine's errors change.
#include "offsetprobe/cli/exit_codes.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace offsetprobe;

TEST_CASE("exit_code_for gives every error kind its documented code") {
  // Written out on purpose: not the enum's names, the numbers.
  const std::vector<std::pair<ErrorKind, int>> table = {
      {ErrorKind::failure, 1},     {ErrorKind::usage, 2},         {ErrorKind::not_calibrated, 3},
      {ErrorKind::incomplete, 4},  {ErrorKind::validation, 5},    {ErrorKind::mismatch, 6},
      {ErrorKind::permission, 7},  {ErrorKind::tracing, 8},       {ErrorKind::subject, 9},
      {ErrorKind::bpf, 10},        {ErrorKind::cache, 11},        {ErrorKind::no_btf, 12},
      {ErrorKind::no_headers, 13}, {ErrorKind::interrupted, 130}, {ErrorKind::terminated, 143},
  };
  std::set<ErrorKind> kinds;
  for (const auto &[kind, code] : table) {
    CAPTURE(static_cast<int>(kind));
    CHECK(exit_code_for(kind) == code);
    kinds.insert(kind);
  }
  // Every kind is in the table: they run from failure to terminated.
  CHECK(kinds.size() == table.size());
  CHECK(kinds.size() == static_cast<size_t>(ErrorKind::terminated) + 1);
}

TEST_CASE("an Error carries its kind and message, a Failure becomes one unchanged") {
  try {
    throw_failure(Failure{ErrorKind::subject, "the subject host died"});
    FAIL("no error");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::subject);
    CHECK(exit_code_for(e.kind()) == 9);
    CHECK(std::string(e.what()) == "the subject host died");
  }
}
