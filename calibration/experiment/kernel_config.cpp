// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/kernel_config.h"

#include "calibration/solve/layout_order.h"

#include <array>
#include <cerrno>

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

namespace offsetprobe {

namespace {

// Streams the config through `randstruct_in_config`, a block of whole lines
// at a time, rather than holding its ~100-200 KiB of text: every page a
// calibration touches for the first time costs a page fault (~10 us on this
// kind of VM), and gunzipping into a growing string with a 64 KiB buffer was
// ~100 of them at the start of every calibration.
class LineBlocks {
public:
  // Whole lines of `data` go to the check; a partial last line waits for
  // the next call.
  void add(const char *data, size_t n) {
    bytes_ += n;
    pending_.append(data, n);
    size_t end = pending_.rfind('\n');
    if (end == std::string::npos)
      return;
    check(pending_.substr(0, end + 1));
    pending_.erase(0, end + 1);
  }
  // The config's end: its last line, if it has no newline.
  std::string finish() {
    if (!pending_.empty())
      check(pending_);
    pending_.clear();
    return found_;
  }
  bool any() const { return bytes_ > 0; }

private:
  void check(const std::string &lines) {
    if (found_.empty())
      found_ = randstruct_in_config(lines);
  }
  std::string pending_;
  std::string found_;
  size_t bytes_ = 0;
};

struct Fd {
  int fd;
  explicit Fd(const char *path) : fd(::open(path, O_RDONLY | O_CLOEXEC)) {}
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
};

// /proc/config.gz gunzipped through `out`; false when it cannot be read or
// is not a whole gzip stream (then nothing of it counts).
bool read_gzip(const char *path, LineBlocks &out) {
  Fd f(path);
  if (f.fd < 0)
    return false;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) // 16: a gzip header
    return false;
  std::array<unsigned char, 8192> in{};
  std::array<char, 16384> text{};
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (z.avail_in == 0) {
      ssize_t n = ::read(f.fd, in.data(), in.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break; // truncated (or unreadable): not a whole stream
      z.next_in = in.data();
      z.avail_in = static_cast<uInt>(n);
    }
    z.next_out = reinterpret_cast<Bytef *>(text.data());
    z.avail_out = static_cast<uInt>(text.size());
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END)
      break;
    out.add(text.data(), text.size() - z.avail_out);
  }
  inflateEnd(&z);
  return rc == Z_STREAM_END && out.any();
}

// A plain config file through `out`; false when it cannot be opened.
bool read_plain(const char *path, LineBlocks &out) {
  Fd f(path);
  if (f.fd < 0)
    return false;
  std::array<char, 16384> text{};
  for (;;) {
    ssize_t n = ::read(f.fd, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n == 0;
    out.add(text.data(), static_cast<size_t>(n));
  }
}

} // namespace

std::optional<LayoutOrder> layout_from_config_files(const std::string &gz_path,
                                                    const std::string &plain_path) {
  std::string source = gz_path;
  LineBlocks blocks;
  if (!read_gzip(source.c_str(), blocks)) {
    blocks = LineBlocks();
    source = plain_path;
    if (!read_plain(source.c_str(), blocks))
      return std::nullopt;
  }
  LayoutOrder l;
  std::string opt = blocks.finish();
  if (!opt.empty()) {
    l.randomized = true;
    l.evidence = source + " has " + opt;
  }
  return l;
}

std::optional<LayoutOrder> layout_from_kernel_config() {
  struct utsname u {};
  std::string release = uname(&u) == 0 ? u.release : "";
  return layout_from_config_files("/proc/config.gz", "/boot/config-" + release);
}

} // namespace offsetprobe
