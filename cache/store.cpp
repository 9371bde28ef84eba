// SPDX-License-Identifier: GPL-2.0-only
#include "cache/store.h"
#include "calibration/model/result_json.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

namespace offsetprobe {

using nlohmann::json;
using reader::ErrorCode;
using reader::make_error;

namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

CacheError io_error(const std::string &what, int e) {
  return make_error(ErrorCode::io, what + ": " + std::strerror(e));
}

} // namespace

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json to_json(const CacheEntry &e) {
  return {
      {"schema", kCacheSchema},
      {"kernel", to_json(e.kernel)},
      {"tool", {{"name", e.tool_name}, {"version", e.tool_version}}},
      {"calibrated_at", e.calibrated_at},
      {"calibration", to_json(e.calibration)},
  };
}

CacheResult<CacheEntry> entry_from_json(const json &j, const std::string &what,
                                        const std::string *expected_build_id) {
  auto h = reader::check_entry_header(j, what, expected_build_id);
  if (!h)
    return h.error();
  // The reader's field rules first (names, ranges, status vocabulary): a file
  // offsetprobe accepts is one every consumer accepts.
  const json &cal = j.at("calibration");
  reader::Offsets scratch;
  if (auto e = reader::extract_offsets(cal, what, scratch))
    return *e;
  std::string err;
  auto r = calibration_from_json(cal, err);
  if (!r)
    return make_error(ErrorCode::schema_invalid, what + ": calibration: " + err);
  CacheEntry e;
  e.kernel = std::move(h.value().kernel);
  e.tool_name = std::move(h.value().tool_name);
  e.tool_version = std::move(h.value().tool_version);
  e.calibrated_at = std::move(h.value().calibrated_at);
  e.calibration = std::move(*r);
  return e;
}

CacheResult<CacheEntry> parse_entry(std::string_view bytes, const std::string &what,
                                    const std::string *expected_build_id) {
  auto j = reader::parse_json(bytes, what);
  if (!j)
    return j.error();
  try {
    return entry_from_json(j.value(), what, expected_build_id);
  } catch (const std::exception &ex) { // defensive: nothing above should throw
    return make_error(ErrorCode::schema_invalid, what + ": " + ex.what());
  }
}

CacheLock &CacheLock::operator=(CacheLock &&o) noexcept {
  if (this != &o) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

CacheLock::~CacheLock() {
  if (fd_ >= 0)
    ::close(fd_); // releases the flock
}

CacheResult<std::string> CacheStore::resolve_dir(const std::string &cli_dir) {
  return reader::resolve_cache_dir(cli_dir);
}

std::string CacheStore::path_for(const std::string &build_id) const {
  return dir_ + "/" + reader::entry_file_name(build_id);
}

std::optional<CacheError> make_dirs(const std::string &dir) {
  if (dir.empty())
    return make_error(ErrorCode::bad_cache_dir, "empty cache directory");
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty())
      continue;
    if (::mkdir(cur.c_str(), 0755) == 0) {
      // The umask may have narrowed it; non-root consumers must get in.
      if (::chmod(cur.c_str(), 0755) != 0)
        return io_error("cannot chmod " + cur, errno);
    } else if (errno != EEXIST) {
      return io_error("cannot create " + cur, errno);
    }
  }
  return std::nullopt;
}

CacheResult<int> CacheStore::open_dir(bool create) const {
  if (create) {
    if (auto e = make_dirs(dir_))
      return *e;
  }
  return reader::open_cache_dir(dir_, safety_);
}

CacheResult<CacheEntry> CacheStore::load_build_id(const std::string &build_id) const {
  if (!valid_build_id(build_id))
    return make_error(ErrorCode::schema_invalid, "\"" + build_id + "\" is not a build id");
  auto dfd = open_dir(false);
  if (!dfd)
    return dfd.error();
  Fd dir(dfd.value());
  std::string name = reader::entry_file_name(build_id);
  auto bytes =
      reader::read_file_at(dir.fd, name, path_for(build_id), reader::kMaxEntryBytes, safety_);
  if (!bytes)
    return bytes.error();
  return parse_entry(bytes.value(), path_for(build_id), &build_id);
}

CacheResult<CacheEntry> CacheStore::load(const KernelId &kernel) const {
  auto r = load_build_id(kernel.build_id);
  if (!r && r.error().code == ErrorCode::not_found) {
    return make_error(ErrorCode::not_found,
                      "not calibrated: no entry for kernel " + describe(kernel) + " in " + dir_);
  }
  return r;
}

namespace {

// The pid in a temporary name ".<name>.tmp-<pid>-<n>-<r>", or 0.
pid_t temp_owner(const std::string &file, const std::string &prefix) {
  if (file.compare(0, prefix.size(), prefix) != 0)
    return 0;
  char *end = nullptr;
  long pid = std::strtol(file.c_str() + prefix.size(), &end, 10);
  return (pid > 0 && end && *end == '-') ? static_cast<pid_t>(pid) : 0;
}

// Removes the temporary files of writers that died (SIGKILL between the link
// and the rename below). Only a dead owner's file goes: a live writer's file
// is still being renamed. A reused pid keeps a stale file one more time, which
// is harmless.
void sweep_dead_temps(int dirfd, const std::string &name) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  DIR *d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  std::string prefix = "." + name + ".tmp-";
  std::vector<std::string> dead;
  while (struct dirent *e = ::readdir(d)) {
    pid_t pid = temp_owner(e->d_name, prefix);
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
      dead.emplace_back(e->d_name);
  }
  for (const auto &f : dead)
    ::unlinkat(dirfd, f.c_str(), 0);
  ::closedir(d);
}

// Gives an unnamed O_TMPFILE file a name in dirfd. Linking through
// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc path does not.
bool link_tmpfile(int fd, int dirfd, const std::string &tmp) {
  if (::linkat(fd, "", dirfd, tmp.c_str(), AT_EMPTY_PATH) == 0)
    return true;
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, self.c_str(), dirfd, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

} // namespace

CacheResult<std::string> atomic_write_file(int dirfd, const std::string &dir,
                                           const std::string &name, std::string_view data) {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  sweep_dead_temps(dirfd, name);
  std::string tmp = "." + name + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + "-" + std::to_string(rd());
  // The data is written to an unnamed file (O_TMPFILE) and named only once it
  // is complete and synced: a writer killed while writing (SIGKILL, which no
  // handler sees) leaves nothing behind. Where the file system has no
  // O_TMPFILE, a named temporary file is written instead.
  int fd = ::openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  bool named = fd < 0;
  if (named)
    fd = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error("cannot create a temporary file in " + dir, errno);
  auto fail = [&](const std::string &what, int e) {
    ::close(fd);
    if (named)
      ::unlinkat(dirfd, tmp.c_str(), 0);
    return io_error(what, e);
  };
  // The umask may have narrowed 0644; consumers that are not root must read it.
  if (::fchmod(fd, 0644) != 0)
    return fail("cannot chmod a temporary file in " + dir, errno);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("cannot write a temporary file in " + dir, errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0)
    return fail("cannot fsync a temporary file in " + dir, errno);
  if (!named && !link_tmpfile(fd, dirfd, tmp))
    return fail("cannot link a temporary file into " + dir, errno);
  named = true;
  if (::close(fd) != 0) {
    int e = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return io_error("cannot close " + dir + "/" + tmp, e);
  }
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) {
    int e = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return io_error("cannot rename into " + dir + "/" + name, e);
  }
  // The rename is durable only once the directory is.
  if (::fsync(dirfd) != 0)
    return io_error("cannot fsync " + dir, errno);
  return dir + "/" + name;
}

CacheResult<std::string> CacheStore::save(CacheEntry &entry) const {
  if (!valid_build_id(entry.kernel.build_id))
    return make_error(ErrorCode::schema_invalid,
                      "refusing to save: \"" + entry.kernel.build_id + "\" is not a build id");
  if (entry.calibrated_at.empty())
    entry.calibrated_at = utc_now_iso8601();
  json j = to_json(entry);
  // Never write what a reader would refuse.
  std::string what = "entry for " + entry.kernel.build_id;
  if (auto back = entry_from_json(j, what, &entry.kernel.build_id); !back)
    return make_error(back.error().code, "refusing to save: " + back.error().message);
  std::string text = j.dump(2) + "\n";
  auto dfd = open_dir(true);
  if (!dfd)
    return dfd.error();
  Fd dir(dfd.value());
  return atomic_write_file(dir.fd, dir_, reader::entry_file_name(entry.kernel.build_id), text);
}

CacheResult<CacheLock> CacheStore::lock() const {
  auto dfd = open_dir(true);
  if (!dfd)
    return dfd.error();
  Fd dir(dfd.value());
  int fd = ::openat(dir.fd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == ELOOP)
      return make_error(ErrorCode::unsafe, dir_ + "/.lock is a symlink; refusing it");
    return io_error("cannot open " + dir_ + "/.lock", errno);
  }
  CacheLock lock(fd);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR)
      return io_error("cannot lock " + dir_ + "/.lock", errno);
  }
  return lock;
}

CacheResult<std::vector<ListedEntry>> CacheStore::list() const {
  auto dfd = open_dir(false);
  if (!dfd)
    return dfd.error();
  DIR *d = ::fdopendir(dfd.value());
  if (!d) {
    int e = errno;
    ::close(dfd.value());
    return io_error("cannot list " + dir_, e);
  }
  std::vector<std::string> ids;
  while (auto *de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n.size() > 5 && n[0] != '.' && n.compare(n.size() - 5, 5, ".json") == 0)
      ids.push_back(n.substr(0, n.size() - 5));
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  std::vector<ListedEntry> out;
  for (const auto &id : ids) {
    ListedEntry le;
    le.build_id = id;
    le.path = path_for(id);
    auto r = load_build_id(id);
    if (r)
      le.entry = std::move(r.value());
    else
      le.error = r.error();
    out.push_back(std::move(le));
  }
  return out;
}

CacheResult<std::string> CacheStore::remove(const std::string &build_id) const {
  if (!valid_build_id(build_id))
    return make_error(ErrorCode::schema_invalid, "\"" + build_id + "\" is not a build id");
  auto dfd = open_dir(false);
  if (!dfd)
    return dfd.error();
  Fd dir(dfd.value());
  std::string name = reader::entry_file_name(build_id);
  if (::unlinkat(dir.fd, name.c_str(), 0) != 0) {
    if (errno == ENOENT)
      return make_error(ErrorCode::not_found, "no entry " + path_for(build_id));
    return io_error("cannot remove " + path_for(build_id), errno);
  }
  ::fsync(dir.fd);
  return path_for(build_id);
}

} // namespace offsetprobe
