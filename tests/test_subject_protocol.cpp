// SPDX-License-Identifier: GPL-2.0-only
// The host protocol as run_subjects() reads it, against a stand-in host (a
// shell script as CalibrateOptions::self_exe) that answers in a chosen
// order. No root, no BPF.
#include "calibration/experiment/random.h"
#include "calibration/experiment/subject_host.h"
#include "calibration/experiment/subject.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace offsetprobe;

namespace {

// A host that answers the first command with `first`, then `second`, 50 ms
// later, then waits for EOF on its stdin.
std::string stand_in_host(const std::string &first, const std::string &second) {
  char dir[] = "/tmp/op-protoXXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/host.sh";
  std::ofstream f(path);
  f << "#!/bin/sh\nread cmd index rest\n"
    << "echo \"$index " << first << "\"\nsleep 0.05\n"
    << "echo \"$index " << second << "\"\ncat >/dev/null\n";
  f.close();
  REQUIRE(chmod(path.c_str(), 0755) == 0);
  return path;
}

void run_with(const std::string &host_path, Launched &l) {
  CalibrateOptions opt;
  opt.self_exe = host_path;
  opt.subject_timeout_ms = 5000;
  opt.fields = FieldSelection::base();
  SubjectHost host(opt);
  run_subjects(opt, host, "test", {&l}, [](const Cookies &) {});
  host.finish(opt);
}

} // namespace

TEST_CASE("subject protocol: a leader's ready line before its host's spawn line") {
  // The leader writes "ready" itself, on the pipe the host writes "spawned"
  // to after fork() returns: a host descheduled after the fork lets "ready"
  // come first (1 run in ~140 under a CPU burner, "subject 0 was never
  // announced", exit 9). Both orders must work.
  const std::string ready = format_report(SubjectReport{});
  const std::string spawned = "spawned 4242 1:2 3:4";
  for (bool ready_first : {true, false}) {
    INFO("ready first: " << ready_first);
    Launched l;
    l.index = 0;
    auto path = ready_first ? stand_in_host(ready, spawned) : stand_in_host(spawned, ready);
    CHECK_NOTHROW(run_with(path, l));
    std::remove(path.c_str());
    rmdir(path.substr(0, path.rfind('/')).c_str());
    CHECK(l.spawned);
    CHECK(l.pid == 4242);
    CHECK(l.mono.lo == 1);
    CHECK(l.boot.hi == 4);
  }
}

// experiment/random.h: the range, and a forked child that does not repeat
// its parent's buffered numbers.
TEST_CASE("random_in stays in its range; a forked child draws its own numbers") {
  for (int i = 0; i < 2000; i++) {
    uint64_t v = random_in(7, 9);
    CHECK((v >= 7 && v <= 9));
  }
  CHECK(random_in(5, 5) == 5);
  (void)random_u64(); // the buffer holds the parent's next words now
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    uint64_t w[4];
    for (auto &x : w)
      x = random_u64();
    _exit(write(fds[1], w, sizeof w) == sizeof w ? 0 : 1);
  }
  close(fds[1]);
  uint64_t child[4] = {};
  REQUIRE(read(fds[0], child, sizeof child) == sizeof child);
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  // The parent's next four words: equal to the child's only if the child
  // had drawn from the parent's buffer (2^-256 by chance).
  uint64_t mine[4];
  for (auto &x : mine)
    x = random_u64();
  CHECK(std::memcmp(child, mine, sizeof mine) != 0);
}
