// SPDX-License-Identifier: GPL-2.0-only
#include "tests/fake_files_kernel.h"

#include <set>
#include <stdexcept>

namespace offsetprobe::test {

using files::FdKnown;
using files::MountKnown;
using files::SubjectKnown;
using files::TrialKnown;

uint64_t FakeWorld::sb(uint32_t kdev, uint64_t magic) {
  uint64_t s = k_.alloc(2048);
  k_.put<uint32_t>(s + L.s_dev, kdev);
  k_.put<uint64_t>(s + L.s_magic, magic);
  k_.put<uint64_t>(s, s); // a list head: points to itself
  return s;
}

uint64_t FakeWorld::inode(uint64_t sb, FdKnown &f) {
  uint64_t i = k_.alloc(1024);
  k_.put<uint16_t>(i + L.i_mode, static_cast<uint16_t>(f.mode));
  k_.put<uint32_t>(i + L.i_uid, f.uid);
  k_.put<uint32_t>(i + L.i_gid, f.gid);
  k_.put<uint64_t>(i + L.i_op, i_op_);
  k_.put<uint64_t>(i + L.i_sb, sb);
  k_.put<uint64_t>(i + L.i_ino, f.ino);
  k_.put<uint64_t>(i + L.i_size, f.size);
  return i;
}

uint64_t FakeWorld::dentry(const std::string &n, uint64_t parent, uint64_t inode, uint64_t sb) {
  uint64_t d = k_.alloc(256);
  k_.put<uint64_t>(d + L.d_parent, parent ? parent : d);
  k_.put<uint32_t>(d + L.d_name, static_cast<uint32_t>(r64())); // hash
  k_.put<uint32_t>(d + L.d_name + 4, static_cast<uint32_t>(n.size()));
  k_.put<uint64_t>(d + L.d_name + 8, d + L.d_iname);
  std::memcpy(&k_.arena[d + L.d_iname - FakeKernel::kBase], n.c_str(), n.size() + 1);
  k_.put<uint64_t>(d + L.d_inode, inode);
  k_.put<uint64_t>(d + L.d_sb, sb);
  return d;
}

// struct mount; children are linked as the kernel links them
// (list_add_tail(&child->mnt_child, &parent->mnt_mounts)).
uint64_t FakeWorld::mount(uint64_t parent, uint64_t mountpoint, uint64_t root, uint64_t sb,
                          int id) {
  uint64_t m = k_.alloc(512);
  k_.put<uint64_t>(m + L.m_parent, parent ? parent : m);
  k_.put<uint64_t>(m + L.m_mountpoint, mountpoint);
  k_.put<uint64_t>(m + L.m_mnt + L.v_root, root);
  k_.put<uint64_t>(m + L.m_mnt + L.v_sb, sb);
  k_.put<uint32_t>(m + L.m_id, static_cast<uint32_t>(id));
  uint64_t head = m + L.m_mounts;
  k_.put<uint64_t>(head, head);
  k_.put<uint64_t>(head + 8, head);
  if (parent) {
    uint64_t ph = parent + L.m_mounts, node = m + L.m_child, last = k_.get<uint64_t>(ph + 8);
    k_.put<uint64_t>(node, ph);
    k_.put<uint64_t>(node + 8, last);
    k_.put<uint64_t>(last, node);
    k_.put<uint64_t>(ph + 8, node);
  }
  return m;
}

uint64_t FakeWorld::file(const FdKnown &f, uint64_t inode, uint64_t dentry, uint64_t vfsmnt,
                         uint64_t private_data) {
  uint64_t x = k_.alloc(512);
  uint32_t mode = 0;
  if (f.opath)
    mode = 0x4000 | 0x80000;
  else
    mode = (f.acc == 0 ? 1 : f.acc == 1 ? 2 : 3) | 0x1c | 0x80000;
  k_.put<uint32_t>(x + L.f_mode, mode);
  k_.put<uint64_t>(x + L.f_op, f_op_);
  k_.put<uint64_t>(x + L.f_mapping, inode + 200);
  k_.put<uint64_t>(x + L.private_data, private_data);
  k_.put<uint64_t>(x + L.f_inode, inode);
  k_.put<uint32_t>(x + L.f_flags, f.flags);
  k_.put<uint64_t>(x + L.f_cred, f_cred_);
  k_.put<uint64_t>(x + L.f_path, vfsmnt);
  k_.put<uint64_t>(x + L.f_path + 8, dentry);
  k_.put<uint64_t>(x + L.f_pos, f.pos);
  return x;
}

uint64_t FakeWorld::task(const std::map<int, uint64_t> &fds, bool embedded, uint32_t max_fds,
                         uint64_t fs, uint64_t mm, uint64_t shared) {
  uint64_t t = k_.alloc(12288);
  uint64_t files = k_.alloc(1024);
  // Decoys: pointers to things of its own, shared ones, and self-pointing
  // list heads.
  for (int i = 0; i < 60; i++) {
    uint32_t o = static_cast<uint32_t>(rr(0, 12288 / 8) * 8);
    if (o / 16 == L.task_files / 16 || o / 16 == L.task_fs / 16 || o / 16 == L.task_mm / 16)
      continue;
    k_.put<uint64_t>(t + o, i % 3 == 0 ? shared : i % 3 == 1 ? noise() : t + o);
  }
  k_.put<uint64_t>(t + L.task_files, files);
  k_.put<uint64_t>(t + L.task_fs, fs);
  k_.put<uint64_t>(t + L.task_mm, mm);
  k_.put<uint64_t>(t + L.task_active_mm, mm);
  k_.put<uint32_t>(files, 1);
  uint64_t fdt = files + L.fs_fdtab, arr = files + L.fs_fd_array;
  if (!embedded) {
    fdt = k_.alloc(64);
    arr = k_.alloc(8 * max_fds);
    // The old embedded table stays, with 64 as its size.
    k_.put<uint32_t>(files + L.fs_fdtab + L.fdt_max_fds, 64);
    k_.put<uint64_t>(files + L.fs_fdtab + L.fdt_fd, files + L.fs_fd_array);
  }
  k_.put<uint64_t>(files + L.fs_fdt, fdt);
  k_.put<uint32_t>(fdt + L.fdt_max_fds, max_fds);
  k_.put<uint64_t>(fdt + L.fdt_fd, arr);
  for (auto [fd, f] : fds)
    k_.put<uint64_t>(arr + 8 * fd, f);
  return t;
}

// A known fd of `kind`, its values random (the RNG's order is the trial's).
FdKnown FakeWorld::make_fd(int fd, FdKnown::Kind kind, const std::string &nm, int parent_fd,
                           int mount, uint32_t kdev, uint64_t magic) {
  FdKnown f;
  f.fd = fd;
  f.kind = kind;
  f.name = nm;
  f.parent_fd = parent_fd;
  f.mount = mount;
  f.opath = kind == FdKnown::Kind::directory;
  f.acc = static_cast<int>(rr(0, 3));
  f.ino = ino_next_ += rr(1, 50);
  f.size = kind == FdKnown::Kind::regular ? rr(1, 1ull << 40) : 40 * rr(1, 10);
  f.mode = (kind == FdKnown::Kind::directory ? 040000u : 0100000u) |
           static_cast<uint32_t>(rr(0, 07777 + 1));
  f.uid = static_cast<uint32_t>(rr(100000, 1u << 30));
  f.gid = static_cast<uint32_t>(rr(100000, 1u << 30));
  f.kdev = kdev;
  f.magic = magic;
  f.pos = kind == FdKnown::Kind::regular ? rr(1, 1ull << 40) : 0;
  f.flags = f.opath
                ? 010000000 | 0200000 | 0100000
                : 0100000 | static_cast<uint32_t>(f.acc) | (static_cast<uint32_t>(rr(0, 4)) << 10);
  if (size_equals_own_ino)
    f.size = f.ino;
  return f;
}

// A file system's root inode (a directory's values).
uint64_t FakeWorld::real_inode(uint64_t sbp, uint32_t kdev, uint64_t magic) {
  FdKnown tmp = make_fd(0, FdKnown::Kind::directory, "/", -1, -1, kdev, magic);
  return inode(sbp, tmp);
}

// A fs_struct: root and pwd, each a (vfsmount, dentry) path.
uint64_t FakeWorld::fs_struct(uint64_t rm, uint64_t rd, uint64_t pm, uint64_t pd) {
  uint64_t s = k_.alloc(128);
  k_.put<uint64_t>(s + L.fs_root, rm);
  k_.put<uint64_t>(s + L.fs_root + 8, rd);
  k_.put<uint64_t>(s + L.fs_pwd, pm);
  k_.put<uint64_t>(s + L.fs_pwd + 8, pd);
  return s;
}

// An mm_struct: its layout words (appended to `layout`), exe_file, noise;
// with sibling_mm_stride, a forked sibling's mm in the next slab object.
uint64_t FakeWorld::make_mm(std::vector<uint64_t> &layout, uint64_t exe_file) {
  uint64_t m = k_.alloc(sibling_mm_stride + 2048);
  if (sibling_mm_stride)
    k_.put<uint64_t>(m + sibling_mm_stride + L.mm_exe, exe_file);
  for (int i = 0; i < 4; i++) {
    layout.push_back(0x400000 + 0x1000 * uint64_t(i) + rr(0, 0x100) * 8);
    k_.put<uint64_t>(m + L.mm_layout + 8 * i, layout.back());
  }
  for (int i = 0; i < 20; i++) {
    uint64_t o = 8 * rr(0, 100);
    if (o + 8 <= L.mm_layout || o >= L.mm_layout + 32)
      if (o != L.mm_exe)
        k_.put<uint64_t>(m + o, noise());
  }
  k_.put<uint64_t>(m + L.mm_exe, exe_file);
  return m;
}

// Adds fd f.fd to S (and its struct file to `files`): an inode and dentry
// under parent_dentry, or a second view of existing_dentry (its inode's
// values). Returns the dentry.
uint64_t FakeWorld::add_fd(SubjectKnown &S, std::map<int, uint64_t> &files, FdKnown f, uint64_t sbp,
                           uint64_t parent_dentry, uint64_t vfsmnt, uint64_t existing_dentry) {
  uint64_t ip = existing_dentry ? k_.get<uint64_t>(existing_dentry + L.d_inode) : inode(sbp, f);
  if (existing_dentry) {
    f.ino = k_.get<uint64_t>(ip + L.i_ino);
    f.size = k_.get<uint64_t>(ip + L.i_size);
    f.mode = k_.get<uint16_t>(ip + L.i_mode);
    f.uid = k_.get<uint32_t>(ip + L.i_uid);
    f.gid = k_.get<uint32_t>(ip + L.i_gid);
  }
  uint64_t dp = existing_dentry ? existing_dentry : dentry(f.name, parent_dentry, ip, sbp);
  files[f.fd] = file(f, ip, dp, vfsmnt, 0);
  S.fds.push_back(f);
  return dp;
}

// An eventfd at `fd`: private_data points to its context, the count inside.
void FakeWorld::add_eventfd(SubjectKnown &S, std::map<int, uint64_t> &files, int fd) {
  FdKnown ev;
  ev.fd = fd;
  ev.kind = FdKnown::Kind::eventfd;
  ev.acc = 2;
  ev.flags = 0100002;
  ev.eventfd_count = rr(1, 1ull << 40);
  uint64_t ctx = k_.alloc(64);
  k_.put<uint64_t>(ctx + 24, ev.eventfd_count);
  uint64_t anon = noise();
  files[fd] = file(ev, anon, noise(), noise(), ctx);
  S.fds.push_back(ev);
}

// S's task as task `id` of the fake kernel, with its fd table, fs_struct and
// a fresh mm_struct.
void FakeWorld::place_task(SubjectKnown &S, int id, const std::map<int, uint64_t> &files,
                           bool embedded, uint32_t max_fds, uint64_t fs, uint64_t exe_file) {
  k_.tasks[id] = task(files, embedded, max_fds, fs, make_mm(S.mm_layout, exe_file), shared_);
  S.max_fds = max_fds;
  for (auto &[fd, x] : files)
    S.open_fds.push_back(fd);
  S.pid = id + 1000;
}

// The pointers every trial shares (f_op, f_cred, i_op, the shared block),
// drawn at the first trial.
void FakeWorld::draw_shared_pointers() {
  if (f_op_)
    return;
  f_op_ = noise();
  f_cred_ = noise();
  i_op_ = noise();
  shared_ = noise();
}

TrialKnown FakeWorld::trial(int f_id, int r_id) {
  k_.gaps.seed(r64());
  draw_shared_pointers();
  constexpr uint64_t kTmpfs = 0x01021994, kExt4 = 0xEF53;
  std::set<int> ids;
  auto id = [&] {
    int v;
    do
      v = static_cast<int>(rr(20, 5000));
    while (!ids.insert(v).second);
    return v;
  };
  auto dev = [&] { return static_cast<uint32_t>(rr(1, 1000)); };
  // The namespace's root file system, the tmpfs over /tmp, A, B, D, E, C.
  uint32_t dev_root = (8u << 20) | 1, dev_tmp = dev(), dev_a = dev() + 1000, dev_b = dev() + 2000;
  uint64_t sb_root = sb(dev_root, kExt4), sb_tmp = sb(dev_tmp, kTmpfs), sb_a = sb(dev_a, kTmpfs),
           sb_b = sb(dev_b, kTmpfs);
  SubjectKnown F;
  F.role = "files";
  std::map<int, uint64_t> ffiles;
  ino_next_ = rr(100, 100000);
  // Mounts: (index in F.mounts) A=0, B=1, C=2.
  int id_root = id(), id_tmp = id(), id_a = id(), id_b = id(), id_c = id(), id_d = id(),
      id_e = id();
  (void)id_root;
  uint64_t d_root = dentry("/", 0, real_inode(sb_root, dev_root, kExt4), sb_root);
  uint64_t m_root = mount(0, d_root, d_root, sb_root, id_root);
  uint64_t d_tmproot = dentry("/", 0, noise(), sb_tmp);
  uint64_t d_tmp_on_root = dentry("tmp", d_root, noise(), sb_root);
  uint64_t m_tmp = mount(m_root, d_tmp_on_root, d_tmproot, sb_tmp, id_tmp);
  std::string a = name(), a1 = name(), a2 = name(), same = name(), sub = name(), m1 = name(),
              b1 = name(), m2 = name(), fc = name(), fz = name(), sub2 = name(), w = name();
  // Each fd: known values, inode, dentry, struct file.
  auto add = [&](FdKnown f, uint64_t sbp, uint64_t parent_dentry, uint64_t vfsmnt,
                 uint64_t existing_dentry = 0) {
    return add_fd(F, ffiles, std::move(f), sbp, parent_dentry, vfsmnt, existing_dentry);
  };
  using K = FdKnown::Kind;
  uint64_t v_tmp = m_tmp + L.m_mnt;
  uint64_t d_mpa =
      add(make_fd(10, K::directory, a, -1, -1, dev_tmp, kTmpfs), sb_tmp, d_tmproot, v_tmp);
  uint64_t d_aroot = dentry("/", 0, real_inode(sb_a, dev_a, kTmpfs), sb_a);
  uint64_t m_a = mount(m_tmp, d_mpa, d_aroot, sb_a, id_a), v_a = m_a + L.m_mnt;
  add(make_fd(11, K::directory, "/", -1, 0, dev_a, kTmpfs), sb_a, 0, v_a, d_aroot);
  uint64_t d_a1 = add(make_fd(12, K::directory, a1, 11, 0, dev_a, kTmpfs), sb_a, d_aroot, v_a);
  uint64_t d_a2 = add(make_fd(13, K::directory, a2, 12, 0, dev_a, kTmpfs), sb_a, d_a1, v_a);
  FdKnown fa = make_fd(14, K::regular, same, 13, 0, dev_a, kTmpfs);
  fa.acc = 0;
  add(fa, sb_a, d_a2, v_a);
  uint64_t d_sub = add(make_fd(15, K::directory, sub, 11, 0, dev_a, kTmpfs), sb_a, d_aroot, v_a);
  uint64_t d_m1 = add(make_fd(16, K::directory, m1, 11, 0, dev_a, kTmpfs), sb_a, d_aroot, v_a);
  uint64_t d_broot = dentry("/", 0, real_inode(sb_b, dev_b, kTmpfs), sb_b);
  uint64_t m_b = mount(m_a, d_m1, d_broot, sb_b, id_b), v_b = m_b + L.m_mnt;
  // D after B in A, E before C in B (files/subject.cpp says why).
  mount(m_a, dentry(name(), d_aroot, noise(), sb_a), noise(), sb(dev() + 3000, kTmpfs), id_d);
  add(make_fd(17, K::directory, "/", -1, 1, dev_b, kTmpfs), sb_b, 0, v_b, d_broot);
  uint64_t d_b1 = add(make_fd(18, K::directory, b1, 17, 1, dev_b, kTmpfs), sb_b, d_broot, v_b);
  FdKnown fb = make_fd(19, K::regular, same, 18, 1, dev_b, kTmpfs);
  fb.acc = 1;
  add(fb, sb_b, d_b1, v_b);
  uint64_t d_m2 = add(make_fd(20, K::directory, m2, 17, 1, dev_b, kTmpfs), sb_b, d_broot, v_b);
  mount(m_b, dentry(name(), d_broot, noise(), sb_b), noise(), sb(dev() + 4000, kTmpfs), id_e);
  uint64_t m_c = mount(m_b, d_m2, d_sub, sb_a, id_c), v_c = m_c + L.m_mnt;
  add(make_fd(21, K::directory, sub, 11, 2, dev_a, kTmpfs), sb_a, 0, v_c, d_sub);
  FdKnown fcf = make_fd(22, K::regular, fc, 21, 2, dev_a, kTmpfs);
  fcf.acc = 2;
  add(fcf, sb_a, d_sub, v_c);
  add_eventfd(F, ffiles, 23);
  // The executable, on the root file system.
  add(make_fd(24, K::exe, "offsetprobe", -1, -1, dev_root, kExt4), sb_root,
      dentry("bin", d_root, noise(), sb_root), m_root + L.m_mnt);
  add(make_fd(25, K::directory, "/", -1, -1, dev_root, kExt4), sb_root, 0, m_root + L.m_mnt,
      d_root);
  FdKnown fzk = make_fd(26, K::regular, fz, 12, 0, dev_a, kTmpfs);
  if (!size_equals_own_ino)
    fzk.size = F.fds[4].ino; // the decoy: an inode number equal to a size
  add(fzk, sb_a, d_a1, v_a);
  uint64_t d_sub2 = add(make_fd(27, K::directory, sub2, 11, 0, dev_a, kTmpfs), sb_a, d_aroot, v_a);
  F.mounts = {
      {id_a, 11, 10, id_tmp, false}, {id_b, 17, 16, id_a, false}, {id_c, 21, 20, id_b, true}};
  for (auto &f : F.fds)
    if (f.mount >= 0)
      f.mnt_id = F.mounts[f.mount].id;
  F.exe_fd = 24;
  uint64_t exe_file = ffiles[24];
  // R: a fork before the high fd; chroot into sub2, pwd sub2/w.
  SubjectKnown R = F;
  R.role = "chroot";
  std::map<int, uint64_t> rfiles = ffiles;
  FdKnown wk = make_fd(28, K::directory, w, 27, 0, dev_a, kTmpfs);
  wk.mnt_id = id_a;
  uint64_t ip = inode(sb_a, wk), d_w = dentry(w, d_sub2, ip, sb_a);
  rfiles[28] = file(wk, ip, d_w, v_a, 0);
  R.fds.push_back(wk);
  // F's high fd shares fa's struct file.
  int high = static_cast<int>(rr(130, 1000));
  ffiles[high] = ffiles[14];
  FdKnown hk = F.fds[4];
  hk.fd = high;
  F.fds.push_back(hk);
  for (int fd : {0, 1, 2}) {
    uint64_t x = k_.alloc(256);
    ffiles[fd] = rfiles[fd] = x;
  }
  F.root_fd = 25;
  F.pwd_fd = 18;
  R.root_fd = 27;
  R.pwd_fd = 28;
  uint64_t f_fs = fs_struct(m_root + L.m_mnt, d_root, v_b, d_b1);
  uint64_t r_fs = fs_struct(v_a, d_sub2, v_a, d_w);
  uint32_t fdsize = high < 256 ? 256 : high < 512 ? 512 : 1024;
  place_task(F, f_id, ffiles, false, fdsize, f_fs, exe_file);
  place_task(R, r_id, rfiles, true, 64, r_fs, exe_file);
  return {F, R};
}

} // namespace offsetprobe::test
