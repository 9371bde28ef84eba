// SPDX-License-Identifier: GPL-2.0-only
#include "fixture_environment.h"

#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/subject_host.h"
#include "calibration/model/predicate.h"

#include "scanner.h"

#include <stdexcept>

namespace offsetprobe::test {

Subject &subject_of(Trial &t, Role role) {
  return const_cast<Subject &>(subject(t, role));
}

const Subject &subject_of(const Trial &t, Role role) {
  return subject(t, role);
}

namespace {

constexpr Role kRoles[] = {Role::leader, Role::thread, Role::grandchild,
                           Role::exiter, Role::creds,  Role::unshared};

const std::string &cookie_of(const Cookies &c, Role role) {
  switch (role) {
  case Role::leader:
    return c.leader;
  case Role::thread:
    return c.thread;
  case Role::grandchild:
    return c.grandchild;
  case Role::exiter:
    return c.exiter;
  case Role::creds:
    return c.creds;
  case Role::unshared:
    return c.unshared;
  }
  throw std::logic_error("no such role");
}

// Every struct of a trial the fixture captured, at its kernel address.
std::vector<const Snapshot *> regions(const Trial &t) {
  std::vector<const Snapshot *> out;
  for (Role r : kRoles)
    out.push_back(&subject_of(t, r).snap);
  for (Role r : kRoles) {
    const auto &c = subject_of(t, r).chain;
    for (const auto &p : c.pointees)
      out.push_back(&p);
    for (const auto &n : c.nested)
      for (const auto &p : n)
        out.push_back(&p);
  }
  return out;
}

class FakeScanner : public Scanner {
public:
  explicit FakeScanner(const FixtureEnvironment &env) : env_(env) {}
  uint32_t add_cookie(const std::string &cookie) override {
    cookies_.push_back(cookie);
    return static_cast<uint32_t>(cookies_.size() - 1);
  }
  Snapshot snapshot(uint32_t slot) const override {
    const auto &s = env_.served(cookies_.at(slot));
    return subject_of(*s.capture, s.role).snap;
  }
  TriggerMode mode() const override { return TriggerMode::raw_tracepoint; }
  bool exit_attached() const override { return true; }

private:
  const FixtureEnvironment &env_;
  std::vector<std::string> cookies_;
};

// Serves the fixture's stage-2 capture when the plan is the one it was
// recorded with; else follows the plan's pointers through the structs the
// fixture holds (a struct it did not capture reads as not captured).
class FakeChainScanner : public ChainScanner {
public:
  FakeChainScanner(const FixtureEnvironment &env, const ChainPlan &plan) : env_(env), plan_(plan) {}
  uint32_t add_cookie(const std::string &cookie) override {
    cookies_.push_back(cookie);
    return static_cast<uint32_t>(cookies_.size() - 1);
  }
  ChainCapture capture(uint32_t slot) const override {
    const auto &s = env_.served(cookies_.at(slot));
    const Subject &subj = subject_of(*s.capture, s.role);
    const ChainCapture &rec = subj.chain;
    if (rec.captured && rec.ptr_offsets == plan_.ptr_offsets && rec.nested_of == plan_.nested_of)
      return rec;
    ChainCapture c;
    c.captured = subj.snap.captured;
    c.ptr_offsets = plan_.ptr_offsets;
    c.nested_of = plan_.nested_of;
    for (uint32_t off : plan_.ptr_offsets) {
      Snapshot p;
      if (subj.snap.readable_range(off, 8))
        for (const Snapshot *r : regions(*s.capture))
          if (r->captured && r->task_addr == subj.snap.load<uint64_t>(off) && r != &subj.snap) {
            p = *r;
            break;
          }
      c.pointees.push_back(p);
    }
    c.nested.resize(plan_.nested_of.size());
    return c;
  }

private:
  const FixtureEnvironment &env_;
  ChainPlan plan_;
  std::vector<std::string> cookies_;
};

// Walks the read plan over the memory trial of each registered subject: a
// step reads at the task's address, or at the pointer its parent step read.
// L, T, G, C and N are read at their trigger, E at its exit.
class FakeReader : public Reader {
public:
  FakeReader(const FixtureEnvironment &env, const ReadPlan &plan) : env_(env), plan_(plan) {}
  uint32_t add_cookie(const std::string &cookie) override {
    cookies_.push_back(cookie);
    return static_cast<uint32_t>(cookies_.size() - 1);
  }
  ReadValues readback(uint32_t slot) const override {
    const auto &s = env_.served(cookies_.at(slot));
    const Snapshot &snap = subject_of(*s.memory, s.role).snap;
    ReadValues v;
    v.captured = snap.captured;
    v.task_addr = snap.task_addr;
    v.tid = snap.tid;
    v.tgid = snap.tgid;
    v.site = s.role == Role::exiter ? OP_SITE_EXIT : OP_SITE_TRIGGER;
    const auto &steps = plan_.steps();
    v.ok.assign(steps.size(), false);
    v.raw.resize(steps.size());
    if (!v.captured)
      return v;
    for (size_t i = 0; i < steps.size(); i++) {
      const ReadStep &st = steps[i];
      v.raw[i].assign(st.size, 0);
      if (!(st.sites & v.site))
        continue;
      uint64_t base = snap.task_addr;
      if (st.parent) {
        auto p = v.get<uint64_t>(*st.parent);
        if (!p)
          continue;
        base = *p;
      }
      if (auto bytes = env_.read(*s.memory, base + st.offset, st.size)) {
        v.raw[i] = *bytes;
        v.ok[i] = true;
      }
    }
    return v;
  }
  bool exit_attached() const override { return true; }

private:
  const FixtureEnvironment &env_;
  ReadPlan plan_;
  std::vector<std::string> cookies_;
};

class FakeSubjects : public Subjects {
public:
  explicit FakeSubjects(const FixtureEnvironment &env) : env_(env) {}
  int pid() const override { return 0; }
  void prepare(const std::vector<Launched *> &subjects) override {
    for (auto *l : subjects)
      l->held = true;
  }
  void run(const std::string &phase, const std::vector<Launched *> &subjects,
           const std::function<void(const Cookies &)> &register_cookies) override {
    env_.phases.push_back(phase);
    for (auto *l : subjects) {
      env_.serve(phase, *l);
      phase_[l->index] = phase;
      register_cookies(l->cookies);
      l->spawned = l->ready = true;
    }
  }
  void retrigger(const std::vector<Launched *> &) override {}
  void release(const std::vector<Launched *> &) override {}
  Trial trial(const Launched &l, const TimeNsOffsets &) const override {
    return env_.known(phase_.at(l.index), l);
  }
  void finish() override {}

private:
  const FixtureEnvironment &env_;
  std::map<int, std::string> phase_;
};

} // namespace

FixtureEnvironment::FixtureEnvironment(std::vector<Trial> captures, std::vector<Trial> memory,
                                       const SolveOptions &recorded, size_t validation_trial)
    : captures_(std::move(captures)), memory_(std::move(memory)), recorded_(recorded),
      validation_trial_(validation_trial) {
  if (captures_.size() != memory_.size() || validation_trial_ >= memory_.size())
    throw std::invalid_argument("captures and memory must be the same trials");
  backend_.name = "fixture";
  backend_.make_scanner = [this](TriggerMode, uint32_t) {
    scanner_loads++;
    return std::make_unique<FakeScanner>(*this);
  };
  backend_.make_chain_scanner = [this](TriggerMode, const ChainPlan &plan, uint32_t) {
    chain_scanner_loads++;
    return std::make_unique<FakeChainScanner>(*this, plan);
  };
  backend_.make_reader = [this](TriggerMode, const ReadPlan &plan) {
    reader_loads++;
    return std::make_unique<FakeReader>(*this, plan);
  };
}

std::unique_ptr<Subjects> FixtureEnvironment::start_subjects(const CalibrateOptions &) const {
  return std::make_unique<FakeSubjects>(*this);
}

const FixtureEnvironment::Served &FixtureEnvironment::served(const std::string &cookie) const {
  auto it = by_cookie_.find(cookie);
  if (it == by_cookie_.end())
    throw std::logic_error("cookie " + cookie + " was never given to a subject");
  return it->second;
}

// A calibration's trial i is the fixture's trial i; its validation subject
// is the fixture's trial `validation_trial_`.
void FixtureEnvironment::serve(const std::string &phase, const Launched &l) const {
  size_t k = phase == "trial" ? static_cast<size_t>(l.index) : validation_trial_;
  if (k >= captures_.size())
    throw std::out_of_range("the fixture has no trial " + std::to_string(k));
  for (Role r : kRoles)
    by_cookie_[cookie_of(l.cookies, r)] = {&captures_[k], &memory_[k], r};
}

Trial FixtureEnvironment::known(const std::string &phase, const Launched &l) const {
  const auto &s = served(l.cookies.leader);
  Trial t = phase == "trial" ? *s.capture : *s.memory;
  for (Role r : kRoles) {
    subject_of(t, r).snap = Snapshot{};
    subject_of(t, r).chain = ChainCapture{};
  }
  return t;
}

std::optional<std::vector<uint8_t>> FixtureEnvironment::read(const Trial &t, uint64_t addr,
                                                             uint32_t len) const {
  for (const Snapshot *r : regions(t)) {
    if (!r->captured || addr < r->task_addr)
      continue;
    uint64_t off = addr - r->task_addr;
    if (off > UINT32_MAX || !r->readable_range(static_cast<uint32_t>(off), len))
      continue;
    return std::vector<uint8_t>(r->bytes.begin() + off, r->bytes.begin() + off + len);
  }
  return std::nullopt;
}

} // namespace offsetprobe::test
