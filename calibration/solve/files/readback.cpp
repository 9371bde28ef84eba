// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/solve/files/readback.h"

#include "calibration/model/catalogue.h"

#include <cstring>
#include <functional>
#include <map>

namespace offsetprobe::files {

namespace {

constexpr uint64_t kTmpfsMagic = 0x01021994;

// One subject's reads: each a walk through found offsets, then `size` bytes.
class Reads {
public:
  Reads(Memory &mem, int subject) : mem_(mem), subject_(subject) {}
  size_t add(std::vector<uint32_t> steps, int64_t off) {
    reqs_.push_back({std::move(steps), static_cast<int32_t>(off), kChunk});
    return reqs_.size() - 1;
  }
  void run() { got_ = mem_.walk(subject_, reqs_); }
  const WalkResponse &operator[](size_t i) const { return got_.at(i); }

private:
  Memory &mem_;
  int subject_;
  std::vector<WalkRequest> reqs_;
  std::vector<WalkResponse> got_;
};

class Checker {
public:
  Checker(std::vector<FieldResult> &fields, const FoundOffsets &o) : fields_(fields), o_(o) {}
  // Records one observation about a field: it fails if any does.
  void expect(const std::string &name, bool ok, const std::string &detail) {
    auto &s = state_[name];
    s.seen = true;
    if (!ok && s.ok) {
      s.ok = false;
      s.detail = detail;
    }
  }
  void finish() {
    for (auto &f : fields_) {
      if (f.status != FieldStatus::calibrated)
        continue;
      auto it = state_.find(f.name);
      if (it == state_.end() || !it->second.seen) {
        // Nothing was read through it: it is not reported.
        fail_readback(f, "the read-back could not read it", "found, but not read back");
      } else if (!it->second.ok) {
        fail_readback(f, it->second.detail, "read-back failed: " + it->second.detail);
      } else {
        f.validation = Validation::passed;
        f.validation_detail.clear();
      }
    }
  }

private:
  struct State {
    bool seen = false, ok = true;
    std::string detail;
  };
  std::vector<FieldResult> &fields_;
  const FoundOffsets &o_;
  std::map<std::string, State> state_;
};

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%#llx", static_cast<unsigned long long>(v));
  return b;
}

// One subject's read-back: the reads through the found offsets, then the
// comparisons with what the subject is known to hold.
class SubjectCheck {
public:
  SubjectCheck(Memory &mem, int s, const SubjectKnown &k, const FoundOffsets &o, Checker &c)
      : rd(mem, s), k(k), o(o), c(c), who(k.role + " pid " + std::to_string(k.pid)) {}
  void run() {
    plan();
    rd.run();
    check();
  }

private:
  bool has(std::initializer_list<const char *> ns) const {
    for (auto n : ns)
      if (!o.has(n))
        return false;
    return true;
  }
  static std::vector<uint32_t> plus(std::vector<uint32_t> p, uint32_t x) {
    p.push_back(x);
    return p;
  }
  static std::optional<uint32_t> u32(std::optional<uint64_t> v) {
    return v ? std::optional<uint32_t>(uint32_t(*v)) : std::nullopt;
  }
  // The value a named read of fd's got, and the pointer its walk ended at.
  std::optional<uint64_t> val(int fd, const std::string &n) {
    auto it = at[fd].find(n);
    return it == at[fd].end() ? std::nullopt : rd[it->second].u64(0);
  }
  std::optional<uint64_t> ptr(int fd, const std::string &n) {
    auto it = at[fd].find(n);
    if (it == at[fd].end() || !rd[it->second].base())
      return std::nullopt;
    return rd[it->second].base();
  }
  void plan();
  void plan_fd(const FdKnown &f);
  void check();
  // Checks fd's fields; true when what was read through the fd table
  // agrees with the fd (its flags or its inode's number).
  bool check_fd(const FdKnown &f);
  void check_fd_paths(const FdKnown &f, const std::string &fd);

  Reads rd;
  const SubjectKnown &k;
  const FoundOffsets &o;
  Checker &c;
  std::string who;
  bool fdt = false;
  std::vector<uint32_t> fdt_steps;
  std::map<int, std::map<std::string, size_t>> at; // per fd: each read by name
  std::map<std::string, size_t> fs;
  std::optional<size_t> maxfds, exe;
};

void SubjectCheck::plan() {
  fdt = has({"task_struct.files", "files_struct.fdt", "fdtable.fd"});
  if (fdt)
    fdt_steps = {o.at("task_struct.files"), o.at("files_struct.fdt")};
  if (fdt && o.has("fdtable.max_fds"))
    maxfds = rd.add(fdt_steps, o.at("fdtable.max_fds"));
  for (const auto &f : k.fds)
    if (fdt)
      plan_fd(f);
  if (o.has("task_struct.fs") && o.has("path.mnt") && o.has("path.dentry"))
    for (const char *n : {"fs_struct.root", "fs_struct.pwd"})
      if (o.has(n)) {
        fs[std::string(n) + ".mnt"] = rd.add({o.at("task_struct.fs")}, o.at(n) + o.at("path.mnt"));
        fs[std::string(n) + ".dentry"] =
            rd.add({o.at("task_struct.fs")}, o.at(n) + o.at("path.dentry"));
      }
  if (o.mm && o.has("mm_struct.exe_file") && o.has("file.f_inode"))
    exe = rd.add({*o.mm, o.at("mm_struct.exe_file")}, o.at("file.f_inode"));
}

void SubjectCheck::plan_fd(const FdKnown &f) {
  auto fp = plus(plus(fdt_steps, o.at("fdtable.fd")), static_cast<uint32_t>(8 * f.fd));
  auto &m = at[f.fd];
  for (const char *n : {"file.f_pos", "file.f_flags", "file.f_mode", "file.private_data"})
    if (o.has(n))
      m[n] = rd.add(fp, o.at(n));
  if (o.has("file.f_inode")) {
    auto ip = plus(fp, o.at("file.f_inode"));
    for (const char *n : {"inode.i_ino", "inode.i_size", "inode.i_mode", "inode.i_uid",
                          "inode.i_gid", "inode.i_sb"})
      if (o.has(n))
        m[n] = rd.add(ip, o.at(n));
    if (o.has("inode.i_sb"))
      for (const char *n : {"super_block.s_dev", "super_block.s_magic"})
        if (o.has(n))
          m[n] = rd.add(plus(ip, o.at("inode.i_sb")), o.at(n));
    m["f_inode"] = rd.add(ip, 0);
  }
  if (o.has("file.f_path") && o.has("path.dentry")) {
    auto dp = plus(fp, o.at("file.f_path") + o.at("path.dentry"));
    m["dentry"] = rd.add(dp, 0);
    for (const char *n : {"dentry.d_parent", "dentry.d_inode", "dentry.d_sb"})
      if (o.has(n))
        m[n] = rd.add(dp, o.at(n));
    if (o.has("dentry.d_name") && o.has("qstr.name") && o.has("qstr.len")) {
      m["qstr.len"] = rd.add(dp, o.at("dentry.d_name") + o.at("qstr.len"));
      m["qstr.name"] = rd.add(plus(dp, o.at("dentry.d_name") + o.at("qstr.name")), 0);
    }
  }
  if (o.has("file.f_path") && o.has("path.mnt")) {
    auto mp = plus(fp, o.at("file.f_path") + o.at("path.mnt"));
    m["mnt"] = rd.add(mp, 0);
    for (const char *n : {"vfsmount.mnt_root", "vfsmount.mnt_sb"})
      if (o.has(n))
        m[n] = rd.add(mp, o.at(n));
    if (o.has("mount.mnt"))
      for (const char *n : {"mount.mnt_parent", "mount.mnt_mountpoint", "mount.mnt_id"})
        if (o.has(n))
          m[n] = rd.add(mp, int64_t(o.at(n)) - o.at("mount.mnt"));
  }
  if (f.kind == FdKnown::Kind::eventfd && o.has("file.private_data"))
    m["eventfd"] = rd.add(plus(fp, o.at("file.private_data")), 0);
}

void SubjectCheck::check() {
  if (maxfds)
    c.expect("fdtable.max_fds", rd[*maxfds].u32(0) == k.max_fds,
             who + ": max_fds read back as " + std::to_string(rd[*maxfds].u32(0).value_or(0)) +
                 ", FDSize is " + std::to_string(k.max_fds));
  bool files_ok = true;
  for (const auto &f : k.fds)
    if (fdt)
      files_ok = check_fd(f) && files_ok;
  if (fdt) {
    bool any = !k.fds.empty() && ptr(k.fds.front().fd, "f_inode").has_value();
    for (const char *x : {"task_struct.files", "files_struct.fdt", "fdtable.fd"})
      c.expect(x, any && files_ok && (!maxfds || rd[*maxfds].u32(0) == k.max_fds),
               who + ": the fd table does not lead to the known files");
  }
  auto fs_pair = [&](const char *n, int fd) {
    if (!fs.count(std::string(n) + ".mnt"))
      return;
    bool ok = rd[fs[std::string(n) + ".mnt"]].u64(0) == ptr(fd, "mnt") &&
              rd[fs[std::string(n) + ".dentry"]].u64(0) == ptr(fd, "dentry") && ptr(fd, "mnt");
    c.expect(n, ok, who + ": " + n + " is not the path of fd " + std::to_string(fd));
    c.expect("task_struct.fs", ok, who + ": fs does not lead to root and pwd");
  };
  fs_pair("fs_struct.root", k.root_fd);
  fs_pair("fs_struct.pwd", k.pwd_fd);
  if (exe)
    c.expect("mm_struct.exe_file",
             ptr(k.exe_fd, "f_inode") && rd[*exe].u64(0) == *ptr(k.exe_fd, "f_inode"),
             who + ": exe_file does not lead to the executable's inode (" +
                 hex(rd[*exe].u64(0).value_or(0)) + ")");
}

bool SubjectCheck::check_fd(const FdKnown &f) {
  std::string fd = who + " fd " + std::to_string(f.fd) + ": ";
  bool regular = f.kind == FdKnown::Kind::regular && !f.opath;
  bool stat = f.kind != FdKnown::Kind::eventfd && f.magic == kTmpfsMagic;
  auto e = [&](const std::string &n, bool ok, const std::string &what) {
    if (at[f.fd].count(n))
      c.expect(n, ok, fd + what);
  };
  if (regular)
    e("file.f_pos", val(f.fd, "file.f_pos") == f.pos,
      "f_pos != fdinfo pos " + std::to_string(f.pos));
  e("file.f_flags", u32(val(f.fd, "file.f_flags")) == f.flags, "f_flags != fdinfo flags");
  auto mode = u32(val(f.fd, "file.f_mode"));
  if (f.opath)
    e("file.f_mode", mode && (*mode & 0x4000) && !(*mode & 3), "f_mode lacks FMODE_PATH");
  else if (regular)
    e("file.f_mode",
      mode && (*mode & 3) == uint32_t(f.acc == 0   ? 1
                                      : f.acc == 1 ? 2
                                                   : 3),
      "f_mode's FMODE_READ/WRITE disagree with the access mode");
  if (f.magic == kTmpfsMagic)
    e("file.private_data", val(f.fd, "file.private_data") == 0u, "private_data is not NULL");
  if (f.kind == FdKnown::Kind::eventfd && at[f.fd].count("eventfd")) {
    const WalkResponse &r = rd[at[f.fd]["eventfd"]];
    bool holds = false;
    for (int64_t a = 0; a + 8 <= kChunk; a += 8)
      holds = holds || r.u64(a) == f.eventfd_count;
    e("file.private_data", holds, "private_data does not lead to the eventfd's count");
  }
  if (stat) {
    e("inode.i_ino", val(f.fd, "inode.i_ino") == f.ino, "i_ino != st_ino " + std::to_string(f.ino));
    e("inode.i_size", val(f.fd, "inode.i_size") == f.size, "i_size != st_size");
    e("inode.i_mode", val(f.fd, "inode.i_mode").value_or(~0ull) % 65536 == f.mode,
      "i_mode != st_mode");
    e("inode.i_uid", u32(val(f.fd, "inode.i_uid")) == f.uid, "i_uid != st_uid");
    e("inode.i_gid", u32(val(f.fd, "inode.i_gid")) == f.gid, "i_gid != st_gid");
    e("super_block.s_dev", u32(val(f.fd, "super_block.s_dev")) == f.kdev, "s_dev != st_dev");
    e("super_block.s_magic", val(f.fd, "super_block.s_magic") == f.magic, "s_magic != f_type");
    bool inode_ok = ptr(f.fd, "f_inode").has_value() && val(f.fd, "inode.i_ino") == f.ino;
    if (at[f.fd].count("f_inode"))
      c.expect("file.f_inode", inode_ok, fd + "f_inode does not lead to st_ino");
    e("inode.i_sb", ptr(f.fd, "super_block.s_dev") && u32(val(f.fd, "super_block.s_dev")) == f.kdev,
      "i_sb does not lead to st_dev");
    e("dentry.d_inode", val(f.fd, "dentry.d_inode") == ptr(f.fd, "f_inode"), "d_inode != f_inode");
    e("dentry.d_sb", val(f.fd, "dentry.d_sb") == ptr(f.fd, "super_block.s_dev"), "d_sb != i_sb");
  }
  check_fd_paths(f, fd);
  // The fd table leads to this fd's file when what is read through it
  // agrees: its flags, or its inode's number.
  return u32(val(f.fd, "file.f_flags")) == f.flags || (stat && val(f.fd, "inode.i_ino") == f.ino);
}

void SubjectCheck::check_fd_paths(const FdKnown &f, const std::string &fd) {
  auto e = [&](const std::string &n, bool ok, const std::string &what) {
    if (at[f.fd].count(n))
      c.expect(n, ok, fd + what);
  };
  if (f.kind != FdKnown::Kind::eventfd && !f.name.empty() && at[f.fd].count("qstr.name")) {
    const WalkResponse &n = rd[at[f.fd]["qstr.name"]];
    bool name_ok = n.ok(0, uint32_t(f.name.size() + 1)) &&
                   std::memcmp(n.bytes.data(), f.name.c_str(), f.name.size() + 1) == 0;
    bool len_ok = u32(val(f.fd, "qstr.len")) == f.name.size();
    for (const char *x :
         {"qstr.name", "dentry.d_name", "qstr.hash_len", "path.dentry", "file.f_path"})
      c.expect(x, name_ok && len_ok, fd + "the dentry's name is not \"" + f.name + "\"");
    c.expect("qstr.len", len_ok, fd + "qstr.len is not the name's length");
    if (f.parent_fd >= 0)
      e("dentry.d_parent", val(f.fd, "dentry.d_parent") == ptr(f.parent_fd, "dentry"),
        "d_parent is not the parent directory's dentry");
    else if (f.name == "/")
      e("dentry.d_parent", val(f.fd, "dentry.d_parent") == ptr(f.fd, "dentry"),
        "a root's d_parent is not itself");
  }
  if (f.mount >= 0) {
    const MountKnown &mk = k.mounts[f.mount];
    e("vfsmount.mnt_root", val(f.fd, "vfsmount.mnt_root") == ptr(mk.root_fd, "dentry"),
      "mnt_root is not the mount root's dentry");
    e("vfsmount.mnt_sb", val(f.fd, "vfsmount.mnt_sb") == ptr(f.fd, "super_block.s_dev"),
      "mnt_sb != i_sb");
    bool root_ok = val(f.fd, "vfsmount.mnt_root") == ptr(mk.root_fd, "dentry");
    for (const char *x : {"path.mnt", "file.f_path"})
      if (at[f.fd].count("vfsmount.mnt_root"))
        c.expect(x, root_ok, fd + "path.mnt does not lead to the mount's root");
    e("mount.mnt_id", u32(val(f.fd, "mount.mnt_id")) == uint32_t(f.mnt_id), "mnt_id != fdinfo's");
    if (mk.mountpoint_fd >= 0) {
      auto pm = ptr(mk.mountpoint_fd, "mnt");
      bool par =
          pm && o.has("mount.mnt") && val(f.fd, "mount.mnt_parent") == *pm - o.at("mount.mnt");
      e("mount.mnt_parent", par, "mnt_parent is not the parent's struct mount");
      if (at[f.fd].count("mount.mnt_parent"))
        c.expect("mount.mnt", par, fd + "mnt_parent is not the parent's struct mount");
      e("mount.mnt_mountpoint",
        val(f.fd, "mount.mnt_mountpoint") == ptr(mk.mountpoint_fd, "dentry"),
        "mnt_mountpoint is not the mount point's dentry");
    }
  }
}

} // namespace

void readback_files(Memory &mem, const TrialKnown &trial, int f, int r, const FoundOffsets &found,
                    std::vector<FieldResult> &fields) {
  Checker c(fields, found);
  SubjectCheck(mem, f, trial.files, found, c).run();
  SubjectCheck(mem, r, trial.chroot, found, c).run();
  c.finish();
}

FoundOffsets given_offsets(const std::vector<FieldResult> &fields, std::vector<FieldResult> &mine) {
  FoundOffsets found;
  for (const auto &f : fields) {
    if (f.name == "task_struct.mm" && f.offset)
      found.mm = *f.offset;
    const Family *fam = family_of(f.name);
    if (!fam || fam->experiment != "files")
      continue;
    mine.push_back(f);
    if (f.status == FieldStatus::calibrated && f.offset)
      found.off[f.name] = *f.offset;
  }
  return found;
}

} // namespace offsetprobe::files
