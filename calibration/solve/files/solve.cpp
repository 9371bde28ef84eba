// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/files/solve.h"

#include "calibration/model/catalogue.h"
#include "calibration/solve/files/solver_state.h"

#include <algorithm>

namespace offsetprobe::files {

namespace {

// FMODE_READ, FMODE_WRITE; LSEEK|PREAD|PWRITE (set for a regular file since
// 2.6); FMODE_PATH (2.6.39). The values have not changed since; the test
// shows the predicate only with mixed access modes and an O_PATH fd.
constexpr uint32_t kFmodeRW = 3, kFmodeSeek = 0x1c, kFmodePath = 0x4000;
constexpr uint64_t kTmpfsMagic = 0x01021994;

uint32_t fmode_of(int acc) {
  return acc == 0 ? 1 : acc == 1 ? 2 : 3; // O_RDONLY, O_WRONLY, O_RDWR
}

// fstat's values are the inode's own on tmpfs (generic_fillattr); a stacked
// file system (overlayfs: the root or the executable's) reports another
// inode's number and device. Only tmpfs fds vouch for inode values.
bool has_stat(const FdKnown &f) {
  return f.kind != FdKnown::Kind::eventfd && f.magic == kTmpfsMagic;
}

} // namespace

// Stage 1: task_struct's bytes, and the pointers every subject holds there
// to something of its own.
void Solver::stage_task() {
  for (int s = 0; s < nsubj(); s++) {
    std::vector<WalkRequest> reqs;
    for (uint32_t at = 0; at < cfg_.task_bytes; at += kMaxCopy)
      reqs.push_back({{},
                      static_cast<int32_t>(at),
                      (std::min(kMaxCopy, cfg_.task_bytes - at) + kChunk - 1) / kChunk * kChunk});
    task_[s] = merge(mem_.walk(s, reqs));
  }
  for (uint32_t t = 0; t + 8 <= cfg_.task_bytes; t += 8) {
    bool ok = true;
    std::set<uint64_t> seen_f, seen_r;
    for (int s = 0; s < nsubj() && ok; s++) {
      auto v = task_[s].u64(t);
      uint64_t task = task_[s].task;
      ok = v && is_kptr(*v) && !(*v >= task && *v < task + cfg_.task_bytes);
      if (ok)
        ok = (s % 2 ? seen_r : seen_f).insert(*v).second;
    }
    // F and R (a fork) each have their own files and fs: equal values are
    // shared things (a namespace, the user), never one of ours.
    for (int s = 0; s + 1 < nsubj() && ok; s += 2)
      ok = *task_[s].u64(t) != *task_[s + 1].u64(t);
    if (ok)
      task_ptrs_.push_back(t);
  }
  for (int s = 0; s < nsubj(); s++) {
    std::vector<WalkRequest> reqs;
    for (uint32_t t : task_ptrs_)
      reqs.push_back({{t}, 0, kMaxCopy});
    auto got = mem_.walk(s, reqs);
    for (size_t i = 0; i < task_ptrs_.size(); i++)
      ptee_[s][task_ptrs_[i]] = std::move(got[i]);
  }
}

// R's files_struct holds its own fdtable (fdtab): fdt points inside the
// struct, max_fds is FDSize and fd points to fd_array, non-NULL exactly at
// R's open fds. Gives (files, fdt, max_fds, fd) tuples.
std::set<FdtTuple> Solver::fdt_tuples(int s) const {
  std::set<FdtTuple> out;
  const SubjectKnown &k = *subj_[s];
  std::set<int> open(k.open_fds.begin(), k.open_fds.end());
  for (uint32_t t : task_ptrs_) {
    const WalkResponse &P = ptee_[s].at(t);
    uint64_t p = P.base();
    for (uint32_t b = 0; b + 8 <= kMaxCopy; b += 8) {
      auto q = P.u64(b);
      if (!q || *q <= p || *q >= p + kMaxCopy || (*q - p) % 8)
        continue;
      uint32_t d = static_cast<uint32_t>(*q - p);
      for (uint32_t x = 0; x < 64; x += 4) {
        if (P.u32(d + x) != k.max_fds)
          continue;
        for (uint32_t y = 0; y < 64; y += 8) {
          auto fp = P.u64(d + y);
          if (!fp || *fp <= p || (*fp - p) % 8)
            continue;
          uint64_t e = *fp - p;
          if (e + 8ull * k.max_fds > kMaxCopy)
            continue;
          bool match = true;
          for (uint32_t i = 0; i < k.max_fds && match; i++) {
            auto w = P.u64(static_cast<int64_t>(e + 8 * i));
            match = w && (*w != 0) == (open.count(static_cast<int>(i)) > 0) && (!*w || is_kptr(*w));
          }
          if (match)
            out.insert({t, b, x, y});
        }
      }
    }
  }
  return out;
}

// Stage 2 and 3: the fd table, then every known fd's struct file.
void Solver::stage_fdtable() {
  std::set<FdtTuple> tuples;
  bool first = true;
  for (int s = 1; s < nsubj(); s += 2) {
    auto mine = fdt_tuples(s);
    tuples = first ? mine : intersect(tuples, mine);
    first = false;
  }
  // F's fdtable was expanded by a random high fd: max_fds is its FDSize.
  std::set<FdtTuple> kept;
  for (const auto &tu : tuples) {
    bool ok = true;
    for (int s = 0; s < nsubj() && ok; s++) {
      auto r = mem_.walk(s, {{{tu.files, tu.fdt}, 0, kChunk}});
      ok =
          r[0].u32(tu.max_fds) == subj_[s]->max_fds && r[0].u64(tu.fd) && is_kptr(*r[0].u64(tu.fd));
    }
    if (ok)
      kept.insert(tu);
  }
  auto project = [&](auto member) {
    Cands c;
    for (const auto &tu : kept)
      c.insert(tu.*member);
    return c;
  };
  const char *none = "no task_struct pointer leads to R's embedded fdtable and F's expanded one";
  settle("task_struct.files", project(&FdtTuple::files), none);
  settle("files_struct.fdt", project(&FdtTuple::fdt), none);
  settle("fdtable.max_fds", project(&FdtTuple::max_fds), none);
  settle("fdtable.fd", project(&FdtTuple::fd), none);
  if (!have({"task_struct.files", "files_struct.fdt", "fdtable.fd"}))
    return;
  for (int s = 0; s < nsubj(); s++) {
    std::vector<WalkRequest> reqs;
    for (const auto &f : subj_[s]->fds)
      reqs.push_back({file_path(f.fd), 0, 1024});
    auto got = mem_.walk(s, reqs);
    for (size_t i = 0; i < got.size(); i++)
      file_[s][subj_[s]->fds[i].fd] = std::move(got[i]);
  }
}

std::vector<uint32_t> Solver::file_path(int fd) const {
  return {at("task_struct.files"), at("files_struct.fdt"), at("fdtable.fd"),
          static_cast<uint32_t>(8 * fd)};
}

// struct file's values: f_pos, f_flags and f_mode, and the words that hold a
// kernel pointer in every file (followed in the next round).
void Solver::stage_file_values() {
  Cands pos, flags, mode, ptrs;
  for (uint32_t o = 0; o + 8 <= 1024; o += 4) {
    bool p = true, fl = true, md = true, pt = o % 8 == 0;
    for (int s = 0; s < nsubj(); s++)
      for (const auto &f : subj_[s]->fds) {
        const WalkResponse &r = file_[s].at(f.fd);
        auto v32 = r.u32(o);
        auto v64 = r.u64(o);
        bool regular = f.kind == FdKnown::Kind::regular && !f.opath;
        p = p && (!regular || (o % 8 == 0 && v64 == f.pos));
        fl = fl && v32 == f.flags;
        if (f.opath)
          md = md && v32 && (*v32 & kFmodePath) && !(*v32 & kFmodeRW);
        else if (regular)
          md = md && v32 && (*v32 & kFmodeRW) == fmode_of(f.acc) &&
               (*v32 & kFmodeSeek) == kFmodeSeek;
        if (f.kind != FdKnown::Kind::eventfd)
          pt = pt && v64 && is_kptr(*v64);
      }
    if (p && o % 8 == 0)
      pos.insert(o);
    if (fl)
      flags.insert(o);
    if (md)
      mode.insert(o);
    if (pt)
      ptrs.insert(o);
  }
  settle("file.f_pos", pos, "no word of struct file holds every fd's fdinfo pos");
  settle("file.f_flags", flags, "no word of struct file holds every fd's fdinfo flags");
  settle("file.f_mode", mode, "no word of struct file holds every fd's FMODE bits");
  file_ptrs_.assign(ptrs.begin(), ptrs.end());
  // Follow them, with 512 bytes before each pointee (struct mount holds the
  // vfsmount that path.mnt points to). An eventfd's every pointer is
  // followed too: one of them is private_data.
  for (int s = 0; s < nsubj(); s++) {
    std::vector<WalkRequest> reqs;
    std::vector<std::pair<int, uint32_t>> keys;
    for (const auto &f : subj_[s]->fds) {
      std::vector<uint32_t> words = file_ptrs_;
      if (f.kind == FdKnown::Kind::eventfd) {
        words.clear();
        for (uint32_t o = 0; o + 8 <= 1024; o += 8)
          if (auto v = file_[s][f.fd].u64(o); v && is_kptr(*v))
            words.push_back(o);
      }
      for (uint32_t o : words) {
        auto path = file_path(f.fd);
        path.push_back(o);
        reqs.push_back({path, -kBefore, kMaxCopy});
        keys.push_back({f.fd, o});
      }
    }
    auto got = mem_.walk(s, reqs);
    for (size_t i = 0; i < got.size(); i++)
      fptr_[s][keys[i]] = std::move(got[i]);
  }
}

// The inode: the file pointer whose pointee holds every fd's fstat values.
void Solver::stage_inode() {
  struct InodeCands {
    Cands ino, size, mode, uid, gid;
  };
  Cands f_inode;
  std::map<uint32_t, InodeCands> by_ptr;
  for (uint32_t o : file_ptrs_) {
    InodeCands c;
    bool first = true;
    for (int s = 0; s < nsubj(); s++)
      for (const auto &f : subj_[s]->fds) {
        if (!has_stat(f))
          continue;
        const WalkResponse &r = fptr_[s].at({f.fd, o});
        InodeCands mine;
        for (uint32_t a = 0; a + 8 <= kMaxCopy - kBefore; a += 2) {
          int64_t at = kBefore + a;
          if (a % 8 == 0 && r.u64(at) == f.ino)
            mine.ino.insert(a);
          if (a % 8 == 0 && r.u64(at) == f.size)
            mine.size.insert(a);
          if (r.u16(at) == f.mode)
            mine.mode.insert(a);
          if (a % 4 == 0 && r.u32(at) == f.uid)
            mine.uid.insert(a);
          if (a % 4 == 0 && r.u32(at) == f.gid)
            mine.gid.insert(a);
        }
        if (first) {
          c = mine;
          first = false;
        } else {
          c.ino = intersect(c.ino, mine.ino);
          c.size = intersect(c.size, mine.size);
          c.mode = intersect(c.mode, mine.mode);
          c.uid = intersect(c.uid, mine.uid);
          c.gid = intersect(c.gid, mine.gid);
        }
      }
    if (!first && !c.ino.empty() && !c.size.empty() && !c.mode.empty() && !c.uid.empty() &&
        !c.gid.empty()) {
      f_inode.insert(o);
      by_ptr[o] = c;
    }
  }
  settle("file.f_inode", f_inode, "no pointer of struct file leads to every fd's fstat values");
  if (!have({"file.f_inode"}))
    return;
  const InodeCands &c = by_ptr.at(at("file.f_inode"));
  settle("inode.i_ino", c.ino, "");
  settle("inode.i_size", c.size, "");
  settle("inode.i_mode", c.mode, "");
  settle("inode.i_uid", c.uid, "");
  settle("inode.i_gid", c.gid, "");
}

// The super_block: the inode pointer equal among files of one device and
// different between devices, whose pointee holds st_dev and f_type.
void Solver::stage_super() {
  if (!have({"file.f_inode"}))
    return;
  uint32_t w = at("file.f_inode");
  Cands cands;
  for (uint32_t a = 0; a + 8 <= kMaxCopy - kBefore; a += 8) {
    bool ok = true;
    for (int s = 0; s < nsubj() && ok; s++) {
      std::map<uint32_t, uint64_t> by_dev;
      std::set<uint64_t> values;
      for (const auto &f : subj_[s]->fds) {
        if (!has_stat(f))
          continue;
        auto v = fptr_[s].at({f.fd, w}).u64(kBefore + a);
        ok = ok && v && is_kptr(*v);
        if (!ok)
          break;
        auto [it, fresh] = by_dev.emplace(f.kdev, *v);
        ok = it->second == *v && (!fresh || values.insert(*v).second);
      }
      ok = ok && by_dev.size() >= 2; // the test needs two devices to mean anything
    }
    if (ok)
      cands.insert(a);
  }
  std::map<uint32_t, std::pair<Cands, Cands>> found; // i_sb -> (s_dev, s_magic)
  for (int64_t a : cands) {
    Cands dev, magic;
    bool first = true;
    for (int s = 0; s < nsubj(); s++) {
      std::vector<WalkRequest> reqs;
      std::vector<const FdKnown *> fds;
      for (const auto &f : subj_[s]->fds)
        if (has_stat(f)) {
          auto path = file_path(f.fd);
          path.push_back(w);
          path.push_back(static_cast<uint32_t>(a));
          reqs.push_back({path, 0, kMaxCopy});
          fds.push_back(&f);
        }
      auto got = mem_.walk(s, reqs);
      for (size_t i = 0; i < got.size(); i++) {
        Cands d, m;
        for (uint32_t o = 0; o + 8 <= kMaxCopy; o += 4) {
          if (got[i].u32(o) == fds[i]->kdev)
            d.insert(o);
          if (o % 8 == 0 && got[i].u64(o) == fds[i]->magic)
            m.insert(o);
        }
        dev = first ? d : intersect(dev, d);
        magic = first ? m : intersect(magic, m);
        first = false;
      }
    }
    if (!dev.empty() && !magic.empty())
      found[static_cast<uint32_t>(a)] = {dev, magic};
  }
  Cands isb;
  for (const auto &[a, dm] : found)
    isb.insert(a);
  settle("inode.i_sb", isb, "no inode pointer leads to st_dev and f_type");
  if (!have({"inode.i_sb"}))
    return;
  settle("super_block.s_dev", found.at(at("inode.i_sb")).first, "");
  settle("super_block.s_magic", found.at(at("inode.i_sb")).second, "");
}

// mm->exe_file: through a task pointer whose pointee holds /proc/<pid>/stat's
// layout values (mm or active_mm: both point to it in a live task, so
// either will do), the word that points to a file whose f_inode and dentry
// are those of an fd the subject opened on its own executable.
void Solver::stage_exe() {
  if (!have({"file.f_inode", "file.dentry_ptr"}))
    return;
  for (uint32_t t : task_ptrs_) {
    bool all = true;
    for (int s = 0; s < nsubj() && all; s++) {
      const WalkResponse &r = ptee_[s].at(t);
      for (uint64_t want : subj_[s]->mm_layout) {
        bool found = false;
        for (int64_t o = 0; o + 8 <= kMaxCopy && !found; o += 8)
          found = r.u64(o) == want;
        all = all && found;
      }
      all = all && !subj_[s]->mm_layout.empty() && subj_[s]->exe_fd >= 0;
    }
    if (all) {
      mm_ = t;
      break;
    }
  }
  if (!mm_) {
    settle("mm_struct.exe_file", {}, "no task pointer leads to the /proc/<pid>/stat layout values");
    return;
  }
  const uint32_t kMmBytes = std::min(2 * kMaxCopy, cfg_.mm_bytes.value_or(2 * kMaxCopy) / 8 * 8);
  std::vector<WalkResponse> mm(subj_.size());
  for (int s = 0; s < nsubj(); s++)
    mm[s] = merge(mem_.walk(s, {{{*mm_}, 0, kMaxCopy}, {{*mm_}, int32_t(kMaxCopy), kMaxCopy}}));
  Cands c;
  bool first = true;
  for (int s = 0; s < nsubj(); s++) {
    std::vector<WalkRequest> reqs;
    std::vector<uint32_t> words;
    for (uint32_t o = 0; o + 8 <= kMmBytes; o += 8)
      if (auto v = mm[s].u64(o); v && is_kptr(*v)) {
        reqs.push_back({{*mm_, o}, 0, 1024});
        words.push_back(o);
      }
    auto got = mem_.walk(s, reqs);
    int exe = subj_[s]->exe_fd;
    auto ino = file_word(s, exe, at("file.f_inode")),
         den = file_word(s, exe, at("file.dentry_ptr"));
    Cands mine;
    for (size_t i = 0; i < got.size(); i++)
      if (ino && den && got[i].u64(at("file.f_inode")) == *ino &&
          got[i].u64(at("file.dentry_ptr")) == *den)
        mine.insert(words[i]);
    c = first ? mine : intersect(c, mine);
    first = false;
  }
  settle("mm_struct.exe_file", c, "no mm_struct word points to a file of the executable's inode");
}

FilesSolution Solver::run() {
  stage_task();
  stage_fdtable();
  if (have({"task_struct.files", "files_struct.fdt", "fdtable.fd"})) {
    stage_file_values();
    stage_inode();
    stage_super();
    stage_dentry();
    stage_dentry_links();
    stage_vfsmount();
    stage_mount();
    stage_fs();
    stage_private_data();
    stage_exe();
  }
  FilesSolution out;
  for (const auto &fam : catalogue())
    if (fam.experiment == "files")
      for (const auto &d : fam.fields) {
        FieldResult f = res_.at(d.name());
        if (f.name == "mount.mnt")
          f.size = cfg_.vfsmount_size;
        if (f.status == FieldStatus::calibrated)
          out.found.off[f.name] = *f.offset;
        out.fields.push_back(f);
      }
  // The internal pointers the read-back walks.
  for (const char *n : {"file.dentry_ptr", "file.mnt_ptr"})
    if (off_.count(n))
      out.found.off[n] = static_cast<uint32_t>(off_.at(n));
  out.found.mm = mm_;
  return out;
}

FilesSolution solve_files(Memory &mem, const std::vector<TrialKnown> &trials,
                          const SolveConfig &cfg) {
  Solver s(mem, trials, cfg);
  return s.run();
}

} // namespace offsetprobe::files
