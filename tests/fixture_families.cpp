// SPDX-License-Identifier: GPL-2.0-only
// The fake Environment's families with experiments of their own
// (tests/fixture_environment.h): the files experiment's recorded walks and
// the net experiment's recorded trials, replayed through the same code the
// live experiments run after their kernel work (files::solve_files and
// readback_files on a Memory; net::calibrate_net and validate_net on a
// SockTrials source).
#include "fixture_environment.h"

#include "calibration/experiment/net/net_experiment.h"
#include "calibration/model/calibrate_options.h"
#include "calibration/model/catalogue.h"
#include "calibration/solve/files/readback.h"
#include "calibration/solve/files/solve.h"

#include <algorithm>
#include <cstring>

namespace offsetprobe::test {

namespace {

// One hit's read-back values, as the socket scanner would read them from the
// memory the hit captured: a step without a parent from the sk's bytes; a
// step behind a pointer word of the sk from that word's pointee (its first
// net::kPeek bytes, or net.ns.inum at the offset the recording followed);
// a step behind that from the deep copy of the pointee's words, which the
// scanner made for the words that point back to the sk. What the capture
// does not hold is not read, as an unreadable address would be.
std::optional<std::vector<uint8_t>> read_step(const net::SockCapture &c,
                                              const std::vector<net::SockStep> &plan, size_t s,
                                              uint32_t inum_offset) {
  const auto &st = plan[s];
  auto slice = [&](const std::vector<uint8_t> &bytes, size_t base,
                   size_t limit) -> std::optional<std::vector<uint8_t>> {
    if (st.offset + st.size > limit || base + limit > bytes.size())
      return std::nullopt;
    auto from = bytes.begin() + static_cast<long>(base + st.offset);
    return std::vector<uint8_t>(from, from + st.size);
  };
  if (!st.parent) {
    if (!c.data_read(st.offset, st.size))
      return std::nullopt;
    return slice(c.data, 0, net::kSkBytes);
  }
  const auto &p = plan[*st.parent];
  if (p.size != 8 || p.offset % 8)
    return std::nullopt;
  if (!p.parent) {
    uint32_t w = p.offset / 8;
    if (w < net::kSkWords && (c.words_ok >> w & 1) && st.offset == inum_offset && st.size == 4) {
      std::vector<uint8_t> v(4);
      std::memcpy(v.data(), &c.inum[w], 4);
      return v;
    }
    if (w >= net::kFollowWords || !(c.follow_ok[w / 64] >> (w % 64) & 1))
      return std::nullopt;
    return slice(c.follow, size_t(w) * net::kPeek, net::kPeek);
  }
  const auto &g = plan[*p.parent];
  if (g.parent || g.size != 8 || g.offset % 8 || p.offset >= net::kPeek)
    return std::nullopt;
  for (size_t k = 0; k < c.back_word.size(); k++) {
    uint32_t m = p.offset / 8;
    if (c.back_word[k] != g.offset / 8 || !c.deep_read(k, m, st.offset, st.size))
      continue;
    return slice(c.deep, (k * 8 + m) * net::kDeep, net::kDeep);
  }
  return std::nullopt;
}

class RecordedSockTrials : public net::SockTrials {
public:
  RecordedSockTrials(const std::vector<net::SockTrial> &trials, std::string release,
                     uint32_t inum_offset)
      : trials_(trials), release_(std::move(release)), inum_offset_(inum_offset) {}
  void set_plan(const std::vector<net::SockStep> &plan) override { plan_ = plan; }
  net::SockTrialRun run() override {
    net::SockTrialRun r;
    r.trial = trials_.at(next_++ % trials_.size());
    // A hit the scanner recorded without a deep copy (the UDP socket's:
    // scan_udp makes none) cannot serve a step two pointers away: the
    // read-back's trial is the recorded one without it, as on a host where
    // that hit does not come (SockTrialRun::no_udp). The other hits still
    // read every step, so a wrong offset still reads the wrong bytes.
    bool deep_steps = std::any_of(plan_.begin(), plan_.end(), [&](const net::SockStep &st) {
      return st.parent && plan_[*st.parent].parent;
    });
    if (deep_steps)
      std::erase_if(r.trial.captures, [](const net::SockCapture &c) {
        return c.back_word[0] == net::kNoWord && c.back_word[1] == net::kNoWord;
      });
    for (const auto &c : r.trial.captures) {
      net::SockEvent e;
      e.capture = c;
      e.vals.assign(plan_.size(), {0, 0});
      for (size_t s = 0; s < plan_.size() && s < 64; s++)
        if (auto v = read_step(c, plan_, s, inum_offset_); v && v->size() <= 16) {
          std::memcpy(e.vals[s].data(), v->data(), v->size());
          e.vals_ok |= 1ull << s;
        }
      r.events.push_back(std::move(e));
    }
    return r;
  }
  std::string release() const override { return release_; }

private:
  const std::vector<net::SockTrial> &trials_;
  std::string release_;
  uint32_t inum_offset_;
  std::vector<net::SockStep> plan_;
  size_t next_ = 0;
};

} // namespace

void FixtureEnvironment::record_files(files::FilesCapture capture) {
  files_ = std::move(capture);
}

void FixtureEnvironment::record_net(std::vector<net::SockTrial> trials, std::string release,
                                    uint32_t inum_offset) {
  net_ = NetRecording{std::move(trials), std::move(release), inum_offset};
}

void FixtureEnvironment::run_experiment(const Family &fam, const CalibrateOptions &opt,
                                        std::optional<uint32_t>,
                                        std::vector<FieldResult> &fields) const {
  if (fam.experiment == "files" && files_) {
    files_runs++;
    files::ReplayMemory mem(files_->memory);
    auto sol = files::solve_files(mem, files_->trials, files_->config);
    size_t n = files_->trials.size();
    if (opt.validate && files_->validation)
      files::readback_files(mem, *files_->validation, files::subject_id(n, false),
                            files::subject_id(n, true), sol.found, sol.fields);
    for (auto &f : sol.fields)
      if (opt.fields.has(f.name))
        fields.push_back(f);
  } else if (fam.experiment == "net" && net_) {
    net_runs++;
    RecordedSockTrials source(net_->trials, net_->release, net_->inum_offset);
    net::calibrate_net(opt, source, fields);
  }
}

void FixtureEnvironment::read_back(const Family &fam, const CalibrateOptions &opt,
                                   std::vector<FieldResult> &fields, Deferred &) const {
  if (fam.experiment == "files" && files_ && files_->validation) {
    files_readbacks++;
    std::vector<FieldResult> mine;
    auto found = files::given_offsets(fields, mine);
    if (found.off.empty())
      return;
    // The recorded validation walked subjects after the trials' own.
    files::ReplayMemory mem(files_->memory);
    size_t n = files_->trials.size();
    files::readback_files(mem, *files_->validation, files::subject_id(n, false),
                          files::subject_id(n, true), found, mine);
    for (auto &f : fields)
      for (const auto &m : mine)
        if (m.name == f.name)
          f = m;
  } else if (fam.experiment == "net" && net_) {
    net_readbacks++;
    RecordedSockTrials source(net_->trials, net_->release, net_->inum_offset);
    net::validate_net(opt, source, fields, net::given_inum_offset(fields));
  }
}

} // namespace offsetprobe::test
