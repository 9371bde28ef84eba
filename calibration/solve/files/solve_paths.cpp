// SPDX-License-Identifier: GPL-2.0-only
// The file family solver's later stages: what a file's path is made of
// (dentry, vfsmount, struct mount), the task's fs_struct, private_data and
// mm->exe_file; and the solver's bookkeeping.
#include "calibration/model/catalogue.h"
#include "calibration/solve/files/solver_state.h"

#include <algorithm>
#include <cstring>

namespace offsetprobe::files {

Solver::Solver(Memory &mem, const std::vector<TrialKnown> &trials, const SolveConfig &cfg)
    : mem_(mem), cfg_(cfg), trials_(static_cast<uint32_t>(trials.size())) {
  for (const auto &t : trials) {
    subj_.push_back(&t.files);
    subj_.push_back(&t.chroot);
  }
  task_.resize(subj_.size());
  ptee_.resize(subj_.size());
  file_.resize(subj_.size());
  fptr_.resize(subj_.size());
  for (const auto &fam : catalogue())
    if (fam.experiment == "files")
      for (const auto &d : fam.fields) {
        FieldResult f = unsolved(d);
        f.required = false;
        f.reason = "not reached: a field it is found through was not calibrated";
        res_[f.name] = f;
      }
}

void Solver::settle(const std::string &name, const Cands &c, const std::string &none) {
  auto it = res_.find(name);
  if (c.size() == 1)
    off_[name] = *c.begin();
  if (it == res_.end())
    return;
  FieldResult &f = it->second;
  f.trials = trials_;
  f.candidates.clear();
  if (c.size() == 1) {
    f.status = FieldStatus::calibrated;
    f.offset = static_cast<uint32_t>(*c.begin());
    f.reason.clear();
  } else if (c.empty()) {
    f.status = FieldStatus::unresolved;
    f.reason = none.empty() ? "no candidate survived every subject of every trial" : none;
  } else {
    f.status = FieldStatus::ambiguous;
    for (auto v : c)
      f.candidates.push_back(static_cast<uint32_t>(v));
    f.reason = std::to_string(c.size()) + " candidates survived every subject of every trial";
  }
}

bool Solver::have(std::initializer_list<const char *> names) const {
  return std::all_of(names.begin(), names.end(), [&](const char *n) { return off_.count(n); });
}

WalkResponse Solver::merge(const std::vector<WalkResponse> &parts) {
  WalkResponse out;
  for (const auto &p : parts) {
    // Whole chunks each (a request's length is a multiple of kChunk).
    out.chunk_read.resize(out.bytes.size() / kChunk);
    out.chunk_read.insert(out.chunk_read.end(), p.chunk_read.begin(), p.chunk_read.end());
    out.bytes.insert(out.bytes.end(), p.bytes.begin(), p.bytes.end());
    out.task = p.task;
    out.done = p.done;
  }
  return out;
}

std::optional<uint64_t> Solver::file_word(int s, int fd, uint32_t o) const {
  auto it = file_[s].find(fd);
  return it == file_[s].end() ? std::nullopt : it->second.u64(o);
}

std::optional<uint64_t> Solver::ptee_word(int s, int fd, uint32_t ptr, int64_t o) const {
  auto it = fptr_[s].find({fd, ptr});
  return it == fptr_[s].end() ? std::nullopt : it->second.u64(kBefore + o);
}

namespace {

bool named(const FdKnown &f) {
  return f.kind != FdKnown::Kind::eventfd && !f.name.empty();
}

// The dentry's name is inline (d_iname) for a short name: qstr.name points
// into the dentry itself, and qstr.len is the 4 bytes before it
// (little-endian hash_len: hash, then len). Candidates are (slot, where the
// name lies) pairs: in every dentry the inline name is at one offset, while a
// name found in a neighbouring object lies elsewhere each time.
Cands name_slots(const WalkResponse &r, const std::string &name) {
  Cands out;
  uint64_t base = r.base();
  for (int64_t n = 8; n + 8 <= kMaxCopy - kBefore; n += 8) {
    auto v = r.u64(kBefore + n);
    if (!v || *v < base || *v >= base + kMaxCopy - kBefore)
      continue;
    int64_t m = kBefore + static_cast<int64_t>(*v - base);
    if (!r.ok(m, static_cast<uint32_t>(name.size() + 1)) ||
        std::memcmp(r.bytes.data() + m, name.c_str(), name.size() + 1) != 0)
      continue;
    if (r.u32(kBefore + n - 4) == name.size())
      out.insert((n << 20) | (m - kBefore));
  }
  return out;
}

} // namespace

// The dentry: the file pointer whose pointee names every fd's file.
void Solver::stage_dentry() {
  if (!have({"file.f_inode"}))
    return;
  Cands ptrs;
  std::map<uint32_t, Cands> slots;
  for (uint32_t o : file_ptrs_) {
    if (o == at("file.f_inode"))
      continue;
    Cands c;
    bool first = true;
    for (int s = 0; s < nsubj(); s++)
      for (const auto &f : subj_[s]->fds)
        if (named(f)) {
          Cands mine = name_slots(fptr_[s].at({f.fd, o}), f.name);
          c = first ? mine : intersect(c, mine);
          first = false;
        }
    if (!first && !c.empty()) {
      ptrs.insert(o);
      slots[o] = c;
    }
  }
  settle("file.dentry_ptr", ptrs, "");
  if (!have({"file.dentry_ptr"})) {
    settle("path.dentry", ptrs, "no pointer of struct file leads to the files' names");
    return;
  }
  Cands n;
  for (auto v : slots.at(at("file.dentry_ptr")))
    n.insert(v >> 20);
  settle("qstr.name", n.size() == 1 ? Cands{8} : n, "");
  if (n.size() != 1)
    return;
  int64_t d_name = *n.begin() - 8;
  settle("dentry.d_name", {d_name}, "");
  settle("qstr.len", {4}, "");
  settle("qstr.hash_len", {0}, "");
}

// dentry's links: d_inode is the file's f_inode, d_parent the dentry of an
// fd on the parent directory (a root's is itself), d_sb the inode's i_sb.
void Solver::stage_dentry_links() {
  if (!have({"file.dentry_ptr", "file.f_inode"}))
    return;
  uint32_t wd = at("file.dentry_ptr"), wi = at("file.f_inode");
  Cands inode, parent, sb;
  bool first_i = true, first_p = true, first_s = true;
  for (int s = 0; s < nsubj(); s++)
    for (const auto &f : subj_[s]->fds) {
      if (!named(f))
        continue;
      const WalkResponse &r = fptr_[s].at({f.fd, wd});
      // Pointer equality holds on any file system; the tmpfs files are the
      // ones whose inode the experiment made (stage_inode).
      bool tmpfs = f.magic == 0x01021994;
      auto ino = tmpfs ? file_word(s, f.fd, wi) : std::nullopt;
      std::optional<uint64_t> par;
      if (f.parent_fd >= 0)
        par = file_word(s, f.parent_fd, wd);
      else if (f.name == "/")
        par = r.base();
      std::optional<uint64_t> isb;
      if (have({"inode.i_sb"}) && tmpfs)
        isb = ptee_word(s, f.fd, wi, at("inode.i_sb"));
      Cands mi, mp, ms;
      for (int64_t a = 0; a + 8 <= kMaxCopy - kBefore; a += 8) {
        auto v = r.u64(kBefore + a);
        if (!v)
          continue;
        if (ino && *v == *ino)
          mi.insert(a);
        if (par && *v == *par)
          mp.insert(a);
        if (isb && *v == *isb)
          ms.insert(a);
      }
      if (ino) {
        inode = first_i ? mi : intersect(inode, mi);
        first_i = false;
      }
      if (par) {
        parent = first_p ? mp : intersect(parent, mp);
        first_p = false;
      }
      if (isb) {
        sb = first_s ? ms : intersect(sb, ms);
        first_s = false;
      }
    }
  settle("dentry.d_inode", inode, "no dentry word equals the file's f_inode");
  if (!first_p)
    settle("dentry.d_parent", parent, "no dentry word equals the parent directory's dentry");
  if (!first_s)
    settle("dentry.d_sb", sb, "no dentry word equals the inode's i_sb");
}

// The vfsmount: the file pointer whose pointee holds the mount's root dentry
// (an fd on the mount's root) and the inode's i_sb. f_path is the pair
// {mnt, dentry}.
void Solver::stage_vfsmount() {
  if (!have({"file.dentry_ptr", "file.f_inode", "inode.i_sb"}))
    return;
  uint32_t wd = at("file.dentry_ptr"), wi = at("file.f_inode");
  Cands ptrs;
  std::map<uint32_t, std::pair<Cands, Cands>> found;
  for (uint32_t o : file_ptrs_) {
    if (o == wd || o == wi)
      continue;
    Cands root, sb;
    bool first = true;
    for (int s = 0; s < nsubj(); s++)
      for (const auto &f : subj_[s]->fds) {
        if (f.mount < 0)
          continue;
        auto root_d = file_word(s, subj_[s]->mounts[f.mount].root_fd, wd);
        auto isb = ptee_word(s, f.fd, wi, at("inode.i_sb"));
        const WalkResponse &r = fptr_[s].at({f.fd, o});
        Cands mr, ms;
        for (int64_t a = 0; a + 8 <= kMaxCopy - kBefore; a += 8) {
          auto v = r.u64(kBefore + a);
          if (v && root_d && *v == *root_d)
            mr.insert(a);
          if (v && isb && *v == *isb)
            ms.insert(a);
        }
        root = first ? mr : intersect(root, mr);
        sb = first ? ms : intersect(sb, ms);
        first = false;
      }
    if (!first && !root.empty() && !sb.empty()) {
      ptrs.insert(o);
      found[o] = {root, sb};
    }
  }
  settle("file.mnt_ptr", ptrs, "");
  const char *none = "no pointer of struct file leads to the mount's root dentry and i_sb";
  if (!have({"file.mnt_ptr"})) {
    settle("path.mnt", ptrs, none);
    return;
  }
  settle("vfsmount.mnt_root", found.at(at("file.mnt_ptr")).first, "");
  settle("vfsmount.mnt_sb", found.at(at("file.mnt_ptr")).second, "");
  // struct path is {mnt, dentry} (not randomized: no function pointers);
  // two pointers found apart from each other must be its two members.
  int64_t m = at("file.mnt_ptr"), d = at("file.dentry_ptr");
  if (std::abs(m - d) != 8) {
    const char *why = "the mnt and dentry pointers of struct file are not adjacent";
    settle("file.f_path", {}, why);
    settle("path.mnt", {}, why);
    settle("path.dentry", {}, why);
    return;
  }
  settle("file.f_path", {std::min(m, d)}, "");
  settle("path.mnt", {m - std::min(m, d)}, "");
  settle("path.dentry", {d - std::min(m, d)}, "");
}

// struct mount around the vfsmount (mount.mnt = K bytes in): mnt_parent is
// the parent's struct mount, i.e. its vfsmount (an fd on the mount point
// shows it) minus K: that equation pins K. mnt_mountpoint is that fd's
// dentry, mnt_id fdinfo's mnt_id.
void Solver::stage_mount() {
  if (!have({"file.mnt_ptr", "file.dentry_ptr"}))
    return;
  uint32_t wm = at("file.mnt_ptr"), wd = at("file.dentry_ptr");
  auto key = [](int64_t k, int64_t p) { return (k << 20) | p; };
  Cands parent, mountpoint, id;
  bool first = true;
  for (int s = 0; s < nsubj(); s++)
    for (const auto &f : subj_[s]->fds) {
      if (f.mount < 0)
        continue;
      const MountKnown &mk = subj_[s]->mounts[f.mount];
      if (mk.mountpoint_fd < 0)
        continue;
      auto pv = file_word(s, mk.mountpoint_fd, wm), pd = file_word(s, mk.mountpoint_fd, wd);
      const WalkResponse &r = fptr_[s].at({f.fd, wm});
      Cands cp, cm, ci;
      for (int64_t k = 0; k <= kBefore && pv && pd; k += 8)
        for (int64_t p = 0; kBefore - k + p + 8 <= kMaxCopy; p += 4) {
          if (p % 8 == 0 && r.u64(kBefore - k + p) == *pv - k)
            cp.insert(key(k, p));
          if (p % 8 == 0 && r.u64(kBefore - k + p) == *pd)
            cm.insert(key(k, p));
          if (r.u32(kBefore - k + p) == static_cast<uint32_t>(mk.id))
            ci.insert(key(k, p));
        }
      parent = first ? cp : intersect(parent, cp);
      mountpoint = first ? cm : intersect(mountpoint, cm);
      id = first ? ci : intersect(id, ci);
      first = false;
    }
  Cands ks;
  for (auto v : parent)
    ks.insert(v >> 20);
  settle("mount.mnt", ks, "no offset of the vfsmount in struct mount gives every mnt_parent");
  if (!have({"mount.mnt"}))
    return;
  auto of_k = [&](const Cands &c) {
    Cands out;
    for (auto v : c)
      if ((v >> 20) == at("mount.mnt"))
        out.insert(v & 0xfffff);
    return out;
  };
  settle("mount.mnt_parent", of_k(parent), "");
  settle("mount.mnt_mountpoint", of_k(mountpoint), "no word of struct mount is the mount point");
  settle("mount.mnt_id", of_k(id), "no word of struct mount is fdinfo's mnt_id");
}

// fs_struct: the task pointer whose pointee holds the paths of the fds on
// the root (F: "/", R: its chroot) and on the working directory.
void Solver::stage_fs() {
  if (!have({"file.mnt_ptr", "file.dentry_ptr", "path.mnt", "path.dentry"}))
    return;
  uint32_t wm = at("file.mnt_ptr"), wd = at("file.dentry_ptr");
  int64_t pm = at("path.mnt"), pd = at("path.dentry");
  Cands ts;
  std::map<uint32_t, std::pair<Cands, Cands>> found;
  for (uint32_t t : task_ptrs_) {
    Cands root, pwd;
    for (int s = 0; s < nsubj(); s++) {
      const SubjectKnown &k = *subj_[s];
      auto slots = [&](int fd) {
        Cands c;
        auto m = file_word(s, fd, wm), d = file_word(s, fd, wd);
        const WalkResponse &r = ptee_[s].at(t);
        for (int64_t o = 0; o + 16 <= kMaxCopy && m && d; o += 8)
          if (r.u64(o + pm) == *m && r.u64(o + pd) == *d)
            c.insert(o);
        return c;
      };
      root = s == 0 ? slots(k.root_fd) : intersect(root, slots(k.root_fd));
      pwd = s == 0 ? slots(k.pwd_fd) : intersect(pwd, slots(k.pwd_fd));
    }
    if (!root.empty() && !pwd.empty()) {
      ts.insert(t);
      found[t] = {root, pwd};
    }
  }
  settle("task_struct.fs", ts, "no task pointer leads to the root's and pwd's paths");
  if (!have({"task_struct.fs"}))
    return;
  settle("fs_struct.root", found.at(at("task_struct.fs")).first, "");
  settle("fs_struct.pwd", found.at(at("task_struct.fs")).second, "");
}

// private_data: NULL in every tmpfs file; an eventfd's points to a struct
// holding its count.
void Solver::stage_private_data() {
  Cands c;
  for (uint32_t o = 0; o + 8 <= 1024; o += 8) {
    bool ok = true, any_eventfd = false;
    for (int s = 0; s < nsubj() && ok; s++)
      for (const auto &f : subj_[s]->fds) {
        auto v = file_word(s, f.fd, o);
        if (f.kind == FdKnown::Kind::eventfd) {
          any_eventfd = true;
          bool holds = false;
          auto it = fptr_[s].find({f.fd, o});
          for (int64_t a = 0; it != fptr_[s].end() && a + 8 <= kMaxCopy - kBefore && !holds; a += 8)
            holds = it->second.u64(kBefore + a) == f.eventfd_count;
          ok = ok && v && is_kptr(*v) && holds;
        } else if (f.magic == 0x01021994) { // TMPFS_MAGIC
          ok = ok && v == 0u;
        }
      }
    if (ok && any_eventfd)
      c.insert(o);
  }
  settle("file.private_data", c,
         "no word of struct file is NULL in tmpfs files and leads to "
         "the eventfd's count");
}

} // namespace offsetprobe::files
