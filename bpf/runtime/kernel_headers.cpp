// SPDX-License-Identifier: GPL-2.0-only
#include "bpf/runtime/kernel_headers.h"

#include "calibration/model/error.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace offsetprobe {

namespace {

bool is_file(const fs::path &p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path &p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The two halves BCC needs: kconfig.h comes from the source half, autoconf.h
// from the build half (BCC's kbuild flags -include the first; the second
// carries the kernel's configuration).
bool has_source_half(const fs::path &d) {
  return is_file(d / "include/linux/kconfig.h");
}
bool has_build_half(const fs::path &d) {
  return is_file(d / "include/generated/autoconf.h");
}

std::string canonical_str(const fs::path &p) {
  std::error_code ec;
  auto c = fs::canonical(p, ec);
  return ec ? p.string() : c.string();
}

std::string uts_release_of(const fs::path &build) {
  std::ifstream f(build / "include/generated/utsrelease.h");
  std::string line;
  while (std::getline(f, line)) {
    auto q = line.find('"');
    auto e = line.rfind('"');
    if (line.find("UTS_RELEASE") != std::string::npos && q != std::string::npos && e > q)
      return line.substr(q + 1, e - q - 1);
  }
  return "";
}

// Debian's arch dir holds a one-line Makefile: "include <common>/Makefile".
std::optional<fs::path> debian_common_of(const fs::path &arch) {
  std::ifstream f(arch / "Makefile");
  std::string word, path;
  while (f >> word) {
    if (word != "include" || !(f >> path))
      continue;
    fs::path p(path);
    if (p.filename() == "Makefile" && has_source_half(p.parent_path()))
      return p.parent_path();
  }
  // Same package naming without the Makefile: linux-headers-V-N-<flavour>
  // next to linux-headers-V-N-common.
  std::string name = arch.filename().string();
  auto dash = name.rfind('-');
  if (dash != std::string::npos) {
    fs::path common = arch.parent_path() / (name.substr(0, dash) + "-common");
    if (has_source_half(common))
      return common;
  }
  return std::nullopt;
}

// The build halves that go with a Debian common dir (linux-headers-V-N-*).
std::vector<fs::path> debian_arches_of(const fs::path &common) {
  std::vector<fs::path> out;
  std::string name = common.filename().string();
  const std::string suffix = "-common";
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return out;
  std::string prefix = name.substr(0, name.size() - suffix.size() + 1);
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(common.parent_path(), ec)) {
    std::string n = e.path().filename().string();
    if (n != name && n.rfind(prefix, 0) == 0 && has_build_half(e.path()))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

std::optional<HeaderSet> resolve_header_dir(const std::string &dir_in, std::string &error) {
  fs::path dir(dir_in);
  if (!is_dir(dir)) {
    error = dir_in + " is not a directory";
    return std::nullopt;
  }
  HeaderSet set;
  bool src = has_source_half(dir), build = has_build_half(dir);
  if (src && build) {
    set.layers = {canonical_str(dir)};
  } else if (build) {
    // A build half: its source is a `source` entry beside it (/lib/modules),
    // inside it (O= builds), or Debian's common dir.
    std::optional<fs::path> partner;
    for (const auto &cand : {dir.parent_path() / "source", dir / "source"})
      if (has_source_half(cand) && canonical_str(cand) != canonical_str(dir))
        partner = cand;
    if (!partner)
      partner = debian_common_of(dir);
    if (!partner) {
      error = dir_in + " has generated headers but no kernel source headers " +
              "(include/linux/kconfig.h) beside it: for Debian's split packages give the " +
              "linux-headers-*-<flavour> directory with its -common sibling installed";
      return std::nullopt;
    }
    set.layers = {canonical_str(dir), canonical_str(*partner)};
  } else if (src) {
    auto arches = debian_arches_of(dir);
    if (arches.empty()) {
      error = dir_in + " has kernel source headers but no generated ones " +
              "(include/generated/autoconf.h): it is not a configured kernel header tree";
      return std::nullopt;
    }
    // Several flavours (amd64, cloud-amd64, rt-amd64) share one common dir:
    // the plain one sorts first. The user can name another explicitly.
    set.layers = {canonical_str(arches.front()), canonical_str(dir)};
  } else {
    error = dir_in + " is not a kernel header tree (neither include/linux/kconfig.h nor " +
            "include/generated/autoconf.h)";
    return std::nullopt;
  }
  set.uts_release = uts_release_of(set.layers.front());
  return set;
}

HeaderLookup find_kernel_headers(const HeaderSearch &s) {
  HeaderLookup out;
  std::string error;
  if (!s.explicit_dir.empty()) {
    out.set = resolve_header_dir(s.explicit_dir, error);
    if (out.set)
      out.set->origin = "--kernel-headers " + s.explicit_dir;
    else
      out.error = "--kernel-headers: " + error;
    return out;
  }
  std::vector<std::string> tried;
  if (!s.release.empty()) {
    fs::path build = fs::path(s.modules_root) / s.release / "build";
    if (is_dir(build)) {
      out.set = resolve_header_dir(build.string(), error);
      if (out.set) {
        out.set->origin = build.string();
        return out;
      }
      tried.push_back(error);
    } else {
      tried.push_back(build.string() + " does not exist");
    }
  }
  if (s.allow_usr_src) {
    // The newest complete tree wins (version order: 6.1.0-9 < 6.1.0-10).
    std::vector<fs::path> trees;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(s.usr_src, ec)) {
      std::string n = e.path().filename().string();
      if (n.rfind("linux-headers-", 0) == 0 && has_build_half(e.path()))
        trees.push_back(e.path());
    }
    std::sort(trees.begin(), trees.end(), [](const fs::path &a, const fs::path &b) {
      return strverscmp(a.filename().c_str(), b.filename().c_str()) > 0;
    });
    for (const auto &t : trees) {
      out.set = resolve_header_dir(t.string(), error);
      if (out.set) {
        out.set->origin = t.string() + " (fallback: newest in " + s.usr_src + ")";
        return out;
      }
      tried.push_back(error);
    }
    if (trees.empty())
      tried.push_back("no linux-headers-* tree in " + s.usr_src);
  }
  std::string detail;
  for (const auto &t : tried)
    detail += (detail.empty() ? "" : "; ") + t;
  out.error = detail;
  return out;
}

std::string no_headers_message(const std::string &detail) {
  return "the BCC backend needs kernel headers and found none (" + detail +
         "). Install a header package, e.g. `apt-get install linux-headers-amd64` (headers of a "
         "nearby kernel are fine: every task_struct access goes through calibrated offsets), or "
         "point at a header tree with --kernel-headers DIR; or use the default libbpf backend, "
         "which needs no headers";
}

std::string private_temp_base() {
  if (access("/run", W_OK | X_OK) == 0)
    return "/run";
  if (const char *t = getenv("TMPDIR"); t && *t && access(t, W_OK | X_OK) == 0)
    return t;
  return "/tmp";
}

namespace {

// Links every entry of the layers into dst; an entry that is a directory in
// more than one layer becomes a real directory, merged recursively.
void merge_into(const fs::path &dst, const std::vector<fs::path> &layers) {
  std::set<std::string> names;
  for (const auto &l : layers) {
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(l, ec))
      names.insert(e.path().filename().string());
  }
  for (const auto &n : names) {
    std::vector<fs::path> have;
    bool all_dirs = true;
    for (const auto &l : layers) {
      std::error_code ec;
      if (fs::exists(l / n, ec)) {
        have.push_back(l / n);
        all_dirs &= is_dir(l / n);
      }
    }
    if (have.empty())
      continue; // a dangling symlink in a layer
    if (have.size() > 1 && all_dirs) {
      fs::create_directory(dst / n);
      merge_into(dst / n, have);
    } else {
      // Absolute targets: relative includes ("../x.h") then resolve inside
      // the real tree, exactly as without the view.
      fs::create_symlink(canonical_str(have.front()), dst / n);
    }
  }
}

} // namespace

namespace {

constexpr const char *kViewPrefix = "offsetprobe-headers-";

// Opens `dir` (not following a symlink) and takes its exclusive flock; -1 if
// it cannot be opened or (with `nonblock`) someone holds the lock.
int lock_dir(const std::string &dir, bool nonblock) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  while (::flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) != 0) {
    if (errno == EINTR)
      continue;
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when `fd` is still the directory at `path` (a sweeper that took the
// lock first may have removed it).
bool same_dir(int fd, const std::string &path) {
  struct stat a {
  }, b{};
  return ::fstat(fd, &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino && a.st_nlink > 0;
}

} // namespace

int sweep_dead_header_views(const std::string &base) {
  int removed = 0;
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kViewPrefix, 0) != 0)
      continue;
    // Only our own real directories: never a symlink, nor another user's.
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
      continue;
    int fd = lock_dir(e.path().string(), true);
    if (fd < 0)
      continue; // alive (its owner holds the lock), or gone already
    // Still the directory we locked: remove it while holding the lock, so
    // that a creator racing with us sees it gone and makes another.
    if (same_dir(fd, e.path().string())) {
      std::error_code rec;
      fs::remove_all(e.path(), rec); // does not follow the view's symlinks
      removed += rec ? 0 : 1;
    }
    ::close(fd);
  }
  return removed;
}

MergedHeaderView::MergedHeaderView(const HeaderSet &set, const std::string &base) {
  if (set.layers.size() == 1) {
    path_ = set.layers.front();
    return;
  }
  sweep_dead_header_views(base);
  // mkdtemp, then the lock: a sweeper can take the lock of a directory made
  // an instant ago, before its creator locked it. The creator then finds it
  // removed (or no longer the one it made) and makes another.
  for (int attempt = 0; lock_fd_ < 0; attempt++) {
    std::string tmpl = base + "/" + kViewPrefix + std::to_string(::getpid()) + "-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      throw Error(ErrorKind::failure,
                  "creating a merged header view under " + base + ": " + std::strerror(errno));
    int fd = lock_dir(tmpl, false);
    if (fd >= 0 && same_dir(fd, tmpl)) {
      lock_fd_ = fd;
      owned_ = path_ = tmpl;
      break;
    }
    if (fd >= 0)
      ::close(fd);
    if (attempt == 10)
      throw Error(ErrorKind::failure, "creating a merged header view under " + base +
                                          ": removed under us ten times in a row");
  }
  try {
    std::vector<fs::path> layers(set.layers.begin(), set.layers.end());
    merge_into(path_, layers);
  } catch (const fs::filesystem_error &e) {
    std::error_code ec;
    fs::remove_all(owned_, ec);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw Error(ErrorKind::failure, std::string("creating a merged header view: ") + e.what());
  }
}

MergedHeaderView::~MergedHeaderView() {
  if (owned_.empty())
    return;
  // remove_all does not follow symlinks: only the view itself goes. The lock
  // is dropped last, so that no sweeper races with this removal.
  std::error_code ec;
  fs::remove_all(owned_, ec);
  if (lock_fd_ >= 0)
    ::close(lock_fd_);
}

} // namespace offsetprobe
