// SPDX-License-Identifier: GPL-2.0-only
// BtfOracle against a crafted BTF (no kernel needed) and against the running
// kernel's /sys/kernel/btf/vmlinux (skipped where absent, failed if CI=true),
// where every member is also compared with bpftool's reading of the same BTF
// (scripts/matrix/btf-truth.sh, which shares no code with BtfOracle).
#include "calibration/oracle/btf_oracle.h"
#include "tests/ci_skip.h"
#include "tests/crafted_btf.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <bpf/btf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace offsetprobe::test {

namespace {

BtfOracle crafted_oracle() {
  return BtfOracle(make_crafted_btf(), "crafted");
}

// True when the kernel's BTF is there. Otherwise the test is skipped with a
// message, or failed under CI=true: the CI machine is known to have BTF.
bool have_vmlinux_btf() {
  if (access(BtfOracle::kVmlinuxPath, R_OK) == 0)
    return true;
  skip_or_fail(std::string(BtfOracle::kVmlinuxPath) + " is missing (kernel without BTF)");
  return false;
}

// bpftool's answer (btf-truth.sh) for `structs` in the running kernel's BTF,
// or null with the test skipped (failed under CI=true) when bpftool is not
// there.
nlohmann::json bpftool_truth(const std::string &structs) {
  if (std::system("command -v bpftool >/dev/null 2>&1 || test -x /usr/sbin/bpftool") != 0) {
    skip_or_fail("bpftool is not installed: no second BTF oracle to compare with");
    return nullptr;
  }
  std::string cmd = std::string("bash '") + OFFSETPROBE_BTF_TRUTH + "' " + BtfOracle::kVmlinuxPath +
                    " " + structs;
  FILE *p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  int rc = pclose(p);
  REQUIRE_MESSAGE(rc == 0, cmd << " exited " << rc);
  return nlohmann::json::parse(out);
}

} // namespace

TEST_CASE("crafted BTF: direct members") {
  auto o = crafted_oracle();
  REQUIRE(o.loaded());
  std::string err;
  auto pid = o.member("task", "pid", err);
  REQUIRE_MESSAGE(pid, err);
  CHECK(pid->offset == 0);
  CHECK(pid->size == 4);
  auto tgid = o.member("struct task", "tgid", err);
  REQUIRE_MESSAGE(tgid, err);
  CHECK(tgid->offset == 4);
  CHECK(tgid->found_as == "tgid");
}

TEST_CASE("crafted BTF: members of anonymous structs and unions are found, offsets added") {
  auto o = crafted_oracle();
  std::string err;
  auto comm = o.member("task", "comm", err); // task -> anon struct @8 -> comm @8
  REQUIRE_MESSAGE(comm, err);
  CHECK(comm->offset == 16);
  CHECK(comm->size == 16);
  auto rst = o.member("task", "real_start_time", err); // anon struct -> anon union
  REQUIRE_MESSAGE(rst, err);
  CHECK(rst->offset == 8);
  CHECK(rst->size == 8);
  auto other = o.member("task", "other", err);
  REQUIRE_MESSAGE(other, err);
  CHECK(other->offset == 8);
  CHECK(other->size == 4);
}

TEST_CASE("crafted BTF: dotted path through a const typedef of a struct") {
  auto o = crafted_oracle();
  std::string err;
  auto emb = o.member("task", "emb", err);
  REQUIRE_MESSAGE(emb, err);
  CHECK(emb->offset == 32);
  CHECK(emb->size == 8); // the size resolves through const and typedef
  auto inum = o.member("task", "emb.inum", err);
  REQUIRE_MESSAGE(inum, err);
  CHECK(inum->offset == 36);
  CHECK(inum->size == 4);
  CHECK(inum->found_as == "emb.inum");
}

TEST_CASE("crafted BTF: aliases are tried only when the name is missing") {
  auto o = crafted_oracle();
  std::string err;
  LookupFailure why = LookupFailure::not_loaded;
  CHECK_FALSE(o.member("task", "start_boottime", err, &why));
  CHECK(why == LookupFailure::no_member);

  auto sb = o.member("task", "start_boottime", {"real_start_time"}, err);
  REQUIRE_MESSAGE(sb, err);
  CHECK(sb->offset == 8);
  CHECK(sb->size == 8);
  CHECK(sb->found_as == "real_start_time");

  // "struct.member" spelling of an alias.
  sb = o.member("task", "start_boottime", {"nope", "task.real_start_time"}, err);
  REQUIRE_MESSAGE(sb, err);
  CHECK(sb->found_as == "real_start_time");

  // The real name wins over an alias.
  auto pid = o.member("task", "pid", {"tgid"}, err);
  REQUIRE_MESSAGE(pid, err);
  CHECK(pid->offset == 0);

  CHECK_FALSE(o.member("task", "start_boottime", {"nope", "nada"}, err, &why));
  CHECK(why == LookupFailure::no_member);
  CHECK(err.find("start_boottime, nope, nada") != std::string::npos);
}

TEST_CASE("crafted BTF: refusals") {
  auto o = crafted_oracle();
  std::string err;
  LookupFailure why = LookupFailure::not_loaded;

  SUBCASE("unknown struct") {
    CHECK_FALSE(o.member("no_such_struct", "pid", err, &why));
    CHECK(why == LookupFailure::no_struct);
    CHECK(err.find("no_such_struct") != std::string::npos);
  }
  SUBCASE("unknown member") {
    CHECK_FALSE(o.member("task", "no_such_member", err, &why));
    CHECK(why == LookupFailure::no_member);
    CHECK(err.find("no_such_member") != std::string::npos);
  }
  SUBCASE("unknown nested member") {
    CHECK_FALSE(o.member("task", "emb.nope", err, &why));
    CHECK(why == LookupFailure::no_member);
    CHECK(err == "struct task.emb has no member nope");
  }
  SUBCASE("bitfield (kflag struct)") {
    CHECK_FALSE(o.member("bits", "flag", err, &why));
    CHECK(why == LookupFailure::unsupported);
    CHECK(err.find("bitfield") != std::string::npos);
    auto x = o.member("bits", "x", err);
    REQUIRE_MESSAGE(x, err);
    CHECK(x->offset == 4);
  }
  SUBCASE("a dotted path does not cross a pointer") {
    CHECK_FALSE(o.member("task", "ptr.inum", err, &why));
    CHECK(why == LookupFailure::unsupported);
    CHECK(err.find("pointer") != std::string::npos);
  }
  SUBCASE("a dotted path does not descend into an int") {
    CHECK_FALSE(o.member("task", "pid.x", err, &why));
    CHECK(why == LookupFailure::unsupported);
  }
  SUBCASE("malformed paths") {
    for (const char *p : {"", ".pid", "pid.", "emb..inum"}) {
      CAPTURE(p);
      CHECK_FALSE(o.member("task", p, err, &why));
      CHECK(why == LookupFailure::no_member);
    }
  }
}

TEST_CASE("crafted BTF: round trip through a raw BTF file given by path") {
  struct btf *b = make_crafted_btf();
  REQUIRE(b);
  uint32_t size = 0;
  const void *raw = btf__raw_data(b, &size);
  REQUIRE(raw);
  char path[] = "/tmp/offsetprobe-test-btf-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  CHECK(write(fd, raw, size) == static_cast<ssize_t>(size));
  close(fd);
  btf__free(b);

  BtfOracle o{std::string(path)};
  unlink(path);
  REQUIRE_MESSAGE(o.loaded(), o.load_error());
  CHECK(o.source() == path);
  std::string err;
  auto inum = o.member("task", "emb.inum", err);
  REQUIRE_MESSAGE(inum, err);
  CHECK(inum->offset == 36);
}

TEST_CASE("loading errors are values, not crashes") {
  SUBCASE("nonexistent file") {
    BtfOracle o{std::string("/nonexistent/vmlinux.btf")};
    CHECK_FALSE(o.loaded());
    CHECK(o.load_error().find("/nonexistent/vmlinux.btf") != std::string::npos);
    std::string err;
    LookupFailure why = LookupFailure::no_member;
    CHECK_FALSE(o.member("task_struct", "pid", err, &why));
    CHECK(why == LookupFailure::not_loaded);
    CHECK(err == o.load_error());
  }
  SUBCASE("a file that is not BTF") {
    char path[] = "/tmp/offsetprobe-test-notbtf-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char junk[] = "this is not BTF\n";
    CHECK(write(fd, junk, sizeof(junk)) == static_cast<ssize_t>(sizeof(junk)));
    close(fd);
    BtfOracle o{std::string(path)};
    unlink(path);
    CHECK_FALSE(o.loaded());
    CHECK(o.load_error().find(path) != std::string::npos);
  }
  SUBCASE("a null BTF object") {
    BtfOracle o(nullptr, "nothing");
    CHECK_FALSE(o.loaded());
    CHECK_FALSE(o.load_error().empty());
  }
}

TEST_CASE("the oracle moves") {
  BtfOracle a = crafted_oracle();
  BtfOracle b = std::move(a);
  CHECK(b.loaded());
  std::string err;
  CHECK(b.member("task", "pid", err));
  a = std::move(b);
  CHECK(a.loaded());
  CHECK(a.member("task", "tgid", err));
}

TEST_CASE("vmlinux BTF: task_struct basics") {
  if (!have_vmlinux_btf())
    return;
  BtfOracle o;
  REQUIRE_MESSAGE(o.loaded(), o.load_error());
  CHECK(o.source() == BtfOracle::kVmlinuxPath);
  std::string err;

  auto pid = o.member("task_struct", "pid", err);
  REQUIRE_MESSAGE(pid, err);
  auto tgid = o.member("task_struct", "tgid", err);
  REQUIRE_MESSAGE(tgid, err);
  CHECK(pid->size == 4);
  CHECK(tgid->size == 4);
  CHECK(tgid->offset == pid->offset + 4);

  auto comm = o.member("task_struct", "comm", err);
  REQUIRE_MESSAGE(comm, err);
  CHECK(comm->size == 16); // TASK_COMM_LEN

  auto gl = o.member("task_struct", "group_leader", err);
  REQUIRE_MESSAGE(gl, err);
  CHECK(gl->size == 8);

  // One logical field, two names across kernel versions (5.5 renamed it).
  auto sb = o.member("task_struct", "start_boottime", {"real_start_time"}, err);
  REQUIRE_MESSAGE(sb, err);
  CHECK(sb->size == 8);
}

TEST_CASE("vmlinux BTF: a dotted path into an embedded struct") {
  if (!have_vmlinux_btf())
    return;
  BtfOracle o;
  REQUIRE_MESSAGE(o.loaded(), o.load_error());
  std::string err;
  auto ns = o.member("uts_namespace", "ns", err);
  REQUIRE_MESSAGE(ns, err);
  auto inum = o.member("ns_common", "inum", err);
  REQUIRE_MESSAGE(inum, err);
  auto dotted = o.member("uts_namespace", "ns.inum", err);
  REQUIRE_MESSAGE(dotted, err);
  CHECK(dotted->offset == ns->offset + inum->offset);
  CHECK(dotted->size == 4);
  CHECK(dotted->size == inum->size);
}

TEST_CASE("vmlinux BTF: unknown struct and member") {
  if (!have_vmlinux_btf())
    return;
  BtfOracle o;
  REQUIRE_MESSAGE(o.loaded(), o.load_error());
  std::string err;
  LookupFailure why = LookupFailure::not_loaded;
  CHECK_FALSE(o.member("offsetprobe_no_such_struct", "pid", err, &why));
  CHECK(why == LookupFailure::no_struct);
  CHECK_FALSE(o.member("task_struct", "offsetprobe_no_such_member", err, &why));
  CHECK(why == LookupFailure::no_member);
  CHECK(err.find("offsetprobe_no_such_member") != std::string::npos);
}

TEST_CASE("vmlinux BTF: BtfOracle equals bpftool on every member") {
  // task_struct and every struct the pointer chains reach: each member
  // bpftool gives a byte offset for (anonymous members flattened, embedded
  // structs two levels deep as dotted paths) must be found by BtfOracle at
  // the same offset. A disagreement is a bug in one oracle, and verify (the
  // live tests' first oracle) is built on BtfOracle.
  if (!have_vmlinux_btf())
    return;
  auto truth = bpftool_truth("task_struct cred nsproxy mm_struct uts_namespace ipc_namespace "
                             "mnt_namespace pid_namespace net cgroup_namespace time_namespace");
  if (truth.is_null())
    return;
  BtfOracle o;
  REQUIRE_MESSAGE(o.loaded(), o.load_error());
  size_t compared = 0;
  for (const auto &[st, info] : truth.items()) {
    if (info.is_null()) {
      MESSAGE("bpftool: no struct " << st << " in this kernel's BTF");
      continue;
    }
    CHECK_MESSAGE(info["members"].size() > 0, st);
    for (const auto &[path, off] : info["members"].items()) {
      std::string err;
      auto m = o.member(st, path, err);
      CHECK_MESSAGE(m,
                    st << "." << path << ": bpftool has it at " << off << ", BtfOracle: " << err);
      if (m) {
        CHECK_MESSAGE(m->offset == off.get<uint32_t>(),
                      st << "." << path << ": BtfOracle " << m->offset << ", bpftool " << off);
        compared++;
      }
    }
  }
  MESSAGE("BtfOracle equals bpftool on " << compared << " members");
  CHECK(compared > 200);
  CHECK(truth["task_struct"]["members"].contains("pid"));
}

} // namespace offsetprobe::test
