// SPDX-License-Identifier: GPL-2.0-only
// The file family's solver and read-back on synthetic kernels
// (tests/fake_files_kernel.h): the declared layout and a shuffled one, the
// decoys (an inode number equal to a size, one name in two directories, a
// bind mount of the same tmpfs, mnt_child links into the parent mount), a
// read-back that catches a wrong offset, and the replay of a recorded run.
#include "calibration/model/catalogue.h"
#include "calibration/experiment/files/experiment.h"
#include "calibration/solve/files/readback.h"
#include "calibration/solve/files/record.h"
#include "calibration/solve/files/solve.h"
#include "tests/fake_files_kernel.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <zlib.h>

namespace offsetprobe::test {

namespace {

using files::FilesSolution;
using files::TrialKnown;

// Every field's expected offset under a layout.
std::map<std::string, uint32_t> expected(const FakeLayout &L) {
  return {
      {"task_struct.files", L.task_files},
      {"task_struct.fs", L.task_fs},
      {"files_struct.fdt", L.fs_fdt},
      {"fdtable.max_fds", L.fdt_max_fds},
      {"fdtable.fd", L.fdt_fd},
      {"file.f_path", L.f_path},
      {"path.mnt", 0},
      {"path.dentry", 8},
      {"file.f_inode", L.f_inode},
      {"file.f_flags", L.f_flags},
      {"file.f_mode", L.f_mode},
      {"file.f_pos", L.f_pos},
      {"file.private_data", L.private_data},
      {"dentry.d_name", L.d_name},
      {"qstr.name", 8},
      {"qstr.len", 4},
      {"qstr.hash_len", 0},
      {"dentry.d_parent", L.d_parent},
      {"dentry.d_inode", L.d_inode},
      {"dentry.d_sb", L.d_sb},
      {"inode.i_ino", L.i_ino},
      {"inode.i_mode", L.i_mode},
      {"inode.i_uid", L.i_uid},
      {"inode.i_gid", L.i_gid},
      {"inode.i_size", L.i_size},
      {"inode.i_sb", L.i_sb},
      {"super_block.s_dev", L.s_dev},
      {"super_block.s_magic", L.s_magic},
      {"mount.mnt", L.m_mnt},
      {"mount.mnt_parent", L.m_parent},
      {"mount.mnt_mountpoint", L.m_mountpoint},
      {"mount.mnt_id", L.m_id},
      {"vfsmount.mnt_root", L.v_root},
      {"vfsmount.mnt_sb", L.v_sb},
      {"fs_struct.root", L.fs_root},
      {"fs_struct.pwd", L.fs_pwd},
      {"mm_struct.exe_file", L.mm_exe},
  };
}

// A shuffled layout: members in other orders than the declared one (as a
// randstruct kernel has them), mount.mnt after mnt_mounts (so that the
// mnt_child links into a parent could pass for mnt_parent), i_size before
// i_ino, f_pos before f_flags, the dentry's name last.
FakeLayout shuffled() {
  FakeLayout L;
  L.task_files = 3320;
  L.task_fs = 640;
  L.task_mm = 2016;
  L.task_active_mm = 88;
  L.fs_fdt = 112;
  L.fs_fdtab = 128;
  L.fs_fd_array = 320;
  L.fdt_max_fds = 36;
  L.fdt_fd = 16;
  L.f_mode = 180;
  L.f_op = 0;
  L.f_mapping = 128;
  L.private_data = 200;
  L.f_inode = 96;
  L.f_flags = 136;
  L.f_cred = 40;
  L.f_path = 48;
  L.f_pos = 8;
  L.i_mode = 300;
  L.i_uid = 16;
  L.i_gid = 124;
  L.i_op = 0;
  L.i_sb = 208;
  L.i_ino = 560;
  L.i_size = 8;
  L.s_dev = 1000;
  L.s_magic = 24;
  L.d_parent = 120;
  L.d_name = 0;
  L.d_inode = 16;
  L.d_iname = 160;
  L.d_sb = 32;
  L.m_parent = 312;
  L.m_mountpoint = 8;
  L.m_mnt = 200;
  L.m_mounts = 40;
  L.m_child = 56;
  L.m_id = 24;
  L.v_root = 16;
  L.v_sb = 0;
  L.fs_root = 56;
  L.fs_pwd = 8;
  L.mm_layout = 1200;
  L.mm_exe = 64;
  return L;
}

struct Run {
  FakeKernel k;
  std::vector<TrialKnown> trials;
  TrialKnown validation;
  FilesSolution sol;
};

std::unique_ptr<Run> run(const FakeLayout &L, uint64_t seed, size_t ntrials = 3,
                         std::function<void(FakeWorld &)> tweak = {}, files::SolveConfig cfg = {},
                         std::function<void(FakeKernel &)> kernel = {}) {
  auto r = std::make_unique<Run>();
  if (kernel)
    kernel(r->k);
  FakeWorld w(r->k, L, seed);
  if (tweak)
    tweak(w);
  for (size_t i = 0; i < ntrials; i++)
    r->trials.push_back(w.trial(files::subject_id(i, false), files::subject_id(i, true)));
  r->validation = w.trial(files::subject_id(ntrials, false), files::subject_id(ntrials, true));
  r->sol = files::solve_files(r->k, r->trials, cfg);
  files::readback_files(r->k, r->validation, files::subject_id(ntrials, false),
                        files::subject_id(ntrials, true), r->sol.found, r->sol.fields);
  return r;
}

// Solves three trials of a world on `k` through a recording, then again on
// the record's JSON text, and checks that both agree; returns the text.
std::string check_replay(FakeKernel &k, const FakeLayout &L, uint64_t seed) {
  FakeWorld w(k, L, seed);
  std::vector<TrialKnown> trials;
  for (size_t i = 0; i < 3; i++)
    trials.push_back(w.trial(files::subject_id(i, false), files::subject_id(i, true)));
  files::RecordingMemory rec(k);
  auto live = files::solve_files(rec, trials, files::SolveConfig{});
  files::FilesCapture cap;
  cap.trials = trials;
  cap.memory = rec.to_json();
  std::string text = files::to_json(cap).dump();
  auto back = files::capture_from_json(nlohmann::json::parse(text));
  files::ReplayMemory replay(back.memory);
  auto again = files::solve_files(replay, back.trials, back.config);
  CHECK(replay.misses() == 0);
  REQUIRE(again.fields.size() == live.fields.size());
  for (size_t i = 0; i < live.fields.size(); i++) {
    CHECK(again.fields[i].name == live.fields[i].name);
    CHECK(again.fields[i].offset == live.fields[i].offset);
    CHECK(again.fields[i].status == live.fields[i].status);
  }
  return text;
}

void check_all(const std::vector<FieldResult> &fields, const FakeLayout &L) {
  auto want = expected(L);
  REQUIRE(fields.size() == want.size());
  for (const auto &f : fields) {
    INFO(f.name << ": " << std::string(to_string(f.status)) << " " << f.reason << " "
                << f.validation_detail);
    REQUIRE(want.count(f.name));
    CHECK(f.status == FieldStatus::calibrated);
    CHECK(f.validation == Validation::passed);
    CHECK(f.offset == want.at(f.name));
  }
}

} // namespace

TEST_CASE("files: every field on the declared layout, read back") {
  FakeLayout L;
  auto r = run(L, 1);
  check_all(r->sol.fields, L);
}

TEST_CASE("files: a shuffled layout (no rule by declaration order to stand down)") {
  FakeLayout L = shuffled();
  for (uint64_t seed : {2, 3, 4}) {
    auto r = run(L, seed);
    check_all(r->sol.fields, L);
  }
}

TEST_CASE("files: mnt_child links into the parent do not pass for mnt_parent") {
  // In the shuffled layout mount.mnt (200) lies after mnt_mounts (40): the
  // list links of a child point to parent + 40 = parent's vfsmount - 160,
  // which a wrong K = 160 would take for mnt_parent. B is the first child of
  // A and C the last of B: the link is `prev` in one and `next` in the other.
  FakeLayout L = shuffled();
  auto r = run(L, 5);
  for (const auto &f : r->sol.fields)
    if (f.name == "mount.mnt") {
      CHECK(f.status == FieldStatus::calibrated);
      CHECK(f.offset == 200u);
    }
}

TEST_CASE("files: equal values stay ambiguous, never a guess") {
  // Every file's size equals its own inode number: i_ino and i_size cannot
  // be told apart by value, and neither is reported.
  FakeLayout L;
  auto r = run(L, 6, 3, [](FakeWorld &w) { w.size_equals_own_ino = true; });
  for (const auto &f : r->sol.fields)
    if (f.name == "inode.i_ino" || f.name == "inode.i_size") {
      INFO(f.name);
      CHECK(f.status == FieldStatus::ambiguous);
      CHECK_FALSE(f.offset);
      CHECK(f.candidates == std::vector<uint32_t>{L.i_ino, L.i_size});
    }
}

TEST_CASE("files: a sibling's mm in the next slab object; the bound is mm_struct's slab size") {
  // Forked subjects' mms may lie next to each other in the mm_struct slab,
  // each holding the same exe_file: 4 KiB from the mm reaches the next one.
  FakeLayout L;
  const uint32_t stride = 1408; // 6.12's mm_struct slab stride
  auto sibling = [&](FakeWorld &w) { w.sibling_mm_stride = stride; };
  auto exe = [](const Run &r) {
    for (const auto &f : r.sol.fields)
      if (f.name == "mm_struct.exe_file")
        return f;
    FAIL("no mm_struct.exe_file");
    return FieldResult{};
  };
  // Without the slab's size: both words hold the exe_file, no guess.
  auto r = run(L, 11, 3, sibling);
  auto f = exe(*r);
  CHECK(f.status == FieldStatus::ambiguous);
  CHECK_FALSE(f.offset);
  CHECK(f.candidates == std::vector<uint32_t>{L.mm_exe, stride + L.mm_exe});
  // With it: the next object is not searched.
  files::SolveConfig cfg;
  cfg.mm_bytes = stride;
  r = run(L, 11, 3, sibling, cfg);
  f = exe(*r);
  CHECK(f.status == FieldStatus::calibrated);
  CHECK(f.offset == L.mm_exe);
  CHECK(f.validation == Validation::passed);
}

TEST_CASE("files: the read-back fails a wrong offset") {
  FakeLayout L;
  auto r = run(L, 7);
  // Offsets a solver might have got wrong, read back on a fresh trial.
  auto fields = r->sol.fields;
  auto found = r->sol.found;
  for (auto &f : fields) {
    f.validation = Validation::not_run;
    if (f.name == "file.f_pos" || f.name == "inode.i_uid") {
      f.offset = *f.offset + 8;
      found.off[f.name] = *f.offset;
    }
  }
  FakeWorld w(r->k, L, 70);
  TrialKnown fresh = w.trial(100, 101);
  files::readback_files(r->k, fresh, 100, 101, found, fields);
  for (const auto &f : fields) {
    INFO(f.name << " " << f.validation_detail);
    if (f.name == "file.f_pos" || f.name == "inode.i_uid") {
      CHECK(f.status == FieldStatus::unresolved);
      CHECK(f.validation == Validation::failed);
      CHECK_FALSE(f.offset);
    } else {
      CHECK(f.validation == Validation::passed);
    }
  }
}

TEST_CASE("files: structs at the end of a RAM range, the page after each unmapped") {
  // Every struct ends at a page whose next page faults, as C's cred did in
  // a guest (tests/fixtures/failures/). The walker copies whole 256 B
  // chunks: an fdtable (64 B) or a struct file's last chunk runs into that
  // page. Read again up to the page's end, the struct's own bytes are kept.
  FakeLayout L = shuffled();
  auto r = run(L, 11, 3, {}, {}, [](FakeKernel &k) { k.end_of_ram = true; });
  check_all(r->sol.fields, L);

  // The premise: read as before (a chunk that faults is lost whole), the
  // same kernel leaves fields unresolved, and none wrong.
  auto before = run(L, 11, 3, {}, {}, [](FakeKernel &k) {
    k.end_of_ram = true;
    k.read_to_page_end = false;
  });
  auto want = expected(L);
  size_t calibrated = 0;
  for (const auto &f : before->sol.fields) {
    INFO(f.name);
    if (f.status == FieldStatus::calibrated) {
      calibrated++;
      CHECK(f.offset == want.at(f.name));
    }
  }
  CHECK(calibrated < want.size());

  // A record of such a walk keeps the partial chunks (a shorter hex string)
  // and replays to the same result.
  FakeKernel k;
  k.end_of_ram = true;
  std::string text = check_replay(k, L, 12);
  size_t partial = 0;
  for (size_t at = text.find("\"chunks\":[\""); at != std::string::npos;
       at = text.find("\"chunks\":[\"", at + 1))
    for (size_t q = at + 10; text[q] == '"';) {
      size_t end = text.find('"', q + 1);
      size_t n = end - q - 1;
      partial += n > 0 && n < 2 * files::kChunk;
      q = text[end + 1] == ',' ? end + 2 : end + 1;
    }
  CHECK(partial > 0);
}

TEST_CASE("files: a walk's partial chunk: only the bytes read count") {
  files::WalkResponse r;
  r.bytes.assign(3 * files::kChunk, 0);
  r.chunk_read = {files::kChunk, 128, 0};
  CHECK(r.ok(0, 256));
  CHECK(r.ok(250, 8)); // across chunks 0 and 1, both read there
  CHECK(r.ok(256 + 120, 8));
  CHECK_FALSE(r.ok(256 + 121, 8));
  CHECK_FALSE(r.ok(512, 1));
  CHECK_FALSE(r.ok(3 * files::kChunk - 4, 8)); // past the end
}

TEST_CASE("files: one trial whose subjects cannot show it leaves a field unresolved") {
  // A kernel where the walk finds no fd table (the task bytes are zeroed):
  // every field is unresolved, none reported.
  FakeKernel k;
  FakeLayout L;
  FakeWorld w(k, L, 8);
  std::vector<TrialKnown> trials = {w.trial(0, 1)};
  k.tasks[0] = k.alloc(12288);
  auto sol = files::solve_files(k, trials, files::SolveConfig{});
  for (const auto &f : sol.fields) {
    INFO(f.name);
    CHECK(f.status != FieldStatus::calibrated);
    CHECK_FALSE(f.offset);
    CHECK_FALSE(f.required);
  }
}

TEST_CASE("files: a recorded run replays to the same result") {
  FakeKernel k;
  check_replay(k, shuffled(), 9);
}

TEST_CASE("files: vfsmount's size by kernel release") {
  CHECK(files::vfsmount_size_for("5.10.0-32-amd64") == 24);
  CHECK(files::vfsmount_size_for("5.11.22") == 24);
  CHECK(files::vfsmount_size_for("5.12.0") == 32);
  CHECK(files::vfsmount_size_for("6.1.0-50-cloud-amd64") == 32);
  CHECK(files::vfsmount_size_for("6.18.44-fc") == 32);
}

// Real captures (tests/fixtures/files/*.json.gz, OFFSETPROBE_FILES_DUMP):
// the solver and the read-back replayed offline give every field, and the
// same offsets the capture's kernel had in BTF (kept beside it).
TEST_CASE("files: replay of real captures") {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(OFFSETPROBE_SOURCE_DIR) / "tests/fixtures/files";
  size_t n = 0;
  for (const auto &e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (!name.ends_with(".json.gz"))
      continue;
    INFO(name);
    n++;
    auto cap = files::read_capture(e.path().string());
    files::ReplayMemory mem(cap.memory);
    auto sol = files::solve_files(mem, cap.trials, cap.config);
    REQUIRE(cap.validation);
    size_t nt = cap.trials.size();
    files::readback_files(mem, *cap.validation, files::subject_id(nt, false),
                          files::subject_id(nt, true), sol.found, sol.fields);
    CHECK(mem.misses() == 0);
    std::ifstream truth_in(dir / (name.substr(0, name.size() - 8) + ".btf.json"));
    REQUIRE(truth_in);
    auto truth = nlohmann::json::parse(truth_in);
    for (const auto &f : sol.fields) {
      INFO(f.name << " " << f.reason << " " << f.validation_detail);
      CHECK(f.status == FieldStatus::calibrated);
      CHECK(f.validation == Validation::passed);
      REQUIRE(truth.contains(f.name));
      CHECK(f.offset == truth.at(f.name).get<uint32_t>());
    }
  }
  CHECK(n >= 1);
}

} // namespace offsetprobe::test
