// SPDX-License-Identifier: GPL-2.0-only
// Kernel header discovery for the BCC backend (BCC compiles its programs on
// the host and needs a header tree; libbpf does not). Pure file-system logic:
// no libbcc, no root, testable against fake trees.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace offsetprobe {

// Where to look, in this order (see docs/bcc-backend.md):
//  1. `explicit_dir` (--kernel-headers DIR), when set: the user's choice wins;
//  2. <modules_root>/<release>/build (with its `source` sibling), as BCC does;
//  3. the newest complete <usr_src>/linux-headers-* tree, when
//     `allow_usr_src` (Debian's linux-headers-<flavour> packages: the
//     documented fallback for hosts without headers of their own kernel).
struct HeaderSearch {
  std::string explicit_dir;
  std::string release; // uname -r
  std::string modules_root = "/lib/modules";
  std::string usr_src = "/usr/src";
  bool allow_usr_src = true;
};

// A header tree BCC can compile against: one directory, or several layers
// that together form one (highest priority first). Debian splits a header
// package into an arch dir (generated headers, .config) over a common dir
// (include/linux/...); a kernel built with O= splits build/ from source/.
struct HeaderSet {
  std::vector<std::string> layers; // absolute, canonical
  std::string origin;              // how it was found, for messages
  std::string uts_release;         // from include/generated/utsrelease.h, if any
};

// The outcome of a lookup: a set, or why none (a message for the user).
struct HeaderLookup {
  std::optional<HeaderSet> set;
  std::string error;
};

// find_kernel_headers looks for a header tree as described above. An explicit
// directory that is not a header tree is an error (never silently skipped).
HeaderLookup find_kernel_headers(const HeaderSearch &search);

// resolve_header_dir turns one directory into its layers: itself when
// complete; itself over its partner when it is one half of a split tree
// (Debian arch/common, build/source). nullopt and `error` set otherwise.
std::optional<HeaderSet> resolve_header_dir(const std::string &dir, std::string &error);

// The message printed when no headers are found (names the package and flag).
std::string no_headers_message(const std::string &detail);

// A private merged view of a multi-layer header set: a fresh directory whose
// entries are symlinks into the layers (the first layer wins; directories
// present in several layers are merged recursively). System directories are
// never touched; the view is removed by the destructor.
//
// A process SIGKILLed while it holds a view runs no destructor, so the view's
// directory (`<base>/offsetprobe-headers-<pid>-XXXXXX`) would stay behind
// (issue #21). Its owner holds an exclusive flock on it for the view's whole
// life; every new view first sweeps the views under `base` whose lock it can
// take, i.e. whose owner is dead (the kernel drops a dead process's locks).
// A lock rather than the pid in the name: a pid says nothing across pid
// namespaces sharing /run, and pids are reused.
class MergedHeaderView {
public:
  // Creates the view under `base` (e.g. /run or $TMPDIR). For a one-layer
  // set, path() is that layer and nothing is created. Throws Error on failure.
  MergedHeaderView(const HeaderSet &set, const std::string &base);
  ~MergedHeaderView();
  MergedHeaderView(const MergedHeaderView &) = delete;
  MergedHeaderView &operator=(const MergedHeaderView &) = delete;

  const std::string &path() const { return path_; }

private:
  std::string path_;
  std::string owned_; // the directory to remove, if we created one
  int lock_fd_ = -1;  // the flock that marks the view as alive
};

// Removes the views under `base` whose owner is dead (their lock is free).
// Returns how many it removed. Called by every new view; public for tests.
int sweep_dead_header_views(const std::string &base);

// A writable directory for private temporary trees: /run if writable (tmpfs,
// root only), else $TMPDIR, else /tmp.
std::string private_temp_base();

} // namespace offsetprobe
