// SPDX-License-Identifier: GPL-2.0-only
// reader/kernel_id.hpp: the cache key of the running kernel (its GNU build id,
// else a digest of /proc/version and uname). Part of offsetprobe_reader.hpp.
#pragma once

#include "constants.hpp"
#include "errors.hpp"
#include "sha256.hpp"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace offsetprobe::reader {

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

} // namespace offsetprobe::reader
