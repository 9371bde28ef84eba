// SPDX-License-Identifier: GPL-2.0-only
// offsetprobe_reader.hpp: the consumer API of the offsetprobe cache.
//
// Header-only, C++17, depends only on <nlohmann/json.hpp> and POSIX. Other
// agents include it to get the task_struct offsets of the running kernel:
//
//   auto r = offsetprobe::reader::load_offsets();
//   if (!r) { log(r.error().message); return; }
//   if (auto off = r.value().offset("task_struct.group_leader")) use(*off);
//
// Nothing throws out of this header: every failure is an Error value with its
// own code and message. offsetprobe's own store (cache/store.cpp) uses the same
// functions, so a file the tool accepts is exactly a file this reader accepts.
//
// Safety rules (a planted cache file would steer other agents' kernel reads):
//  - the entry is opened with O_NOFOLLOW relative to the opened cache dir;
//    it must be a regular file with one link, at most kMaxEntryBytes (checked
//    with fstat before reading);
//  - when running as root, the cache dir and the file must be owned by root
//    and not group- or world-writable, and the dir must not be a symlink;
//  - the schema must be "offsetprobe/v1" (a newer version is refused, not
//    misread), the entry's build id must be the running kernel's, and JSON
//    nesting deeper than kMaxJsonDepth is refused before parsing;
//  - only fields that were calibrated AND validated, with an offset below
//    kMaxOffset, are returned. Nothing else is ever reported as an offset
//    (never 0 for "unknown").
#pragma once

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace offsetprobe::reader {

inline constexpr const char *kSchema = "offsetprobe/v1";
inline constexpr int kSchemaVersion = 1;
inline constexpr const char *kDefaultCacheDir = "/var/cache/offsetprobe";
inline constexpr const char *kCacheDirEnv = "OFFSETPROBE_CACHE_DIR";
inline constexpr const char *kProcVersionPrefix = "procversion-";
// A real entry is a few KiB; 1 MiB leaves room and bounds what a reader parses.
inline constexpr std::size_t kMaxEntryBytes = 1 << 20;
// Entries nest 4 levels deep; a deeper file is hostile or broken. nlohmann's
// parser copes with deep input, but recursive users of the tree (dump,
// comparison) would not, so it is refused up front.
inline constexpr std::size_t kMaxJsonDepth = 32;
// Exclusive bound: no struct we read is anywhere near 64 KiB.
inline constexpr uint32_t kMaxOffset = 65536;
inline constexpr uint32_t kMaxFieldSize = 4096;

// ErrorCode: why no offsets could be had. Each has its own message too.
enum class ErrorCode {
  not_found,      // no entry for this kernel (or no cache dir): run calibrate
  corrupt,        // not JSON, or nested too deeply
  truncated,      // JSON that ends early (an interrupted write or copy)
  schema_invalid, // JSON, but not a valid offsetprobe/v1 entry
  future_schema,  // written by a newer offsetprobe
  wrong_build_id, // an entry for another kernel build
  unsafe,         // symlink, hard link, not a regular file, bad owner or mode
  too_large,      // bigger than the size cap
  io,             // a read or open failed otherwise
  bad_cache_dir,  // the configured cache dir is unusable (e.g. relative env value)
  no_kernel_id,   // neither a build id nor /proc/version could be read
};

inline const char *to_string(ErrorCode c) {
  switch (c) {
  case ErrorCode::not_found:
    return "not_found";
  case ErrorCode::corrupt:
    return "corrupt";
  case ErrorCode::truncated:
    return "truncated";
  case ErrorCode::schema_invalid:
    return "schema_invalid";
  case ErrorCode::future_schema:
    return "future_schema";
  case ErrorCode::wrong_build_id:
    return "wrong_build_id";
  case ErrorCode::unsafe:
    return "unsafe";
  case ErrorCode::too_large:
    return "too_large";
  case ErrorCode::io:
    return "io";
  case ErrorCode::bad_cache_dir:
    return "bad_cache_dir";
  case ErrorCode::no_kernel_id:
    return "no_kernel_id";
  }
  return "io";
}

struct Error {
  ErrorCode code = ErrorCode::io;
  std::string message;
};

// Result: a value or an Error. Small on purpose; no exceptions.
template <class T> class Result {
public:
  Result(T v) : v_(std::move(v)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T &value() const & { return std::get<0>(v_); }
  T &value() & { return std::get<0>(v_); }
  T &&value() && { return std::get<0>(std::move(v_)); }
  const Error &error() const { return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

inline Error make_error(ErrorCode c, std::string msg) {
  return Error{c, std::move(msg)};
}

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), compact; used only for the weak /proc/version key.

inline std::string sha256_hex(std::string_view data) {
  static constexpr uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  std::string msg(data);
  uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  msg.push_back(static_cast<char>(0x80));
  while (msg.size() % 64 != 56)
    msg.push_back(0);
  for (int i = 7; i >= 0; --i)
    msg.push_back(static_cast<char>((bits >> (i * 8)) & 0xff));
  for (std::size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto *p = reinterpret_cast<const unsigned char *>(msg.data() + off + 4 * i);
      w[i] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int i = 28; i >= 0; i -= 4)
      out.push_back(hex[(v >> i) & 0xf]);
  return out;
}

// ---------------------------------------------------------------------------
// Kernel identity.

// KernelId: the cache key of a kernel build.
struct KernelId {
  std::string build_id; // lowercase hex GNU build id, or "procversion-<sha256 hex>"
  bool strong = false;  // true: GNU build id; false: the /proc/version digest fallback
  std::string release;  // uname -r
  std::string version;  // uname -v
  std::string machine;  // uname -m
  const char *source() const { return strong ? "gnu-build-id" : "proc-version-digest"; }
};

inline bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

// valid_build_id: the key forms we write. Also what keeps a key usable as a
// file name (no '/', no "..").
inline bool valid_build_id(std::string_view id) {
  std::string_view pv = kProcVersionPrefix;
  if (id.substr(0, pv.size()) == pv)
    return id.size() == pv.size() + 64 && is_lower_hex(id.substr(pv.size()));
  return id.size() >= 2 && id.size() <= 128 && id.size() % 2 == 0 && is_lower_hex(id);
}

// parse_gnu_build_id: finds the NT_GNU_BUILD_ID (type 3, name "GNU") note in a
// raw sequence of ELF notes as found in /sys/kernel/notes (Elf64_Nhdr and
// Elf32_Nhdr are the same: three 4-byte words; name and desc each padded to 4
// bytes). Returns the desc as lowercase hex, or nothing if there is no such
// note or the blob is malformed before one is found.
inline std::optional<std::string> parse_gnu_build_id(const void *data, std::size_t size) {
  const auto *p = static_cast<const unsigned char *>(data);
  auto align4 = [](uint64_t v) { return (v + 3) & ~uint64_t(3); };
  uint64_t off = 0;
  while (off + 12 <= size) {
    uint32_t namesz, descsz, type;
    std::memcpy(&namesz, p + off, 4);
    std::memcpy(&descsz, p + off + 4, 4);
    std::memcpy(&type, p + off + 8, 4);
    uint64_t name_off = off + 12;
    uint64_t desc_off = name_off + align4(namesz);
    uint64_t next = desc_off + align4(descsz);
    if (desc_off + descsz > size)
      return std::nullopt; // a note runs past the end: stop, trust nothing after
    if (type == 3 && namesz == 4 && std::memcmp(p + name_off, "GNU", 4) == 0 && descsz >= 1 &&
        descsz <= 64) {
      static constexpr char hex[] = "0123456789abcdef";
      std::string out;
      for (uint64_t i = 0; i < descsz; ++i) {
        out.push_back(hex[p[desc_off + i] >> 4]);
        out.push_back(hex[p[desc_off + i] & 0xf]);
      }
      return out;
    }
    off = next;
  }
  return std::nullopt;
}

// make_kernel_id: the pure part of read_kernel_id(). Without a build id the key
// is a digest of /proc/version and the uname fields: two builds with the same
// release still differ in their version string (build number, date, compiler).
inline KernelId make_kernel_id(const std::optional<std::string> &notes_blob,
                               const std::string &proc_version, const std::string &release,
                               const std::string &version, const std::string &machine) {
  KernelId k;
  k.release = release;
  k.version = version;
  k.machine = machine;
  if (notes_blob) {
    if (auto id = parse_gnu_build_id(notes_blob->data(), notes_blob->size())) {
      k.build_id = *id;
      k.strong = true;
      return k;
    }
  }
  k.build_id = std::string(kProcVersionPrefix) +
               sha256_hex(proc_version + "\n" + release + "\n" + version + "\n" + machine);
  return k;
}

// read_small_file: whole contents of a pseudo-file (up to `cap` bytes).
inline std::optional<std::string> read_small_file(const char *path, std::size_t cap = 1 << 16) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > cap)
      break;
  }
  ::close(fd);
  return out;
}

// read_kernel_id: the running kernel's key, from /sys/kernel/notes, else from
// /proc/version and uname(). Errors: no_kernel_id.
inline Result<KernelId> read_kernel_id(const char *notes_path = "/sys/kernel/notes") {
  struct utsname u {};
  if (::uname(&u) != 0)
    return make_error(ErrorCode::no_kernel_id, "uname failed: " + std::string(strerror(errno)));
  auto notes = read_small_file(notes_path);
  if (notes && parse_gnu_build_id(notes->data(), notes->size()))
    return make_kernel_id(notes, "", u.release, u.version, u.machine); // /proc/version unused
  auto pv = read_small_file("/proc/version");
  if (!pv)
    return make_error(ErrorCode::no_kernel_id,
                      "no GNU build id in /sys/kernel/notes and cannot read /proc/version to "
                      "identify the kernel");
  return make_kernel_id(std::nullopt, *pv, u.release, u.version, u.machine);
}

// ---------------------------------------------------------------------------
// Cache directory and safe file access.

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

// read_file_at: reads `name` relative to `dirfd` (or AT_FDCWD) with O_NOFOLLOW,
// checks it is a regular file with one link, within `cap` (by fstat, before
// reading), and, under owner checks, owned by root and not group- or
// world-writable. Errors: not_found, unsafe, too_large, truncated (empty), io.
inline Result<std::string> read_file_at(int dirfd, const std::string &name,
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
    ~Closer() { ::close(fd); }
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
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return make_error(ErrorCode::io, "cannot read " + shown_path + ": " + strerror(errno));
    if (n == 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got); // shrank under us: the parser reports it as truncated
  return out;
}

// read_file: read_file_at for a path of its own (bundles, `bundle create`
// inputs).
inline Result<std::string> read_file(const std::string &path, std::size_t cap,
                                     const Safety &s = {}) {
  return read_file_at(AT_FDCWD, path, path, cap, s);
}

// ---------------------------------------------------------------------------
// Parsing and validation.

// parse_json: depth-limited, non-throwing parse. Errors: corrupt, truncated.
// A parser callback (nlohmann's) may drop values the caller will not use,
// which saves building them; the whole text is still checked.
inline Result<nlohmann::json> parse_json(std::string_view text, const std::string &what,
                                         std::size_t max_depth = kMaxJsonDepth,
                                         const nlohmann::json::parser_callback_t &keep = nullptr) {
  std::size_t depth = 0;
  bool in_string = false, escape = false, any = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return make_error(ErrorCode::corrupt, what + " is nested more than " +
                                                  std::to_string(max_depth) +
                                                  " levels deep; refusing to parse it");
    } else if ((c == ']' || c == '}') && depth > 0)
      --depth;
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
      any = true;
  }
  if (!any)
    return make_error(ErrorCode::truncated, what + " holds no JSON (empty or truncated)");
  try {
    return nlohmann::json::parse(text.begin(), text.end(), keep);
  } catch (const nlohmann::json::parse_error &e) {
    // An error at the very end of the input means the document stopped early.
    if (e.byte >= text.size())
      return make_error(ErrorCode::truncated, what + " ends early after " +
                                                  std::to_string(text.size()) +
                                                  " bytes (truncated JSON)");
    return make_error(ErrorCode::corrupt,
                      what + " is not valid JSON (byte " + std::to_string(e.byte) + ")");
  } catch (const std::exception &) {
    return make_error(ErrorCode::corrupt, what + " is not valid JSON");
  }
}

// A field or struct name: an identifier path ("task_struct.signal.pids").
// Kept narrow so names can go into C macros and comments without escaping.
inline bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 128)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && (digit || c == '.'))))
      return false;
  }
  return s.back() != '.';
}

// valid_timestamp: "YYYY-MM-DDTHH:MM:SSZ" with optional fractional seconds.
inline bool valid_timestamp(std::string_view s) {
  static constexpr std::string_view pat = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < pat.size() + 1 || s.back() != 'Z')
    return false;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    bool d = s[i] >= '0' && s[i] <= '9';
    if (pat[i] == 'd' ? !d : s[i] != pat[i])
      return false;
  }
  std::string_view frac = s.substr(pat.size(), s.size() - pat.size() - 1);
  if (frac.empty())
    return true;
  if (frac[0] != '.' || frac.size() < 2 || frac.size() > 10)
    return false;
  for (char c : frac.substr(1))
    if (c < '0' || c > '9')
      return false;
  return true;
}

// EntryHeader: the envelope of a cache entry, everything but "calibration".
struct EntryHeader {
  std::string schema;
  KernelId kernel;
  std::string tool_name, tool_version;
  std::string calibrated_at;
};

namespace detail {
inline const nlohmann::json *member(const nlohmann::json &j, const char *key) {
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
inline std::optional<std::string> string_member(const nlohmann::json &j, const char *key) {
  const auto *v = member(j, key);
  if (!v || !v->is_string())
    return std::nullopt;
  return v->get<std::string>();
}
} // namespace detail

// check_schema: "offsetprobe/v1" or an error saying why not. A higher
// "offsetprobe/vN" is future_schema: a newer tool wrote it and its meaning may
// have changed, so it is refused rather than misread.
inline std::optional<Error> check_schema(const nlohmann::json &j, const std::string &what,
                                         const char *expected = kSchema) {
  if (!j.is_object())
    return make_error(ErrorCode::schema_invalid, what + ": top level is not a JSON object");
  auto schema = detail::string_member(j, "schema");
  if (!schema)
    return make_error(ErrorCode::schema_invalid, what + ": missing or non-string \"schema\"");
  if (*schema == expected)
    return std::nullopt;
  std::string_view exp = expected;
  std::string_view prefix = exp.substr(0, exp.rfind("/v") + 2);
  std::string_view got = *schema;
  if (got.substr(0, prefix.size()) == prefix) {
    std::string_view num = got.substr(prefix.size());
    bool digits = !num.empty() && num.size() < 9 &&
                  num.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits && std::stoi(std::string(num)) > std::stoi(std::string(exp.substr(prefix.size()))))
      return make_error(ErrorCode::future_schema,
                        what + ": schema \"" + *schema +
                            "\" was written by a newer offsetprobe; this reader understands \"" +
                            expected + "\" only (upgrade the reader or recalibrate)");
  }
  return make_error(ErrorCode::schema_invalid,
                    what + ": unknown schema \"" + *schema + "\" (expected \"" + expected + "\")");
}

// check_entry_header: schema, kernel identity, tool, time. With an expected
// build id, an entry for another kernel is wrong_build_id.
inline Result<EntryHeader> check_entry_header(const nlohmann::json &j, const std::string &what,
                                              const std::string *expected_build_id = nullptr) {
  if (auto e = check_schema(j, what))
    return *e;
  EntryHeader h;
  h.schema = kSchema;
  auto bad = [&](const std::string &m) {
    return make_error(ErrorCode::schema_invalid, what + ": " + m);
  };
  const auto *k = detail::member(j, "kernel");
  if (!k || !k->is_object())
    return bad("missing \"kernel\" object");
  auto id = detail::string_member(*k, "build_id");
  auto src = detail::string_member(*k, "build_id_source");
  auto rel = detail::string_member(*k, "release");
  auto ver = detail::string_member(*k, "version");
  auto mach = detail::string_member(*k, "machine");
  if (!id || !valid_build_id(*id))
    return bad("\"kernel.build_id\" is missing or not a valid build id");
  if (!src || (*src != "gnu-build-id" && *src != "proc-version-digest"))
    return bad("\"kernel.build_id_source\" must be \"gnu-build-id\" or \"proc-version-digest\"");
  h.kernel.build_id = *id;
  h.kernel.strong = *src == "gnu-build-id";
  if (h.kernel.strong == (id->rfind(kProcVersionPrefix, 0) == 0))
    return bad("\"kernel.build_id_source\" does not match the form of \"kernel.build_id\"");
  if (!rel || !ver || !mach)
    return bad("\"kernel.release\", \"kernel.version\" and \"kernel.machine\" must be strings");
  h.kernel.release = *rel;
  h.kernel.version = *ver;
  h.kernel.machine = *mach;
  const auto *t = detail::member(j, "tool");
  if (!t || !t->is_object())
    return bad("missing \"tool\" object");
  auto tn = detail::string_member(*t, "name");
  auto tv = detail::string_member(*t, "version");
  if (!tn || !tv)
    return bad("\"tool.name\" and \"tool.version\" must be strings");
  h.tool_name = *tn;
  h.tool_version = *tv;
  auto at = detail::string_member(j, "calibrated_at");
  if (!at || !valid_timestamp(*at))
    return bad("\"calibrated_at\" is missing or not an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
  h.calibrated_at = *at;
  const auto *c = detail::member(j, "calibration");
  if (!c || !c->is_object())
    return bad("missing \"calibration\" object");
  if (expected_build_id && *expected_build_id != h.kernel.build_id)
    return make_error(ErrorCode::wrong_build_id,
                      what + ": entry is for kernel build " + h.kernel.build_id + " (" +
                          h.kernel.release + "), but the running kernel is " + *expected_build_id +
                          "; refusing to use offsets of another build");
  return h;
}

// Field: one usable offset.
struct Field {
  uint32_t offset = 0;
  uint32_t size = 0;
  std::string alias_of; // set when this name is an alias ("task_struct.real_start_time")
};

// Offsets: the usable offsets of one kernel, by full name ("task_struct.pid")
// and by alias ("task_struct.real_start_time"). Only calibrated + validated.
struct Offsets {
  KernelId kernel;
  std::string calibrated_at;
  std::string path; // where they came from
  std::map<std::string, Field, std::less<>> fields;
  // Fields present in the entry but not usable, with why ("ambiguous", ...).
  std::vector<std::pair<std::string, std::string>> omitted;

  const Field *find(std::string_view name) const {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  }
  std::optional<uint32_t> offset(std::string_view name) const {
    const Field *f = find(name);
    return f ? std::optional<uint32_t>(f->offset) : std::nullopt;
  }
  // Pointer fields whose candidates are interchangeable ("interchangeable":
  // true, ambiguous, validation passed): which candidate is this field is
  // unknown, but every candidate held the same address and the members
  // behind it were read back through them. Name -> the first candidate.
  std::map<std::string, uint32_t, std::less<>> interchangeable;
  // An offset to dereference for the members behind pointer field `name`
  // (e.g. "task_struct.cred" for the cred ids): its calibrated offset, else
  // an interchangeable candidate. Not an answer to "where is `name`".
  std::optional<uint32_t> pointer_offset(std::string_view name) const {
    if (auto o = offset(name))
      return o;
    auto it = interchangeable.find(name);
    return it == interchangeable.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
};

// extract_offsets: checks every element of calibration.fields (types, names,
// status/validation vocabulary, offset range) and keeps the usable ones. One
// bad field voids the entry: a writer that got one field wrong is not trusted
// for the others. Errors: schema_invalid.
inline std::optional<Error> extract_offsets(const nlohmann::json &calibration,
                                            const std::string &what, Offsets &out) {
  auto bad = [&](const std::string &m) {
    return make_error(ErrorCode::schema_invalid, what + ": " + m);
  };
  const auto *fields = detail::member(calibration, "fields");
  if (!fields || !fields->is_array())
    return bad("missing \"calibration.fields\" array");
  // The calibrator searches only below the task_struct slab object size it
  // recorded; an offset whose field ends past it cannot have come from it.
  const auto *struct_size = detail::member(calibration, "task_struct_size");
  std::optional<uint64_t> max_end;
  if (struct_size && struct_size->is_number_unsigned())
    max_end = struct_size->get<uint64_t>();
  std::size_t i = 0;
  for (const auto &f : *fields) {
    std::string at = "calibration.fields[" + std::to_string(i++) + "]";
    if (!f.is_object())
      return bad(at + " is not an object");
    auto name = detail::string_member(f, "name");
    auto st = detail::string_member(f, "struct");
    auto mem = detail::string_member(f, "member");
    auto status = detail::string_member(f, "status");
    auto validation = detail::string_member(f, "validation");
    if (!name || !valid_name(*name) || !st || !valid_name(*st) || !mem || !valid_name(*mem))
      return bad(at + ": \"name\", \"struct\" and \"member\" must be identifier paths");
    at += " (" + *name + ")";
    if (*name != *st + "." + *mem)
      return bad(at + ": \"name\" is not \"struct.member\"");
    if (!status || (*status != "calibrated" && *status != "ambiguous" && *status != "unresolved" &&
                    *status != "not_present"))
      return bad(at + ": \"status\" must be calibrated, ambiguous, unresolved or not_present");
    if (!validation ||
        (*validation != "passed" && *validation != "failed" && *validation != "not_run"))
      return bad(at + ": \"validation\" must be passed, failed or not_run");
    const auto *size = detail::member(f, "size");
    if (!size || !size->is_number_unsigned() || size->get<uint64_t>() > kMaxFieldSize)
      return bad(at + ": \"size\" must be an integer in 0.." + std::to_string(kMaxFieldSize));
    const auto *off = detail::member(f, "offset");
    if (!off)
      return bad(at + ": missing \"offset\" (null when not calibrated)");
    if (!off->is_null()) {
      // is_number_unsigned() is false for negatives and for floats (1e300, 8.0).
      if (!off->is_number_unsigned())
        return bad(at + ": \"offset\" is not a non-negative integer");
      if (off->get<uint64_t>() >= kMaxOffset)
        return bad(at + ": \"offset\" " + std::to_string(off->get<uint64_t>()) + " is not below " +
                   std::to_string(kMaxOffset));
      if (max_end && off->get<uint64_t>() + size->get<uint64_t>() > *max_end)
        return bad(at + ": \"offset\" " + std::to_string(off->get<uint64_t>()) + " + size " +
                   std::to_string(size->get<uint64_t>()) + " is past task_struct_size " +
                   std::to_string(*max_end));
    }
    bool calibrated = *status == "calibrated";
    if (calibrated && off->is_null())
      return bad(at + ": calibrated but \"offset\" is null");
    if (!calibrated && !off->is_null())
      return bad(at + ": has an offset but is " + *status);
    std::vector<std::string> aliases;
    if (const auto *al = detail::member(f, "aliases")) {
      if (!al->is_array())
        return bad(at + ": \"aliases\" is not an array");
      for (const auto &a : *al) {
        if (!a.is_string() || !valid_name(a.get_ref<const std::string &>()))
          return bad(at + ": an alias is not an identifier");
        aliases.push_back(*st + "." + a.get<std::string>());
      }
    }
    if (const auto *ic = detail::member(f, "interchangeable")) {
      if (!ic->is_boolean())
        return bad(at + ": \"interchangeable\" is not a boolean");
      const auto *cands = detail::member(f, "candidates");
      if (ic->get<bool>() && *status == "ambiguous" && *validation == "passed" && cands &&
          cands->is_array() && !cands->empty()) {
        const auto &c = cands->front();
        if (!c.is_number_unsigned() || c.get<uint64_t>() >= kMaxOffset)
          return bad(at + ": a candidate is not an offset");
        out.interchangeable.emplace(*name, static_cast<uint32_t>(c.get<uint64_t>()));
      }
    }
    if (!calibrated) {
      out.omitted.emplace_back(*name, *status);
      continue;
    }
    if (*validation != "passed") {
      out.omitted.emplace_back(*name, "calibrated but validation " + *validation);
      continue;
    }
    Field fld;
    fld.offset = static_cast<uint32_t>(off->get<uint64_t>());
    fld.size = static_cast<uint32_t>(size->get<uint64_t>());
    if (!out.fields.emplace(*name, fld).second)
      return bad(at + ": field listed twice");
    for (const auto &a : aliases) {
      Field af = fld;
      af.alias_of = *name;
      if (!out.fields.emplace(a, af).second)
        return bad(at + ": alias " + a + " collides with another name");
    }
  }
  return std::nullopt;
}

// parse_entry: bytes of a cache entry -> usable offsets (the whole reader
// pipeline after the file read). Errors: corrupt, truncated, schema_invalid,
// future_schema, wrong_build_id.
inline Result<Offsets> parse_entry(std::string_view bytes, const std::string &what,
                                   const std::string *expected_build_id = nullptr) {
  auto j = parse_json(bytes, what);
  if (!j)
    return j.error();
  auto h = check_entry_header(j.value(), what, expected_build_id);
  if (!h)
    return h.error();
  Offsets o;
  o.kernel = std::move(h.value().kernel);
  o.calibrated_at = std::move(h.value().calibrated_at);
  if (auto e = extract_offsets(j.value()["calibration"], what, o))
    return *e;
  return o;
}

// entry_file_name: "<build id>.json".
inline std::string entry_file_name(const std::string &build_id) {
  return build_id + ".json";
}

// load_offsets_for: the entry of `kernel` in `cache_dir` (already resolved).
inline Result<Offsets> load_offsets_for(const std::string &cache_dir, const KernelId &kernel,
                                        const Safety &s = {}) {
  if (!valid_build_id(kernel.build_id))
    return make_error(ErrorCode::no_kernel_id,
                      "invalid kernel build id \"" + kernel.build_id + "\"");
  auto dfd = open_cache_dir(cache_dir, s);
  if (!dfd) {
    Error e = dfd.error();
    if (e.code == ErrorCode::not_found)
      e.message = "not calibrated: " + e.message;
    return e;
  }
  std::string name = entry_file_name(kernel.build_id);
  std::string path = cache_dir + "/" + name;
  auto bytes = read_file_at(dfd.value(), name, path, kMaxEntryBytes, s);
  ::close(dfd.value());
  if (!bytes) {
    Error e = bytes.error();
    if (e.code == ErrorCode::not_found)
      e.message = "not calibrated: no entry for kernel " + kernel.build_id + " (" + kernel.release +
                  ") in " + cache_dir;
    return e;
  }
  auto o = parse_entry(bytes.value(), path, &kernel.build_id);
  if (o)
    o.value().path = path;
  return o;
}

// load_offsets: the offsets of the running kernel. `cache_dir` empty means
// $OFFSETPROBE_CACHE_DIR, else /var/cache/offsetprobe. Never throws.
// Errors: every ErrorCode.
inline Result<Offsets> load_offsets(const std::string &cache_dir = "") noexcept {
  try {
    auto dir = resolve_cache_dir(cache_dir);
    if (!dir)
      return dir.error();
    auto k = read_kernel_id();
    if (!k)
      return k.error();
    return load_offsets_for(dir.value(), k.value());
  } catch (const std::exception &e) { // std::bad_alloc and the like
    return make_error(ErrorCode::io, std::string("unexpected failure: ") + e.what());
  }
}

} // namespace offsetprobe::reader
