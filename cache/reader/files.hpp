// SPDX-License-Identifier: GPL-2.0-only
// reader/files.hpp: the cache directory and safe file access (O_NOFOLLOW, one
// link, size cap, owner and mode checks as root). Part of offsetprobe_reader.hpp.
#pragma once

#include "constants.hpp"
#include "errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace offsetprobe::reader {

// resolve_cache_dir: an explicit dir (--cache-dir) wins, then
// $OFFSETPROBE_CACHE_DIR, then /var/cache/offsetprobe. The env value must be
// absolute and, if it exists, a directory: a relative value would depend on
// the reader's cwd, so every agent could read a different cache.
inline Result<std::string> resolve_cache_dir(const std::string &explicit_dir = "") {
  if (!explicit_dir.empty())
    return explicit_dir;
  const char *env = std::getenv(kCacheDirEnv);
  if (!env || !*env)
    return std::string(kDefaultCacheDir);
  std::string v = env;
  if (v[0] != '/')
    return make_error(ErrorCode::bad_cache_dir, std::string(kCacheDirEnv) + "=" + v +
                                                    " is not an absolute path; refusing it");
  struct stat st {};
  if (::stat(v.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    return make_error(ErrorCode::bad_cache_dir,
                      std::string(kCacheDirEnv) + "=" + v + " exists but is not a directory");
  return v;
}

// Safety: which checks apply. By default the owner/mode checks apply exactly
// when running as root (the case where a planted file matters most).
struct Safety {
  bool owner_checks = ::geteuid() == 0;
  // O_NOFOLLOW and the one-link rule. Off only for files a user names on the
  // command line of an offline tool (`bundle create` inputs).
  bool strict_links = true;
};

inline std::string mode_string(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// check_dir_stat: the owner/mode rules for the cache directory.
inline std::optional<Error> check_dir_stat(const struct stat &st, const std::string &dir,
                                           const Safety &s) {
  if (!S_ISDIR(st.st_mode))
    return make_error(ErrorCode::unsafe, "cache directory " + dir + " is not a directory");
  if (!s.owner_checks)
    return std::nullopt;
  if (st.st_uid != 0)
    return make_error(ErrorCode::unsafe, "cache directory " + dir + " is owned by uid " +
                                             std::to_string(st.st_uid) +
                                             ", not root; refusing it while running as root");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return make_error(ErrorCode::unsafe, "cache directory " + dir +
                                             " is group- or world-writable (mode " +
                                             mode_string(st.st_mode) + "); refusing it");
  return std::nullopt;
}

// open_cache_dir: an O_DIRECTORY fd (O_NOFOLLOW under owner checks: a
// symlinked cache dir is refused as root). Errors: not_found, unsafe, io.
inline Result<int> open_cache_dir(const std::string &dir, const Safety &s = {}) {
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (s.owner_checks ? O_NOFOLLOW : 0);
  int fd = ::open(dir.c_str(), flags);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return make_error(ErrorCode::not_found, "cache directory " + dir + " does not exist");
    // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP):
    // lstat tells the symlink from a plain non-directory.
    struct stat lst {};
    if ((e == ELOOP || e == ENOTDIR) && ::lstat(dir.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
      return make_error(ErrorCode::unsafe, "cache directory " + dir +
                                               " is a symlink; refusing it while running as root");
    if (e == ENOTDIR)
      return make_error(ErrorCode::unsafe, "cache directory " + dir + " is not a directory");
    return make_error(ErrorCode::io, "cannot open cache directory " + dir + ": " + strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(ErrorCode::io, "cannot stat cache directory " + dir + ": " + strerror(e));
  }
  if (auto err = check_dir_stat(st, dir, s)) {
    ::close(fd);
    return *err;
  }
  return fd;
}

// A file opened and checked by open_file_at; closes it.
class CheckedFile {
public:
  CheckedFile(int fd, std::size_t size) : fd_(fd), size_(size) {}
  CheckedFile(CheckedFile &&o) noexcept : fd_(o.fd_), size_(o.size_) { o.fd_ = -1; }
  CheckedFile &operator=(CheckedFile &&) = delete;
  ~CheckedFile() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int fd() const { return fd_; }
  std::size_t size() const { return size_; } // by fstat, > 0 and within the cap

  // Reads up to size() bytes into `buf`; how many were read (fewer when the
  // file shrank under us: the parser reports that as truncated).
  Result<std::size_t> read_into(char *buf, const std::string &shown_path) const {
    std::size_t got = 0;
    while (got < size_) {
      ssize_t n = ::read(fd_, buf + got, size_ - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return make_error(ErrorCode::io, "cannot read " + shown_path + ": " + strerror(errno));
      if (n == 0)
        break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  }

private:
  int fd_;
  std::size_t size_;
};

// open_file_at: opens `name` relative to `dirfd` (or AT_FDCWD) with
// O_NOFOLLOW, checks it is a regular file with one link, within `cap` (by
// fstat, before reading), and, under owner checks, owned by root and not
// group- or world-writable. Errors: not_found, unsafe, too_large, truncated
// (empty), io.
inline Result<CheckedFile> open_file_at(int dirfd, const std::string &name,
                                        const std::string &shown_path, std::size_t cap,
                                        const Safety &s = {}) {
  // O_NONBLOCK: a planted FIFO must not hang the reader before fstat says so.
  int fd = ::openat(dirfd, name.c_str(),
                    O_RDONLY | O_CLOEXEC | O_NONBLOCK | (s.strict_links ? O_NOFOLLOW : 0));
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return make_error(ErrorCode::not_found, shown_path + " does not exist");
    if (e == ELOOP)
      return make_error(ErrorCode::unsafe, shown_path + " is a symlink; refusing to follow it");
    return make_error(ErrorCode::io, "cannot open " + shown_path + ": " + strerror(e));
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0)
        ::close(fd);
    }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return make_error(ErrorCode::io, "cannot stat " + shown_path + ": " + strerror(errno));
  if (!S_ISREG(st.st_mode))
    return make_error(ErrorCode::unsafe, shown_path + " is not a regular file");
  if (s.strict_links && st.st_nlink > 1)
    return make_error(ErrorCode::unsafe, shown_path + " has " + std::to_string(st.st_nlink) +
                                             " hard links; refusing it");
  if (s.owner_checks && st.st_uid != 0)
    return make_error(ErrorCode::unsafe, shown_path + " is owned by uid " +
                                             std::to_string(st.st_uid) +
                                             ", not root; refusing it while running as root");
  if (s.owner_checks && (st.st_mode & (S_IWGRP | S_IWOTH)))
    return make_error(ErrorCode::unsafe, shown_path + " is group- or world-writable (mode " +
                                             mode_string(st.st_mode) + "); refusing it");
  if (static_cast<uint64_t>(st.st_size) > cap)
    return make_error(ErrorCode::too_large, shown_path + " is " + std::to_string(st.st_size) +
                                                " bytes, over the " + std::to_string(cap) +
                                                "-byte limit; refusing to read it");
  if (st.st_size == 0)
    return make_error(ErrorCode::truncated, shown_path + " is empty (truncated)");
  closer.fd = -1;
  return CheckedFile(fd, static_cast<std::size_t>(st.st_size));
}

// read_file_at: open_file_at, then the whole file as a string.
inline Result<std::string> read_file_at(int dirfd, const std::string &name,
                                        const std::string &shown_path, std::size_t cap,
                                        const Safety &s = {}) {
  auto f = open_file_at(dirfd, name, shown_path, cap, s);
  if (!f)
    return f.error();
  std::string out(f.value().size(), '\0');
  auto got = f.value().read_into(out.data(), shown_path);
  if (!got)
    return got.error();
  out.resize(got.value());
  return out;
}

// open_file: open_file_at for a path of its own.
inline Result<CheckedFile> open_file(const std::string &path, std::size_t cap,
                                     const Safety &s = {}) {
  return open_file_at(AT_FDCWD, path, path, cap, s);
}

// read_file: read_file_at for a path of its own (bundles, `bundle create`
// inputs).
inline Result<std::string> read_file(const std::string &path, std::size_t cap,
                                     const Safety &s = {}) {
  return read_file_at(AT_FDCWD, path, path, cap, s);
}

} // namespace offsetprobe::reader
