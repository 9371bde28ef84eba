// SPDX-License-Identifier: GPL-2.0-only
// Kernel header discovery for the BCC backend, against fake header trees
// (the layouts of Debian's split packages and of /lib/modules). No root.
#include "bpf/runtime/kernel_headers.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace offsetprobe::test {

namespace {

// A scratch directory, removed at the end of the test.
class Scratch {
public:
  Scratch() {
    std::string t = fs::temp_directory_path().string() + "/op-headers-test-XXXXXX";
    REQUIRE(mkdtemp(t.data()) != nullptr);
    root_ = t;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path operator/(const std::string &p) const { return root_ / p; }
  const fs::path &root() const { return root_; }

private:
  fs::path root_;
};

void touch(const fs::path &p, const std::string &text = "") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// The build half: generated headers (and Debian's one-line Makefile).
void make_build_half(const fs::path &d, const std::string &release) {
  touch(d / "include/generated/autoconf.h", "#define CONFIG_X86_64 1\n");
  touch(d / "include/generated/utsrelease.h", "#define UTS_RELEASE \"" + release + "\"\n");
  touch(d / "arch/x86/include/generated/asm/unistd_64_x32.h");
  touch(d / ".config", "CONFIG_BPF=y\n");
}

// The source half: the headers BCC -includes and the arch's own.
void make_source_half(const fs::path &d) {
  touch(d / "include/linux/kconfig.h");
  touch(d / "include/linux/sched.h");
  touch(d / "arch/x86/include/asm/ptrace.h");
  touch(d / "Makefile", "# the real kbuild Makefile\n");
}

// Debian's linux-headers-V-N-amd64 + linux-headers-V-N-common pair.
void make_debian_pair(const fs::path &usr_src, const std::string &version) {
  fs::path arch = usr_src / ("linux-headers-" + version + "-amd64");
  fs::path common = usr_src / ("linux-headers-" + version + "-common");
  make_source_half(common);
  make_build_half(arch, version + "-amd64");
  touch(arch / "Makefile", "include " + common.string() + "/Makefile\n");
}

HeaderSearch search_in(const Scratch &s) {
  HeaderSearch h;
  h.release = "6.18.0-test";
  h.modules_root = (s / "lib/modules").string();
  h.usr_src = (s / "usr/src").string();
  return h;
}

} // namespace

TEST_CASE("a complete tree is used alone") {
  Scratch s;
  make_source_half(s / "linux");
  make_build_half(s / "linux", "6.18.0-test");
  std::string error;
  auto set = resolve_header_dir((s / "linux").string(), error);
  REQUIRE(set);
  CHECK(set->layers.size() == 1);
  CHECK(set->uts_release == "6.18.0-test");
}

TEST_CASE("Debian's arch dir is paired with its common dir through its Makefile") {
  Scratch s;
  make_debian_pair(s / "usr/src", "6.1.0-56");
  std::string error;
  auto set = resolve_header_dir((s / "usr/src/linux-headers-6.1.0-56-amd64").string(), error);
  REQUIRE_MESSAGE(set, error);
  REQUIRE(set->layers.size() == 2);
  CHECK(fs::path(set->layers[0]).filename() == "linux-headers-6.1.0-56-amd64");
  CHECK(fs::path(set->layers[1]).filename() == "linux-headers-6.1.0-56-common");
  CHECK(set->uts_release == "6.1.0-56-amd64");

  SUBCASE("and the common dir finds its arch dir") {
    auto c = resolve_header_dir((s / "usr/src/linux-headers-6.1.0-56-common").string(), error);
    REQUIRE_MESSAGE(c, error);
    CHECK(c->layers == set->layers);
  }
}

TEST_CASE("half a tree without its partner is an error naming what is missing") {
  Scratch s;
  make_build_half(s / "linux-headers-9.9.9-1-amd64", "9.9.9-1-amd64");
  std::string error;
  CHECK_FALSE(resolve_header_dir((s / "linux-headers-9.9.9-1-amd64").string(), error));
  CHECK(error.find("kconfig.h") != std::string::npos);

  make_source_half(s / "src-only");
  CHECK_FALSE(resolve_header_dir((s / "src-only").string(), error));
  CHECK(error.find("autoconf.h") != std::string::npos);

  CHECK_FALSE(resolve_header_dir((s / "nothing").string(), error));
  CHECK(error.find("not a directory") != std::string::npos);
}

TEST_CASE("search order: --kernel-headers, /lib/modules, then /usr/src") {
  Scratch s;
  auto h = search_in(s);

  SUBCASE("nothing anywhere: the message names the package and the flag") {
    auto r = find_kernel_headers(h);
    CHECK_FALSE(r.set);
    CHECK(r.error.find("/lib/modules/6.18.0-test/build does not exist") != std::string::npos);
    auto msg = no_headers_message(r.error);
    CHECK(msg.find("apt-get install linux-headers-amd64") != std::string::npos);
    CHECK(msg.find("--kernel-headers DIR") != std::string::npos);
  }
  SUBCASE("/usr/src: the newest tree, in version order") {
    make_debian_pair(s / "usr/src", "6.1.0-9");
    make_debian_pair(s / "usr/src", "6.1.0-10");
    auto r = find_kernel_headers(h);
    REQUIRE_MESSAGE(r.set, r.error);
    CHECK(r.set->uts_release == "6.1.0-10-amd64");
    CHECK(r.set->origin.find("fallback") != std::string::npos);

    SUBCASE("unless the fallback is off") {
      h.allow_usr_src = false;
      CHECK_FALSE(find_kernel_headers(h).set);
    }
    SUBCASE("/lib/modules/<release>/build with its source sibling wins over /usr/src") {
      make_build_half(s / "lib/modules/6.18.0-test/build", "6.18.0-test");
      make_source_half(s / "lib/modules/6.18.0-test/source");
      auto m = find_kernel_headers(h);
      REQUIRE_MESSAGE(m.set, m.error);
      CHECK(m.set->uts_release == "6.18.0-test");
      CHECK(m.set->layers.size() == 2);
    }
    SUBCASE("--kernel-headers wins over everything, and a bad one is an error") {
      make_build_half(s / "lib/modules/6.18.0-test/build", "6.18.0-test");
      make_source_half(s / "lib/modules/6.18.0-test/build");
      h.explicit_dir = (s / "usr/src/linux-headers-6.1.0-9-amd64").string();
      auto e = find_kernel_headers(h);
      REQUIRE_MESSAGE(e.set, e.error);
      CHECK(e.set->uts_release == "6.1.0-9-amd64");
      h.explicit_dir = (s / "usr").string();
      auto bad = find_kernel_headers(h);
      CHECK_FALSE(bad.set);
      CHECK(bad.error.find("--kernel-headers") == 0);
    }
  }
}

TEST_CASE("the merged view: arch layer over common, private, removed afterwards") {
  Scratch s;
  make_debian_pair(s / "usr/src", "6.1.0-56");
  std::string error;
  auto set = resolve_header_dir((s / "usr/src/linux-headers-6.1.0-56-amd64").string(), error);
  REQUIRE(set);
  fs::create_directories(s / "run");
  std::string view_path;
  {
    MergedHeaderView view(*set, (s / "run").string());
    view_path = view.path();
    fs::path v(view_path);
    CHECK(v.parent_path() == s / "run");
    // Both halves are visible through one root, as BCC_KERNEL_SOURCE needs.
    CHECK(fs::exists(v / "include/linux/kconfig.h"));
    CHECK(fs::exists(v / "include/generated/autoconf.h"));
    CHECK(fs::exists(v / "arch/x86/include/asm/ptrace.h"));
    CHECK(fs::exists(v / "arch/x86/include/generated/asm/unistd_64_x32.h"));
    CHECK(fs::exists(v / ".config"));
    // The arch layer wins where both have an entry.
    std::ifstream mk(v / "Makefile");
    std::string first;
    std::getline(mk, first);
    CHECK(first.rfind("include ", 0) == 0);
    // Shared directories are real; the rest are links into the layers.
    CHECK_FALSE(fs::is_symlink(v / "include"));
    CHECK(fs::is_symlink(v / "include/linux"));
  }
  CHECK_FALSE(fs::exists(view_path));
  // The layers themselves are untouched.
  CHECK(fs::exists(s / "usr/src/linux-headers-6.1.0-56-common/include/linux/kconfig.h"));

  SUBCASE("a one-layer set needs no view") {
    make_source_half(s / "full");
    make_build_half(s / "full", "x");
    auto one = resolve_header_dir((s / "full").string(), error);
    REQUIRE(one);
    MergedHeaderView view(*one, (s / "run").string());
    CHECK(view.path() == one->layers.front());
  }
}

namespace {

// Forks a process that makes a view under `base`, writes its path to a pipe
// and then either dies by SIGKILL (no destructor runs: the view stays) or
// waits until `release` is closed. Returns the child's pid; `path` gets the
// view's path.
pid_t view_in_child(const HeaderSet &set, const fs::path &base, bool die, const int release[2],
                    std::string &path) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    close(release[1]); // else the read below never sees EOF
    try {
      MergedHeaderView view(set, base.string());
      (void)!write(p[1], view.path().data(), view.path().size());
      close(p[1]);
      if (die)
        raise(SIGKILL);
      char c;
      (void)!read(release[0], &c, 1);
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  close(p[1]);
  char buf[4096];
  ssize_t n = read(p[0], buf, sizeof(buf));
  close(p[0]);
  REQUIRE(n > 0);
  path.assign(buf, static_cast<size_t>(n));
  return pid;
}

} // namespace

TEST_CASE("a view whose owner was SIGKILLed is swept by the next one; a live one is not") {
  Scratch s;
  make_debian_pair(s / "usr/src", "6.1.0-56");
  std::string error;
  auto set = resolve_header_dir((s / "usr/src/linux-headers-6.1.0-56-amd64").string(), error);
  REQUIRE(set);
  fs::create_directories(s / "run");
  int rel[2];
  REQUIRE(pipe(rel) == 0);

  std::string dead_path, live_path;
  // The live one first: a view made after the dead one would sweep it.
  pid_t live = view_in_child(*set, s / "run", false, rel, live_path);
  pid_t dead = view_in_child(*set, s / "run", true, rel, dead_path);
  REQUIRE(waitpid(dead, nullptr, 0) == dead);
  // The SIGKILLed owner left its view (what a killed `--backend bcc` did);
  // the live one's view exists too, and its owner is in the name.
  CHECK(fs::exists(dead_path));
  CHECK(fs::exists(live_path));
  CHECK(fs::path(dead_path).filename().string().rfind(
            "offsetprobe-headers-" + std::to_string(dead) + "-", 0) == 0);
  // Neither a symlink with the prefix nor its target is touched.
  fs::create_directories(s / "elsewhere");
  fs::create_directory_symlink(s / "elsewhere", s / "run/offsetprobe-headers-link");

  {
    MergedHeaderView view(*set, (s / "run").string());
    CHECK_FALSE(fs::exists(dead_path));
    CHECK(fs::exists(live_path)); // its owner holds the lock
    CHECK(fs::exists(view.path()));
    CHECK(fs::is_symlink(s / "run/offsetprobe-headers-link"));
    CHECK(fs::exists(s / "elsewhere"));
    // Our own live view is not swept by a sweep from this process either.
    CHECK(sweep_dead_header_views((s / "run").string()) == 0);
    CHECK(fs::exists(view.path()));
  }
  close(rel[1]); // the live owner ends normally and removes its view
  REQUIRE(waitpid(live, nullptr, 0) == live);
  close(rel[0]);
  CHECK_FALSE(fs::exists(live_path));
  CHECK(sweep_dead_header_views((s / "run").string()) == 0);
}

} // namespace offsetprobe::test
