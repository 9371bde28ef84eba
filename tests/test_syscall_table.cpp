// SPDX-License-Identifier: GPL-2.0-only
// The syscall table against <asm/unistd_64.h>, --syscall parsing, the
// /proc/<pid>/stat parser and the key checks of the tracker (no root needed).
#include "counting/syscall_table.h"
#include "counting/tracker.h"

#include <doctest/doctest.h>

#include <asm/unistd_64.h>

#include <fstream>
#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <sstream>

namespace offsetprobe::test {

TEST_CASE("syscall table: numbers agree with <asm/unistd_64.h>") {
  REQUIRE(std::string(syscall_table_arch()) == "x86_64");
  CHECK(syscall_number("read") == __NR_read);
  CHECK(syscall_number("getppid") == __NR_getppid);
  CHECK(syscall_number("uname") == __NR_uname);
  CHECK(syscall_number("getcwd") == __NR_getcwd);
  CHECK(syscall_number("pread64") == __NR_pread64);
  CHECK(syscall_number("clone3") == __NR_clone3);
  CHECK(syscall_number("openat2") == __NR_openat2);
  CHECK(syscall_number("futex_waitv") == __NR_futex_waitv);
  CHECK(syscall_number("sys_getppid") == __NR_getppid);
  CHECK(syscall_name(__NR_execve) == "execve");
  CHECK_FALSE(syscall_number("no_such_call"));
}

TEST_CASE("syscall table: every entry of the installed header") {
  // The whole header, not a sample: each __NR_x the header defines must be in
  // the table with the same number.
  std::ifstream f("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
  if (!f)
    f.open("/usr/include/asm/unistd_64.h");
  REQUIRE_MESSAGE(f, "the test was compiled against <asm/unistd_64.h> but cannot read it");
  std::string line;
  int checked = 0;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string define, name;
    uint32_t nr = 0;
    if (!(is >> define >> name >> nr) || define != "#define" || !name.starts_with("__NR_"))
      continue;
    name = name.substr(5);
    CAPTURE(name);
    CHECK(syscall_number(name) == nr);
    checked++;
  }
  CHECK(checked > 300);
}

TEST_CASE("syscall table: sorted by number, no duplicate numbers or names") {
  auto t = syscall_table();
  REQUIRE(t.size() > 300);
  std::map<std::string_view, int> names;
  for (size_t i = 0; i < t.size(); i++) {
    if (i)
      CHECK(t[i - 1].nr < t[i].nr);
    CHECK(++names[t[i].name] == 1);
  }
}

// name -> number of every __NR_<name> in a `cc -E -dM` dump, following macro
// chains (__NR_fcntl -> __NR3264_fcntl -> 25). __NR_syscalls is a count, not
// a syscall. A value that is not a number or a macro fails the test.
std::map<std::string, uint32_t> nr_macros(const char *path) {
  std::ifstream f(path);
  REQUIRE_MESSAGE(f, "cannot read " << path);
  std::map<std::string, std::string> defs;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string define, name, value;
    if (is >> define >> name >> value && define == "#define")
      defs[name] = value;
  }
  std::map<std::string, uint32_t> out;
  for (const auto &[name, value] : defs) {
    if (!name.starts_with("__NR_") || name == "__NR_syscalls")
      continue;
    std::string v = value;
    for (int depth = 0; depth < 4 && defs.count(v); depth++)
      v = defs[v];
    CAPTURE(name);
    CAPTURE(v);
    REQUIRE(!v.empty());
    REQUIRE(v.find_first_not_of("0123456789") == std::string::npos);
    out[name.substr(5)] = static_cast<uint32_t>(std::stoul(v));
  }
  return out;
}

uint32_t nr_in(std::span<const SyscallEntry> table, std::string_view name) {
  for (const auto &e : table)
    if (e.name == name)
      return e.nr;
  return UINT32_MAX;
}

TEST_CASE("syscall table: arm64 equals asm-generic/unistd.h with arm64's options") {
  auto arm64 = syscall_table_for("arm64");
  auto header = nr_macros(OFFSETPROBE_UNISTD_ARM64_DM);
  REQUIRE(header.size() > 290);
  // Both ways: every header entry is in the table with its number, and every
  // table entry below the header's end is in the header (none made up).
  for (const auto &[name, nr] : header) {
    CAPTURE(name);
    CHECK(nr_in(arm64, name) == nr);
  }
  uint32_t header_end = 0;
  for (const auto &[name, nr] : header)
    header_end = std::max(header_end, nr + 1);
  for (const auto &e : arm64) {
    CAPTURE(e.name);
    if (e.nr < header_end)
      CHECK(header.count(std::string(e.name)) == 1);
  }
}

TEST_CASE("syscall table: arm64 and x86_64 share every number from 424 on") {
  // Since 5.1 (pidfd_send_signal, 424) a new syscall gets one number on every
  // architecture: the arm64 entries past the 6.1 header rest on that.
  auto arm64 = syscall_table_for("arm64");
  auto x86 = syscall_table_for("x86_64");
  int shared = 0;
  for (const auto &e : arm64) {
    if (e.nr < 424)
      continue;
    CAPTURE(e.name);
    CHECK(nr_in(x86, e.name) == e.nr);
    shared++;
  }
  for (const auto &e : x86)
    if (e.nr >= 424) {
      CAPTURE(e.name);
      CHECK(nr_in(arm64, e.name) == e.nr);
    }
  CHECK(shared >= 46);
}

TEST_CASE("syscall table: the numbers differ per architecture") {
  auto arm64 = syscall_table_for("arm64");
  auto x86 = syscall_table_for("x86_64");
  // The calibration trigger and the matrix's count smoke test call getppid.
  CHECK(nr_in(arm64, "getppid") == 173);
  CHECK(nr_in(x86, "getppid") == 110);
  CHECK(nr_in(arm64, "openat") == 56);
  CHECK(nr_in(arm64, "execve") == 221);
  // The generic table has no legacy calls: open, fork, stat are x86 only.
  CHECK(nr_in(arm64, "open") == UINT32_MAX);
  CHECK(nr_in(arm64, "fork") == UINT32_MAX);
  CHECK(nr_in(x86, "open") == 2);
  CHECK(syscall_table_for("mips").empty());
  // The native table is one of the two.
  auto native = syscall_table();
  CHECK((native.data() == arm64.data() || native.data() == x86.data()));
}

TEST_CASE("resolve_syscalls: lists, repeats, unknown names") {
  auto r = resolve_syscalls({"getppid,uname", "getppid", "sys_read"});
  REQUIRE(r.set);
  CHECK(r.set->names == std::vector<std::string>{"getppid", "uname", "read"});
  CHECK(r.set->nrs == std::vector<uint32_t>{__NR_getppid, __NR_uname, __NR_read});
  auto bad = resolve_syscalls({"getppid,nope,alsonope"});
  CHECK_FALSE(bad.set);
  CHECK(bad.error == std::string("unknown syscalls nope, alsonope (no such name in the ") +
                         syscall_table_arch() + " table)");
  CHECK(resolve_syscalls({","}).error == "no syscall given");
}

TEST_CASE("parse_proc_stat: field 22 and a comm with spaces and parentheses") {
  std::string stat = "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
                     "987654 123 45 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto st = parse_proc_stat(stat);
  REQUIRE(st);
  CHECK(st->comm == "a b) c)");
  CHECK(st->start_ticks == 987654);
  CHECK_FALSE(parse_proc_stat("4242 (x) S 1 2 3"));
  CHECK_FALSE(parse_proc_stat("garbage"));
  auto self = LiveProcSource().stat(static_cast<uint32_t>(getpid()));
  REQUIRE(self);
  CHECK(self->start_ticks > 0);
}

namespace {

class FakeProc : public ProcSource {
public:
  std::map<uint32_t, ProcStat> procs;
  std::optional<ProcStat> stat(uint32_t tgid) override {
    auto it = procs.find(tgid);
    if (it == procs.end())
      return std::nullopt;
    return it->second;
  }
};

const ProcessRow &row(const std::vector<ProcessRow> &rows, uint32_t tgid) {
  for (const auto &r : rows)
    if (r.key.tgid == tgid)
      return r;
  FAIL("no row for " << tgid);
  return rows.front();
}

} // namespace

TEST_CASE("tracker: matches, mismatches, exits, pid reuse, drains") {
  FakeProc proc;
  proc.procs[10] = {500, "alive"};
  proc.procs[11] = {600, "wrong"};
  proc.procs[12] = {700, "soon gone"};
  CountTracker t(1);
  auto gone = t.update({{{10, 500}, 5}, {{11, 601}, 3}, {{12, 700}, 2}, {{13, 800}, 1}}, proc);
  // 13 was gone before it could be checked: unverified and drained.
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].tgid == 13);
  t.settle(gone[0], 1);
  auto rows = t.rows();
  CHECK(rows[0].key.tgid == 10); // highest count first
  CHECK(row(rows, 10).check == KeyCheck::ok);
  CHECK(row(rows, 10).comm == "alive");
  CHECK(row(rows, 11).check == KeyCheck::mismatch);
  CHECK(row(rows, 11).comm == "-");
  CHECK(row(rows, 13).check == KeyCheck::unverified);
  CHECK(t.mismatches() == 1);

  // 12 exits, 10's pid is reused by a later process, 11 stays wrong.
  proc.procs.erase(12);
  proc.procs[10] = {900, "newcomer"};
  gone = t.update({{{10, 500}, 5}, {{11, 601}, 4}, {{12, 700}, 1}}, proc);
  CHECK(gone.size() == 2);
  // The final counts, taken from the map once the processes are gone, may be
  // higher than the last snapshot (12 made one more call before it exited).
  t.settle({10, 500}, 5);
  t.settle({12, 700}, 2);
  rows = t.rows();
  CHECK(row(rows, 10).check == KeyCheck::reused);
  CHECK(row(rows, 10).comm == "alive");
  CHECK(row(rows, 12).check == KeyCheck::exited);
  CHECK(row(rows, 11).check == KeyCheck::mismatch);
  CHECK(row(rows, 11).delta == 1);

  // Drained keys are gone from the map; their counts stay.
  t.update({{{11, 601}, 4}}, proc);
  rows = t.rows();
  CHECK(row(rows, 10).count == 5);
  CHECK(row(rows, 12).count == 2);
  CHECK(row(rows, 13).count == 1);
  CHECK(row(rows, 11).delta == 0);
  CHECK(t.total() == 5 + 4 + 2 + 1);

  // A low snapshot (a thread exited while the maps were read) never makes a
  // count go down.
  t.update({{{11, 601}, 3}}, proc);
  CHECK(row(t.rows(), 11).count == 4);
  CHECK(row(t.rows(), 11).delta == 0);
}

TEST_CASE("tracker: idle matched keys are re-read only on sweeps") {
  FakeProc proc;
  proc.procs[10] = {500, "p"};
  CountTracker t(3);
  CHECK(t.update({{{10, 500}, 1}}, proc).empty()); // update 0: sweep
  proc.procs.erase(10);
  CHECK(t.update({{{10, 500}, 1}}, proc).empty()); // idle, no sweep
  CHECK(t.update({{{10, 500}, 1}}, proc).empty());
  CHECK(t.update({{{10, 500}, 1}}, proc).size() == 1); // update 3: sweep finds it gone
}

} // namespace offsetprobe::test
