// SPDX-License-Identifier: GPL-2.0-only
// StderrCapture: keeps what libbcc prints on stderr while a program loads and
// attaches, for error messages. Shared by the BCC scanner/reader
// (calibration/experiment/bcc_capture.cpp) and the BCC counting probe
// (counting/bcc_counter_session.cpp); header-only, no libbcc dependency.
#pragma once

#include <cstdio>
#include <string>

#include <unistd.h>

namespace offsetprobe {

// BCC prints its own warnings on stderr (on this machine kind, two lines per
// program load: the kernel has no AF_ALG for computing program tags). While a
// program loads and attaches, stderr goes to a temporary file; its text is
// shown only when something fails (or with BccConfig::verbose).
//
// Only load and attach are wrapped, not the compile (whose diagnostics must
// reach the user): they take milliseconds, after the compile's hundreds, so
// the subject host, whose start overlaps the scanner's compile, has started
// long before (a host forked inside the window would only lose its stderr).
class StderrCapture {
public:
  explicit StderrCapture(bool passthrough) {
    if (passthrough)
      return;
    std::fflush(stderr);
    file_ = std::tmpfile();
    if (!file_)
      return;
    saved_ = ::dup(STDERR_FILENO);
    if (saved_ < 0 || ::dup2(fileno(file_), STDERR_FILENO) < 0) {
      restore();
      std::fclose(file_);
      file_ = nullptr;
    }
  }
  ~StderrCapture() {
    restore();
    if (file_)
      std::fclose(file_);
  }
  StderrCapture(const StderrCapture &) = delete;
  StderrCapture &operator=(const StderrCapture &) = delete;

  // Restores stderr and returns what was written meanwhile.
  std::string finish() {
    restore();
    std::string text;
    if (!file_)
      return text;
    std::rewind(file_);
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file_)) > 0)
      text.append(buf, n);
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    return text;
  }

private:
  void restore() {
    if (saved_ < 0)
      return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  FILE *file_ = nullptr;
  int saved_ = -1;
};

} // namespace offsetprobe
