// SPDX-License-Identifier: GPL-2.0-only
// The file family: open files, paths, inodes and mounts (issue #15). Its
// fields lie up to six pointers from the task (task -> files -> fdt -> fd ->
// fd[i] -> file -> f_inode -> i_sb), deeper than the chain scanner follows,
// so the family has its own experiment (calibration/experiment/files/): subjects that
// build mounts and open files with known values, a walker program that
// follows pointer offsets chosen round by round (bpf/filewalk.bpf.c), a
// solver (files/solve.cpp) and a read-back through the found offsets
// (files/readback.cpp). docs/files-family.md describes it.
#include "calibration/families/families.h"
#include "calibration/solve/readback_check.h"

namespace offsetprobe::families {

namespace {

struct Decl {
  const char *struct_name, *member;
  uint32_t size, align;
  std::vector<std::string> via;
  const char *known;
};

// The fields: struct, member, size (0: the embedded vfsmount's, set by the
// calibrator), alignment, Requires and the known value.
std::vector<Decl> decls() {
  const std::string F = "task_struct.files", FDT = "files_struct.fdt", FD = "fdtable.fd",
                    DEN = "path.dentry", MNT = "path.mnt", INO = "file.f_inode";
  return {
      {"task_struct", "files", 8, 8, {}, "F's and R's own files_struct (R is a fork of F)"},
      {"task_struct", "fs", 8, 8, {}, "leads to fs->root and fs->pwd equal to O_PATH fds on them"},
      {"files_struct",
       "fdt",
       8,
       8,
       {F},
       "R's points into its own files_struct (the embedded fdtab)"},
      {"fdtable", "max_fds", 4, 4, {FDT}, "/proc/<pid>/status FDSize (F holds a random high fd)"},
      {"fdtable",
       "fd",
       8,
       8,
       {FDT},
       "R's points to its own fd_array: non-NULL exactly at its open fds"},
      {"file", "f_path", 16, 8, {FD}, "the struct path holding path.mnt and path.dentry"},
      {"path", "mnt", 8, 8, {FD}, "the vfsmount of the file's mount (differs per mount)"},
      {"path", "dentry", 8, 8, {FD}, "a dentry whose name is the file's random name"},
      {"file",
       "f_inode",
       8,
       8,
       {FD},
       "an inode holding fstat's st_ino, st_size, st_mode, st_uid, st_gid"},
      {"file", "f_flags", 4, 4, {FD}, "/proc/<pid>/fdinfo/N flags (random open flags)"},
      {"file",
       "f_mode",
       4,
       4,
       {FD},
       "FMODE_READ/WRITE from the access mode, LSEEK|PREAD|PWRITE; FMODE_PATH for O_PATH"},
      {"file", "f_pos", 8, 8, {FD}, "/proc/<pid>/fdinfo/N pos (random lseek)"},
      {"file",
       "private_data",
       8,
       8,
       {FD},
       "NULL in tmpfs files; an eventfd's points to its random count"},
      {"dentry", "d_name", 16, 8, {DEN}, "the qstr of the file's random name"},
      {"qstr", "name", 8, 8, {DEN}, "points to the file's random name"},
      {"qstr", "len", 4, 4, {DEN}, "the name's length"},
      {"qstr", "hash_len", 8, 8, {DEN}, "the word holding hash and len (little-endian: len high)"},
      {"dentry", "d_parent", 8, 8, {DEN}, "the dentry of an O_PATH fd on the parent directory"},
      {"dentry", "d_inode", 8, 8, {DEN}, "the file's f_inode"},
      {"dentry", "d_sb", 8, 8, {DEN}, "the inode's i_sb"},
      {"inode", "i_ino", 8, 8, {INO}, "fstat st_ino"},
      {"inode", "i_mode", 2, 2, {INO}, "fstat st_mode (random permission bits)"},
      {"inode", "i_uid", 4, 4, {INO}, "fstat st_uid (random fchown)"},
      {"inode", "i_gid", 4, 4, {INO}, "fstat st_gid (random fchown)"},
      {"inode",
       "i_size",
       8,
       8,
       {INO},
       "fstat st_size (random ftruncate; one equals an inode number)"},
      {"inode", "i_sb", 8, 8, {INO}, "the super_block holding st_dev and statfs's f_type"},
      {"super_block", "s_dev", 4, 4, {"inode.i_sb"}, "fstat st_dev in the kernel's encoding"},
      {"super_block", "s_magic", 8, 8, {"inode.i_sb"}, "statfs f_type (TMPFS_MAGIC)"},
      {"mount", "mnt", 0, 8, {MNT}, "path.mnt points here inside struct mount: mnt_parent pins it"},
      {"mount", "mnt_parent", 8, 8, {MNT}, "the parent's struct mount (an fd on the mount point)"},
      {"mount",
       "mnt_mountpoint",
       8,
       8,
       {MNT},
       "the mount point's dentry (an fd opened before mounting)"},
      {"mount", "mnt_id", 4, 4, {MNT}, "/proc/<pid>/fdinfo/N mnt_id"},
      {"vfsmount", "mnt_root", 8, 8, {MNT}, "the dentry of an O_PATH fd on the mount's root"},
      {"vfsmount", "mnt_sb", 8, 8, {MNT}, "the files' i_sb"},
      {"fs_struct",
       "root",
       16,
       8,
       {"task_struct.fs"},
       "the path of an O_PATH fd on / (R: its chroot)"},
      {"fs_struct",
       "pwd",
       16,
       8,
       {"task_struct.fs"},
       "the path of an O_PATH fd on the directory it chdir'd to"},
      // Reached through task_struct.mm (or active_mm), which the experiment
      // finds for itself (a task pointer to the /proc/<pid>/stat layout
      // values): no Requires, so that --fields files needs no mm stage.
      {"mm_struct",
       "exe_file",
       8,
       8,
       {},
       "a file whose f_inode and dentry are those of an fd on /proc/self/exe"},
  };
}

} // namespace

const std::vector<std::string> &files_field_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto &f : files().fields)
      n.push_back(f.name());
    return n;
  }();
  return names;
}

Family files() {
  Family f;
  f.name = "files";
  f.summary = "open files, paths, inodes and mounts: task->files->fdt->fd[i], file, dentry, "
              "inode, super_block, mount, fs_struct, mm->exe_file";
  f.experiment = "files";
  for (const auto &d : decls()) {
    FieldDef fd;
    fd.struct_name = d.struct_name;
    fd.member = d.member;
    // vfsmount grew mnt_userns (5.12, later mnt_idmap): 24 bytes before, 32
    // since. The calibrator sets the size it measured; 32 is declared.
    fd.size = d.size ? d.size : 32;
    fd.align = d.align;
    fd.via = d.via;
    fd.known = d.known;
    // Optional: the experiment needs a mount namespace and tmpfs (root with
    // CAP_SYS_ADMIN); where it is refused, the family is unresolved with the
    // reason and the rest of the calibration stands.
    fd.required = false;
    f.fields.push_back(fd);
  }
  f.roles = {
      {Role::leader, "F (files experiment): own mount namespace; tmpfs A, B in A, a bind mount of "
                     "A's directory in B; random names, sizes, modes, owners, flags, positions; "
                     "a random high fd; an eventfd; O_PATH fds on directories, roots, mount "
                     "points; chdir into B"},
      {Role::grandchild, "R (files experiment): forked by F before the high fd (embedded fdtable), "
                         "chroots into a directory of A and chdirs below it"},
  };
  f.rule = "Round by round from the task: candidate task pointers whose pointee holds R's "
           "embedded fdtable (fdt points inside, max_fds == 64, fd -> an array non-NULL exactly "
           "at R's open fds); F's max_fds == FDSize. In each fd's struct file: f_pos, f_flags "
           "and f_mode by value; pointers to an inode (st_* values), to a dentry (the inline "
           "name), to a vfsmount (mnt_root == the root fd's dentry, mnt_sb == i_sb). dentry, "
           "super_block, mount and fs_struct members by value or by pointer equality with "
           "what O_PATH fds show. Candidates are intersected over every subject of every "
           "trial; one must remain. No declaration-order rule. Layout facts used: struct path "
           "is {mnt, dentry} and qstr is {hash_len, name} (neither is randomized): f_path is the "
           "pair's start and d_name the qstr's.";
  // The read-back walks the found offsets for a fresh trial with the file
  // walker (files/readback.cpp): fd[i] needs the subject's fd number, which
  // the catalogue's read-back plan cannot index.
  f.verify = [](ReadbackCheck &) {};
  return f;
}

} // namespace offsetprobe::families
