// SPDX-License-Identifier: GPL-2.0-only
// `offsetprobe opens` without root: the walk's names joined into paths,
// events decoded (malformed ones refused), each check verdict, the
// tracepoint format parsed, and the file family's offsets taken only when
// every one is calibrated and validated. And count's names from the kernel:
// decoded, and preferred to /proc's.
#include "counting/kernel_names.h"
#include "counting/tracker.h"
#include "opens/file_offsets.h"
#include "opens/open_record.h"
#include "opens/opens_session.h"

#include "counter.h"
#include "opens.h"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <vector>

#include <sys/sysmacros.h>

using namespace offsetprobe;

namespace {

// An event as the program sends it: header + the names of both walks.
std::vector<char> event(const std::string &path_names, const std::string &exe_names,
                        uint16_t walk_flags) {
  op_open_event e{};
  e.tgid = 42;
  e.tid = 43;
  e.fd = 7;
  e.ino = 1234;
  e.dev = (8u << 20) | 3; // kernel encoding of 8:3
  e.walk_flags = walk_flags;
  std::memcpy(e.comm, "cat", 4);
  e.path_bytes = static_cast<uint16_t>(path_names.size());
  e.exe_bytes = static_cast<uint16_t>(exe_names.size());
  std::memcpy(e.names, path_names.data(), path_names.size());
  std::memcpy(e.names + path_names.size(), exe_names.data(), exe_names.size());
  size_t size = OP_OPEN_EVENT_HEADER + path_names.size() + exe_names.size();
  std::vector<char> out(size);
  std::memcpy(out.data(), &e, size);
  return out;
}

const std::string kPasswd("passwd\0etc\0", 11);
const std::string kCat("cat\0bin\0usr\0", 12);

} // namespace

TEST_CASE("walk names join leaf last, root alone is /") {
  CHECK(join_walk_names(kPasswd.data(), kPasswd.size()) == "/etc/passwd");
  CHECK(join_walk_names("", 0) == "/");
  // Two files of one name in different directories stay apart.
  std::string a("x\0a\0", 4), b("x\0b\0", 4);
  CHECK(join_walk_names(a.data(), a.size()) == "/a/x");
  CHECK(join_walk_names(b.data(), b.size()) == "/b/x");
}

TEST_CASE("an event decodes into a record") {
  auto ev = event(kPasswd, kCat, OP_WALK_COMPLETE | OP_WALK_COMPLETE << 8);
  std::string err;
  auto r = decode_open_event(ev.data(), ev.size(), err);
  REQUIRE(r);
  CHECK(r->path == "/etc/passwd");
  CHECK(r->exe == "/usr/bin/cat");
  CHECK(r->comm == "cat");
  CHECK(r->dev == makedev(8, 3));
  CHECK(r->path_complete());
  CHECK_FALSE(r->truncated());
  // A task with no mm: no executable.
  auto ev2 = event(kPasswd, "", OP_WALK_COMPLETE | OP_WALK_NONE << 8);
  auto r2 = decode_open_event(ev2.data(), ev2.size(), err);
  REQUIRE(r2);
  CHECK(r2->exe.empty());
  CHECK_FALSE(r2->exe_complete());
}

TEST_CASE("malformed events are refused") {
  std::string err;
  std::vector<char> tiny(8);
  CHECK_FALSE(decode_open_event(tiny.data(), tiny.size(), err));
  CHECK(err.find("short") != std::string::npos);
  auto ev = event(kPasswd, kCat, OP_WALK_COMPLETE);
  ev.resize(ev.size() - 3); // names cut short of path_bytes + exe_bytes
  CHECK_FALSE(decode_open_event(ev.data(), ev.size(), err));
  CHECK(err.find("overflow") != std::string::npos);
}

TEST_CASE("check verdicts") {
  std::string err;
  auto ev = event(kPasswd, kCat, OP_WALK_COMPLETE | OP_WALK_COMPLETE << 8);
  auto r = *decode_open_event(ev.data(), ev.size(), err);
  FdView same{"/etc/passwd", 1234, makedev(8, 3)};
  CHECK(check_record(r, same) == PathCheck::ok);
  CHECK(check_record(r, std::nullopt) == PathCheck::closed);
  FdView del = same;
  del.link += " (deleted)";
  CHECK(check_record(r, del) == PathCheck::deleted);
  FdView other = same;
  other.link = "/etc/shadow";
  CHECK(check_record(r, other) == PathCheck::mismatch);
  // An inode number equal on another device is another file: the fd was reused.
  FdView reused = same;
  reused.dev = makedev(8, 4);
  CHECK(check_record(r, reused) == PathCheck::reused);
  reused = same;
  reused.ino = 99;
  CHECK(check_record(r, reused) == PathCheck::reused);

  // Truncated: only the tail is known; it must be a proper tail of readlink.
  auto tev = event(std::string("f\0d39\0", 6), kCat, OP_WALK_TRUNCATED);
  auto t = *decode_open_event(tev.data(), tev.size(), err);
  CHECK(t.truncated());
  CHECK(t.path == "/d39/f");
  FdView deep{"/tmp/x/d38/d39/f", 1234, makedev(8, 3)};
  CHECK(check_record(t, deep) == PathCheck::truncated);
  FdView deepdel = deep;
  deepdel.link += " (deleted)";
  CHECK(check_record(t, deepdel) == PathCheck::truncated);
  FdView wrongtail{"/tmp/x/d38/d40/f", 1234, makedev(8, 3)};
  CHECK(check_record(t, wrongtail) == PathCheck::mismatch);
  // A name that only ends like the tail's first name is not it.
  FdView glued{"/tmp/xd39/f", 1234, makedev(8, 3)};
  CHECK(check_record(t, glued) == PathCheck::mismatch);
  // Nothing before the tail: the walk was not truncated there.
  FdView whole{"/d39/f", 1234, makedev(8, 3)};
  CHECK(check_record(t, whole) == PathCheck::mismatch);

  auto fev = event(kPasswd, kCat, OP_WALK_FAULT);
  auto f = *decode_open_event(fev.data(), fev.size(), err);
  CHECK(check_record(f, same) == PathCheck::incomplete);
}

TEST_CASE("tracepoint format: where ret and __syscall_nr are") {
  const std::string fmt = "name: sys_exit_openat\nID: 700\nformat:\n"
                          "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
                          "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
                          "\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;\n";
  CHECK(tracepoint_field_offset(fmt, "ret") == 16u);
  CHECK(tracepoint_field_offset(fmt, "__syscall_nr") == 8u);
  CHECK_FALSE(tracepoint_field_offset(fmt, "nope"));
  CHECK_FALSE(tracepoint_field_offset("", "ret"));
}

TEST_CASE("file walk offsets: all calibrated and validated, or none") {
  CalibrationResult r;
  const char *names[] = {"task_struct.files",    "files_struct.fdt",  "fdtable.max_fds",
                         "fdtable.fd",           "file.f_path",       "path.mnt",
                         "path.dentry",          "file.f_inode",      "file.f_flags",
                         "dentry.d_name",        "qstr.name",         "dentry.d_parent",
                         "inode.i_ino",          "inode.i_mode",      "inode.i_sb",
                         "super_block.s_dev",    "mount.mnt",         "mount.mnt_parent",
                         "mount.mnt_mountpoint", "mount.mnt_id",      "vfsmount.mnt_root",
                         "task_struct.mm",       "mm_struct.exe_file"};
  uint32_t off = 8;
  for (const char *n : names) {
    FieldResult f;
    f.name = n;
    f.status = FieldStatus::calibrated;
    f.validation = Validation::passed;
    f.offset = off;
    off += 8;
    r.fields.push_back(f);
  }
  std::string why;
  auto o = file_walk_offsets(r, why);
  REQUIRE(o);
  CHECK(o->task_files == 8);
  CHECK(o->file_path == 40 + 48);   // f_path + path.mnt
  CHECK(o->file_dentry == 40 + 56); // f_path + path.dentry
  CHECK(o->dentry_name == 80 + 88); // d_name + qstr.name
  // One field not validated: no offsets at all, and the reason names it.
  for (auto &f : r.fields)
    if (f.name == "mount.mnt_parent")
      f.validation = Validation::failed;
  CHECK_FALSE(file_walk_offsets(r, why));
  CHECK(why.find("mount.mnt_parent") != std::string::npos);
  // Missing altogether.
  r.fields.pop_back();
  for (auto &f : r.fields)
    f.validation = Validation::passed;
  CHECK_FALSE(file_walk_offsets(r, why));
  CHECK(why.find("mm_struct.exe_file") != std::string::npos);
}

// count's names from the kernel (counting/kernel_names.h, tracker.h).
namespace {

class FakeProc : public ProcSource {
public:
  std::map<uint32_t, ProcStat> live;
  std::map<uint32_t, std::string> exes;
  std::optional<ProcStat> stat(uint32_t tgid) override {
    auto it = live.find(tgid);
    return it == live.end() ? std::nullopt : std::optional<ProcStat>(it->second);
  }
  std::optional<std::string> exe(uint32_t tgid) override {
    auto it = exes.find(tgid);
    return it == exes.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

std::vector<char> name_event(uint32_t tgid, const char *comm, const std::string &exe,
                             uint16_t walk) {
  op_count_name n{};
  n.key.tgid = tgid;
  n.key.start_ticks = 77;
  std::strncpy(n.comm, comm, sizeof(n.comm) - 1);
  n.exe_bytes = static_cast<uint16_t>(exe.size());
  n.exe_walk = walk;
  std::memcpy(n.names, exe.data(), exe.size());
  std::vector<char> out(OP_COUNT_NAME_HEADER + exe.size());
  std::memcpy(out.data(), &n, out.size());
  return out;
}

} // namespace

TEST_CASE("count names: decoded; a truncated executable is left to /proc") {
  auto ev = name_event(5, "short07", kCat, OP_WALK_COMPLETE);
  auto n = decode_count_name(ev.data(), ev.size());
  REQUIRE(n);
  CHECK(n->key.tgid == 5);
  CHECK(n->key.start_ticks == 77);
  CHECK(n->comm == "short07");
  CHECK(n->exe == "/usr/bin/cat");
  auto tr = name_event(5, "short07", kCat, OP_WALK_TRUNCATED);
  CHECK(decode_count_name(tr.data(), tr.size())->exe.empty());
  auto cut = name_event(5, "x", kCat, OP_WALK_COMPLETE);
  cut.resize(cut.size() - 1);
  CHECK_FALSE(decode_count_name(cut.data(), cut.size()));
}

TEST_CASE("count names: the kernel's first, /proc only for what it did not give") {
  FakeProc proc;
  CountTracker t;
  CountKey gone{5, 77}, alive{6, 88}, unnamed{7, 99};
  proc.live[6] = {88, "proc-comm"};
  proc.exes[6] = "/proc/exe";
  t.name(gone, "short07", "/usr/bin/cat");
  t.name(alive, "kcomm", ""); // the exe walk was truncated
  t.update({{gone, 3}, {alive, 4}, {unnamed, 5}}, proc);
  std::map<uint32_t, ProcessRow> rows;
  for (const auto &r : t.rows())
    rows[r.key.tgid] = r;
  // Exited before /proc was read: named all the same.
  CHECK(rows[5].comm == "short07");
  CHECK(rows[5].exe == "/usr/bin/cat");
  CHECK(std::string(rows[5].name_from) == "kernel");
  CHECK(rows[6].comm == "kcomm");
  CHECK(rows[6].exe == "/proc/exe");
  // Neither gave a name: "-", as before.
  CHECK(rows[7].comm == "-");
  CHECK(std::string(rows[7].name_from) == "-");
}
