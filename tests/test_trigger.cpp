// SPDX-License-Identifier: GPL-2.0-only
// NAME   trigger
// RUN    load_triggered over a stand-in backend (no BPF, no root): loaders and
//        objects whose load or attach fails on the hook the test picks
// EXPECT automatic mode falls back from the raw tracepoint to the uprobe
//        when the raw one cannot be loaded or attached, and says what failed
//        when neither works; a refusal for privileges is not worked around
//        (ErrorKind::permission at once, the uprobe never tried); an explicit mode
//        has no fallback. The failures travel as values: nothing is caught.
#include "calibration/experiment/trigger.h"
#include "calibration/model/error.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <vector>

using namespace offsetprobe;

namespace {

const TriggerHooks kHooks{"on_tp", "on_raw", "on_uprobe", ""};

struct World {
  std::vector<std::string> loads;    // the trigger program of each load
  std::vector<std::string> attaches; // every hook attached, in order
  std::string fail_load;             // a load whose spec names it fails
  std::string fail_attach;           // attaching it fails with attach_err
  int attach_err = ENOENT;
};

class FakeObject : public LoadedObject {
public:
  explicit FakeObject(World &w) : w_(w) {}
  const char *backend() const override { return "fake"; }
  std::optional<AttachError> attach(const Hook &h) override {
    w_.attaches.push_back(h.program);
    if (h.program == w_.fail_attach)
      return AttachError{w_.attach_err, "refused by the test"};
    return std::nullopt;
  }
  void detach() override {}
  int map_fd(const std::string &) const override { return -1; }
  bool loads_at_attach() const override { return false; }

private:
  World &w_;
};

ObjectLoader loader(World &w) {
  return [&w](const ProgramSpec &spec) -> Expected<std::unique_ptr<LoadedObject>> {
    std::string prog = spec.programs().empty() ? "" : spec.programs().front();
    w.loads.push_back(prog);
    if (prog == w.fail_load)
      return Failure{ErrorKind::bpf, "loading " + prog + ": refused by the test"};
    return std::unique_ptr<LoadedObject>(std::make_unique<FakeObject>(w));
  };
}

ProgramSpec spec() {
  return ProgramSpec("the test program");
}

} // namespace

TEST_CASE("automatic mode: the raw tracepoint when it attaches") {
  World w;
  auto t = load_triggered(TriggerMode::automatic, kHooks, spec(), loader(w));
  CHECK(t.mode == TriggerMode::raw_tracepoint);
  CHECK(w.attaches == std::vector<std::string>{"on_raw"});
}

TEST_CASE("automatic mode: a raw tracepoint that cannot attach falls back to the uprobe") {
  World w;
  w.fail_attach = "on_raw";
  auto t = load_triggered(TriggerMode::automatic, kHooks, spec(), loader(w));
  CHECK(t.mode == TriggerMode::uprobe);
  CHECK(w.attaches == std::vector<std::string>{"on_raw", "on_uprobe"});
  CHECK(w.loads.size() == 2); // libbpf-like: built again for the uprobe
}

TEST_CASE("automatic mode: a raw tracepoint program that cannot load falls back too") {
  World w;
  w.fail_load = "on_raw";
  auto t = load_triggered(TriggerMode::automatic, kHooks, spec(), loader(w));
  CHECK(t.mode == TriggerMode::uprobe);
  CHECK(w.attaches == std::vector<std::string>{"on_uprobe"});
}

TEST_CASE("automatic mode: a refusal for privileges is said, not worked around") {
  World w;
  w.fail_attach = "on_raw";
  w.attach_err = EPERM;
  try {
    load_triggered(TriggerMode::automatic, kHooks, spec(), loader(w));
    FAIL("no error");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::permission);
    CHECK(std::string(e.what()).find("CAP_BPF") != std::string::npos);
  }
  CHECK(w.attaches == std::vector<std::string>{"on_raw"}); // the uprobe was never tried
}

TEST_CASE("automatic mode: when the uprobe fails too, its failure is the one said") {
  World w;
  w.fail_load = "on_uprobe";
  w.fail_attach = "on_raw";
  try {
    load_triggered(TriggerMode::automatic, kHooks, spec(), loader(w));
    FAIL("no error");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::bpf);
    CHECK(std::string(e.what()) == "loading on_uprobe: refused by the test");
  }
}

TEST_CASE("an explicit mode has no fallback") {
  World w;
  w.fail_attach = "on_raw";
  try {
    load_triggered(TriggerMode::raw_tracepoint, kHooks, spec(), loader(w));
    FAIL("no error");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::tracing);
    CHECK(std::string(e.what()).find("--trigger uprobe") != std::string::npos);
  }
  CHECK(w.loads.size() == 1);
}
