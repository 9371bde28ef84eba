// SPDX-License-Identifier: GPL-2.0-only
// The live walker: bpf/filewalk.bpf.c loaded and attached, serving the
// requests of files/walk.h for registered subjects. Each walk() writes the
// requests into the program's mmap'ed request map and makes the subject
// trigger once per request.
#pragma once

#include "calibration/solve/files/walk.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace offsetprobe::files {

class LiveWalker : public Memory {
public:
  // Loads and attaches the walker (raw sys_enter tracepoint, else the
  // syscalls:sys_enter_getppid tracepoint). Throws Error (calibration/model/error.h)
  // with the exit code of what failed.
  LiveWalker();
  ~LiveWalker() override;
  LiveWalker(const LiveWalker &) = delete;
  LiveWalker &operator=(const LiveWalker &) = delete;

  // `trigger(n)` makes the subject with this comm cookie call getppid() n times.
  void add_subject(int id, const std::string &cookie, std::function<void(uint32_t)> trigger);
  std::vector<WalkResponse> walk(int subject, const std::vector<WalkRequest> &reqs) override;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace offsetprobe::files
