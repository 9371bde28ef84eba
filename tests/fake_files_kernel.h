// SPDX-License-Identifier: GPL-2.0-only
// A synthetic kernel for the file family's solver: an arena of "kernel
// memory" holding tasks, files_structs, fdtables, files, inodes, dentries,
// super_blocks, struct mounts (with their mnt_child/mnt_mounts lists),
// fs_structs and mm_structs at the offsets of a chosen Layout, built as the
// real subjects build them (files/subject.cpp), with their known values.
#pragma once

#include "calibration/solve/files/known.h"
#include "calibration/solve/files/walk.h"

#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace offsetprobe::test {

// Offsets of every member the solver looks for (and of the decoys).
struct FakeLayout {
  uint32_t task_files = 2480, task_fs = 2472, task_mm = 1200, task_active_mm = 1208;
  uint32_t fs_fdt = 32, fs_fdtab = 40, fs_fd_array = 192; // files_struct
  uint32_t fdt_max_fds = 0, fdt_fd = 8;                   // fdtable
  uint32_t f_mode = 4, f_op = 8, f_mapping = 16, private_data = 24, f_inode = 32, f_flags = 40,
           f_cred = 48, f_path = 64, f_pos = 112;                                           // file
  uint32_t i_mode = 0, i_uid = 4, i_gid = 8, i_op = 24, i_sb = 40, i_ino = 64, i_size = 80; // inode
  uint32_t s_dev = 16, s_magic = 96;                                           // super_block
  uint32_t d_parent = 24, d_name = 32, d_inode = 48, d_iname = 56, d_sb = 104; // dentry
  uint32_t m_parent = 16, m_mountpoint = 24, m_mnt = 32, m_mounts = 96, m_child = 112, m_id = 284;
  uint32_t v_root = 0, v_sb = 8;      // vfsmount
  uint32_t fs_root = 24, fs_pwd = 40; // fs_struct
  uint32_t mm_layout = 400, mm_exe = 880;
};

class FakeKernel : public files::Memory {
public:
  static constexpr uint64_t kBase = 0xffff888100000000ull;
  std::vector<uint8_t> arena = std::vector<uint8_t>(64u << 20);
  size_t used = 4096;
  std::map<int, uint64_t> tasks; // subject -> task address

  // Objects lie at random distances from each other, as slab objects of
  // different caches do: what follows an object differs from run to run.
  std::mt19937_64 gaps{12345};
  // Every object at the end of a RAM range: it ends at a 4 KiB page whose
  // next page is not mapped (a read that touches it faults whole), as C's
  // cred once did in a guest (tests/fixtures/failures/). Objects start on a
  // 64 B boundary, as the slab's tiled slots of such sizes do.
  bool end_of_ram = false;
  // The walker's read again up to the page's end (bpf/read_chunk.bpf.h);
  // false: as it read before, a chunk that faults is lost whole.
  bool read_to_page_end = true;
  std::vector<bool> unmapped = std::vector<bool>(arena.size() / 4096);
  uint64_t alloc(size_t n) {
    if (end_of_ram && n <= 4096) {
      size_t end = (used + (n + 63) / 64 * 64 + 4095) / 4096 * 4096;
      if (end + 4096 > arena.size())
        throw std::runtime_error("fake kernel: arena full");
      unmapped[end / 4096] = true;
      used = end + 4096;
      return kBase + end - (n + 63) / 64 * 64;
    }
    used = (used + 63) / 64 * 64 + 64 * (gaps() % 32);
    uint64_t a = kBase + used;
    used += n + 64;
    if (used > arena.size())
      throw std::runtime_error("fake kernel: arena full");
    return a;
  }
  template <class T> void put(uint64_t a, T v) { std::memcpy(&arena[a - kBase], &v, sizeof v); }
  template <class T> T get(uint64_t a) const {
    T v;
    std::memcpy(&v, &arena[a - kBase], sizeof v);
    return v;
  }
  bool read(uint64_t a, void *out, size_t n) const {
    bool ok = a >= kBase && a + n <= kBase + arena.size();
    for (uint64_t p = (a - kBase) / 4096; ok && n && p <= (a - kBase + n - 1) / 4096; p++)
      ok = !unmapped[p];
    if (!ok) {
      std::memset(out, 0, n);
      return false;
    }
    std::memcpy(out, &arena[a - kBase], n);
    return true;
  }
  // A chunk as the walker reads it: the bytes read from its start.
  uint32_t read_chunk(uint64_t a, uint8_t *out) const {
    if (read(a, out, files::kChunk))
      return files::kChunk;
    if (!read_to_page_end)
      return 0;
    uint32_t len = 4096 - (a & 4095);
    return len < files::kChunk && read(a, out, len) ? len : 0;
  }

  std::vector<files::WalkResponse> walk(int subject,
                                        const std::vector<files::WalkRequest> &reqs) override {
    std::vector<files::WalkResponse> out;
    for (const auto &q : reqs) {
      files::WalkResponse r;
      r.done = true;
      uint64_t base = tasks.at(subject);
      r.task = base;
      for (uint32_t s : q.steps) {
        uint64_t p = 0;
        read(base + s, &p, 8);
        r.ptrs.push_back(p);
        base = files::is_kptr(p) ? p : 0;
      }
      r.bytes.resize(q.len);
      for (uint32_t c = 0; c * files::kChunk < q.len; c++)
        r.chunk_read.push_back(
            read_chunk(base + q.copy_off + c * files::kChunk, r.bytes.data() + c * files::kChunk));
      out.push_back(std::move(r));
    }
    walks++;
    return out;
  }
  size_t walks = 0;
};

// Builds trials into a FakeKernel as the real subjects would make them.
class FakeWorld {
public:
  FakeWorld(FakeKernel &k, const FakeLayout &l, uint64_t seed) : k_(k), L(l), rng_(seed) {}

  // Decoy knobs.
  bool size_equals_own_ino = false; // every file's size is its own inode number
  // Non-zero: each mm_struct is a slab object this many bytes long, and the
  // next object is a forked sibling's mm with the same exe_file.
  uint32_t sibling_mm_stride = 0;

  files::TrialKnown trial(int f_id, int r_id);

private:
  uint64_t r64() { return rng_(); }
  uint64_t rr(uint64_t lo, uint64_t hi) { return lo + rng_() % (hi - lo); }
  std::string name() {
    std::string s(rr(6, 21), 'x');
    for (auto &c : s)
      c = "abcdefghijklmnopqrstuvwxyz0123456789"[rr(0, 36)];
    return s;
  }
  uint64_t noise() { return k_.alloc(64); }
  uint64_t sb(uint32_t kdev, uint64_t magic);
  uint64_t inode(uint64_t sb, files::FdKnown &f);
  uint64_t dentry(const std::string &name, uint64_t parent, uint64_t inode, uint64_t sb);
  uint64_t mount(uint64_t parent, uint64_t mountpoint, uint64_t root, uint64_t sb, int id);
  uint64_t file(const files::FdKnown &f, uint64_t inode, uint64_t dentry, uint64_t vfsmnt,
                uint64_t private_data);
  uint64_t task(const std::map<int, uint64_t> &fds, bool embedded, uint32_t max_fds, uint64_t fs,
                uint64_t mm, uint64_t shared);
  files::FdKnown make_fd(int fd, files::FdKnown::Kind kind, const std::string &nm, int parent_fd,
                         int mount, uint32_t kdev, uint64_t magic);
  uint64_t real_inode(uint64_t sb, uint32_t kdev, uint64_t magic);
  uint64_t fs_struct(uint64_t root_mnt, uint64_t root_dentry, uint64_t pwd_mnt,
                     uint64_t pwd_dentry);
  uint64_t make_mm(std::vector<uint64_t> &layout, uint64_t exe_file);
  uint64_t add_fd(files::SubjectKnown &S, std::map<int, uint64_t> &files, files::FdKnown f,
                  uint64_t sbp, uint64_t parent_dentry, uint64_t vfsmnt, uint64_t existing_dentry);
  void add_eventfd(files::SubjectKnown &S, std::map<int, uint64_t> &files, int fd);
  void place_task(files::SubjectKnown &S, int id, const std::map<int, uint64_t> &files,
                  bool embedded, uint32_t max_fds, uint64_t fs, uint64_t exe_file);
  void draw_shared_pointers();

  FakeKernel &k_;
  FakeLayout L;
  std::mt19937_64 rng_;
  uint64_t f_op_ = 0, f_cred_ = 0, i_op_ = 0, shared_ = 0;
  uint64_t ino_next_ = 0; // the last inode number given (make_fd)
};

} // namespace offsetprobe::test
