// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/net/net_experiment.h"
#include "calibration/model/timing.h"

#include "calibration/model/catalogue.h"
#include "calibration/model/error.h"
#include "calibration/experiment/net/sock_subject.h"
#include "calibration/solve/net/sock_trial_json.h"
#include "calibration/solve/net/socket_solver.h"
#include "calibration/experiment/subject_host.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/random.h>
#include <sys/utsname.h>

#include "sockscan.h"

namespace offsetprobe::net {

namespace {

// OFFSETPROBE_TIMING=1: the experiment's steps on stderr, like the engine's.
void mark(const char *what) {
  static const auto t0 = std::chrono::steady_clock::now();
  timing_mark("net", t0, what);
}

const Family &net_family() {
  for (const auto &f : catalogue())
    if (f.name == "net")
      return f;
  throw std::logic_error("catalogue: no net family");
}

// A comm cookie like the subjects' (calibration/experiment/subject.cpp): "op" + 13 of
// [a-z0-9], so that tests find every subject of a run by one pattern.
std::string make_cookie() {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  uint8_t r[13];
  if (getrandom(r, sizeof(r), 0) != sizeof(r))
    throw Error(ErrorKind::failure, "getrandom failed");
  std::string c = "op";
  for (uint8_t b : r)
    c += alphabet[b % 36];
  return c;
}

void all_unresolved(std::vector<FieldResult> &fields, const std::string &why, bool required) {
  for (auto &f : fields) {
    f.status = FieldStatus::unresolved;
    f.offset.reset();
    f.reason = why;
    f.required = f.required && required;
  }
}

const FieldResult *calibrated(const std::vector<FieldResult> &fields, const std::string &name) {
  for (const auto &f : fields)
    if (f.name == name && f.status == FieldStatus::calibrated)
      return &f;
  return nullptr;
}

// The plan: every calibrated field at its offset from the sk; skc_net's
// pointee read at net.ns.inum; struct socket's fields from sk_socket's
// pointee, with sk_socket's round trip through socket.sk and socket.file's
// through file.private_data (socket_solver.h).
std::vector<SockStep> make_plan(const std::vector<FieldResult> &fields,
                                std::optional<uint32_t> inum_offset,
                                std::optional<uint32_t> private_data,
                                std::map<std::string, uint32_t> &steps) {
  std::vector<SockStep> plan;
  auto add = [&](const std::string &name, std::optional<uint32_t> parent, uint32_t off,
                 uint32_t size) {
    steps[name] = static_cast<uint32_t>(plan.size());
    plan.push_back({parent, off, size});
  };
  const FieldResult *sk = calibrated(fields, "socket.sk");
  for (const auto &f : fields) {
    if (f.status != FieldStatus::calibrated || plan.size() + 2 > OP_SK_MAX_STEPS)
      continue;
    std::optional<uint32_t> parent;
    if (f.name.rfind("socket.", 0) == 0) {
      auto p = steps.find("sock.sk_socket");
      if (p == steps.end())
        continue; // not read back: fails as unknown
      parent = p->second;
    }
    add(f.name, parent, *f.offset, f.size);
    if (f.name == "sock_common.skc_net" && inum_offset)
      add("sock_common.skc_net>net.ns.inum", steps[f.name], *inum_offset, 4);
    if (f.name == "sock.sk_socket" && sk)
      add("sock.sk_socket>socket.sk", steps[f.name], *sk->offset, 8);
    if (f.name == "socket.file" && private_data)
      add("socket.file>file.private_data", steps[f.name], *private_data, 8);
  }
  return plan;
}

// struct socket's fields are read through sk_socket: when it did not pass
// its round trip, they cannot stand either.
void socket_behind_sk_socket(std::vector<FieldResult> &fields) {
  if (calibrated(fields, "sock.sk_socket"))
    return;
  const std::string why = "read through sock.sk_socket, which did not pass its read-back";
  for (auto &f : fields)
    if (f.name.rfind("socket.", 0) == 0 && f.status == FieldStatus::calibrated) {
      fail_readback(f, why, why);
    }
}

// sk_type and sk_protocol were bit-fields before 5.6 (sk_type:16 and
// sk_protocol:8 in one word with sk_userlocks and others): a byte offset
// found there would not be the field's. Not reported, with the reason.
void refuse_bitfields(const std::string &release, std::vector<FieldResult> &fields) {
  unsigned maj = 0, min = 0;
  if (std::sscanf(release.c_str(), "%u.%u", &maj, &min) != 2 || maj > 5 || (maj == 5 && min >= 6))
    return;
  for (auto &f : fields)
    if (f.name == "sock.sk_type" || f.name == "sock.sk_protocol") {
      f.status = FieldStatus::not_present;
      f.offset.reset();
      f.candidates.clear();
      f.required = false;
      f.reason = std::string("a bit-field on this kernel (") + release +
                 ", before 5.6): no byte offset, and no bit offset is guessed";
    }
}

// Reads every calibrated field of `mine` back in the kernel, from the sk of
// a fresh trial's hits, and fails those that do not read back.
void readback(const CalibrateOptions &opt, SockTrials &scan, std::optional<uint32_t> inum_offset,
              std::optional<uint32_t> private_data, std::vector<FieldResult> &mine) {
  bool any = std::any_of(mine.begin(), mine.end(),
                         [](const FieldResult &f) { return f.status == FieldStatus::calibrated; });
  if (!any)
    return;
  throw_if_stopped(opt);
  std::map<std::string, uint32_t> steps;
  scan.set_plan(make_plan(mine, inum_offset, private_data, steps));
  mark("read-back: plan set");
  auto run = scan.run();
  mark("read-back: trial run");
  if (!run.error.empty() && run.cannot_run.empty())
    run = scan.run();
  if (!run.error.empty() || !run.cannot_run.empty()) {
    // Nothing read back: nothing is reported.
    for (auto &f : mine)
      if (f.status == FieldStatus::calibrated) {
        std::string why = "the validation trial failed: " + run.error + run.cannot_run;
        fail_readback(f, why, why);
      }
    return;
  }
  check_sock_readback(run.trial, run.events, steps, mine);
  check_socket_readback(run.trial, run.events, steps, mine);
  socket_behind_sk_socket(mine);
}

bool is_seq_field(const std::string &name) {
  return name == "tcp_sock.snd_una" || name == "tcp_sock.snd_nxt" || name == "tcp_sock.rcv_nxt";
}

// net.ns.inum's offset as solved: the experiment starts before its
// validation ends (calibrate() fails skc_net afterwards when that read-back
// fails, skc_net_behind_failed_inum); one whose read-back already failed is
// not used.
std::optional<uint32_t> inum_offset_of(const std::vector<FieldResult> &fields) {
  for (const auto &f : fields)
    if (f.name == "net.ns.inum" && f.status == FieldStatus::calibrated &&
        f.validation != Validation::failed)
      return f.offset;
  return std::nullopt;
}

// The net family's calibrated fields in `fields`.
std::vector<FieldResult *> calibrated_net_fields(std::vector<FieldResult> &fields) {
  std::vector<FieldResult *> mine;
  for (auto &f : fields)
    if (family_of(f.name) == &net_family() && f.status == FieldStatus::calibrated)
      mine.push_back(&f);
  return mine;
}

// The live source: the socket subject on a thread of ours, its comm a fresh
// cookie for each trial, under the socket scanner.
//
// The client with an RTO (tcp_sock.total_retrans 2, ~20 ms) runs in the
// first calibration trial only (again in the next if that one failed): the
// others and the read-back have the probe-only client, which fits in the
// time their other sockets take. The first trial's subject is started
// before the scanner is loaded: it sets up its namespace and starts its
// episodes while the scanner loads (retrans_subject.h).
class LiveSockTrials : public SockTrials {
public:
  LiveSockTrials(const ObjectLoader &sockscan, std::optional<uint32_t> inum_offset,
                 bool readback_only)
      : want_rto_(!readback_only), first_(start_first(readback_only)),
        scan_(sockscan, inum_offset, readback_only) {}
  void set_plan(const std::vector<SockStep> &plan) override { scan_.set_plan(plan); }
  SockTrialRun run() override {
    SockTrialRun run;
    if (first_) {
      scan_.add_cookie(first_->cookie());
      run = first_->run(scan_);
      first_.reset();
    } else {
      auto cookie = make_cookie();
      scan_.add_cookie(cookie);
      run = run_sock_trial(scan_, cookie, want_rto_);
    }
    if (run.error.empty())
      want_rto_ = false;
    return run;
  }
  std::string release() const override {
    utsname u{};
    return ::uname(&u) == 0 ? u.release : "";
  }

private:
  static std::unique_ptr<PendingSockTrial> start_first(bool readback_only) {
    if (readback_only)
      return nullptr;
    return std::make_unique<PendingSockTrial>(make_cookie(), true);
  }

  bool want_rto_;
  // Before scan_: started first, and (not run) let go and joined last.
  std::unique_ptr<PendingSockTrial> first_;
  SockScanSession scan_;
};

} // namespace

std::unique_ptr<SockTrials> live_sock_trials(const ObjectLoader &sockscan,
                                             std::optional<uint32_t> inum_offset,
                                             bool readback_only) {
  return std::make_unique<LiveSockTrials>(sockscan, inum_offset, readback_only);
}

std::optional<uint32_t> given_inum_offset(const std::vector<FieldResult> &fields) {
  for (const auto &f : fields)
    if (f.name == "net.ns.inum" && f.status == FieldStatus::calibrated)
      return f.offset;
  return std::nullopt;
}

void validate_net(const CalibrateOptions &opt, const Backend &backend,
                  std::vector<FieldResult> &fields, std::optional<uint32_t> inum, Deferred *later) {
  auto mine = calibrated_net_fields(fields);
  if (mine.empty())
    return;
  if (!backend.sockscan) {
    for (auto *f : mine) {
      f->candidates = {*f->offset};
      f->offset.reset();
      f->status = FieldStatus::unresolved;
      f->reason = "the " + backend.name + " backend has no socket scanner";
      f->required = false;
      f->validation = Validation::not_run;
    }
    return;
  }
  mark("validate: start");
  auto source = live_sock_trials(backend.sockscan, inum, /*readback_only=*/true);
  mark("validate: socket scanner loaded (read-back only)");
  validate_net(opt, *source, fields, inum);
  if (later)
    later->keep(std::move(source));
}

void validate_net(const CalibrateOptions &opt, SockTrials &source, std::vector<FieldResult> &fields,
                  std::optional<uint32_t> inum) {
  auto mine = calibrated_net_fields(fields);
  if (mine.empty())
    return;
  std::vector<FieldResult> copy;
  for (auto *f : mine)
    copy.push_back(*f);
  // socket.file's round trip: the file family's file.private_data, as given.
  std::optional<uint32_t> private_data;
  if (const auto *pd = calibrated(fields, "file.private_data"))
    private_data = pd->offset;
  refuse_bitfields(source.release(), copy);
  readback(opt, source, inum, private_data, copy);
  for (size_t i = 0; i < mine.size(); i++)
    *mine[i] = copy[i];
}

bool net_selected(const CalibrateOptions &opt) {
  for (const auto &f : net_family().fields)
    if (opt.fields.has(f.name()))
      return true;
  return false;
}

namespace {

// The selected fields of the net family, unsolved.
std::vector<FieldResult> selected_net_fields(const CalibrateOptions &opt) {
  std::vector<FieldResult> mine;
  for (const auto &f : net_family().fields)
    if (opt.fields.has(f.name())) {
      mine.push_back(unsolved(f));
      mine.back().required = f.required;
    }
  return mine;
}

} // namespace

void calibrate_net(const CalibrateOptions &opt, const Backend &backend,
                   std::vector<FieldResult> &fields) {
  if (selected_net_fields(opt).empty())
    return;
  if (!backend.sockscan) {
    auto mine = selected_net_fields(opt);
    all_unresolved(mine, "the " + backend.name + " backend has no socket scanner", false);
    for (auto &f : mine)
      fields.push_back(std::move(f));
    return;
  }
  mark("start");
  auto source = live_sock_trials(backend.sockscan, inum_offset_of(fields), false);
  mark("socket scanner loaded");
  calibrate_net(opt, *source, fields);
}

void calibrate_net(const CalibrateOptions &opt, SockTrials &scan,
                   std::vector<FieldResult> &fields) {
  std::vector<FieldResult> mine = selected_net_fields(opt);
  if (mine.empty())
    return;
  auto append = [&] {
    for (auto &f : mine)
      fields.push_back(std::move(f));
  };
  std::optional<uint32_t> inum_offset = inum_offset_of(fields);
  std::vector<SockTrial> trials;
  std::string no_v6, no_repair, no_udp, no_retrans;
  // Runs trial `i` into `trials`: false when the family cannot go on (its
  // fields are then appended, unresolved, with the reason).
  auto one_trial = [&](uint32_t i) {
    throw_if_stopped(opt);
    auto run = scan.run();
    // A trial that went wrong (a hit missing under load, say) is run again
    // with fresh values, once; a second failure leaves the fields unresolved
    // rather than failing the whole calibration.
    if (!run.error.empty() && run.cannot_run.empty())
      run = scan.run();
    if (!run.cannot_run.empty()) {
      all_unresolved(mine, "the socket subject cannot run here: " + run.cannot_run, false);
      append();
      return false;
    }
    if (!run.error.empty()) {
      all_unresolved(mine, "net trial " + std::to_string(i + 1) + " failed twice: " + run.error,
                     true);
      append();
      return false;
    }
    if (!run.no_v6.empty())
      no_v6 = run.no_v6;
    if (!run.no_repair.empty())
      no_repair = run.no_repair;
    if (!run.no_udp.empty())
      no_udp = run.no_udp;
    if (!run.no_retrans.empty())
      no_retrans = run.no_retrans;
    trials.push_back(std::move(run.trial));
    mark("trial run");
    return true;
  };
  for (uint32_t i = 0; i < opt.trials; i++)
    if (!one_trial(i))
      return;
  // The matrix's guests keep the raw trials as offline fixtures
  // (scripts/matrix/fixture.sh, tests/test_net_replay.cpp).
  if (const char *dump = std::getenv("OFFSETPROBE_DUMP_NET_TRIALS"); dump && *dump) {
    std::string why;
    if (!write_trials_file(dump, trials, std::min<uint32_t>(3, opt.trials), why))
      throw Error(ErrorKind::failure, "OFFSETPROBE_DUMP_NET_TRIALS: " + why);
  }
  const uint32_t min_trials = std::min<uint32_t>(3, opt.trials);
  solve_sock_fields(trials, min_trials, mine);
  auto socket = solve_socket_fields(trials, min_trials, mine);
  // A field whose known value was the same in every capture (loopback RTTs
  // that came out equal: tcp_sock.mdev_us, rarely) is
  // unresolved, not guessed. Up to kExtraTrials more trials give it other
  // values: a trial only adds captures, and every candidate must hold its
  // value in all of them, so more trials can remove candidates, never add
  // one. Each field is solved again from scratch on all the trials.
  constexpr uint32_t kExtraTrials = 2;
  auto never_changed = [&mine] {
    return std::any_of(mine.begin(), mine.end(),
                       [](const FieldResult &f) { return f.reason == kNeverChanged; });
  };
  for (uint32_t extra = 0; extra < kExtraTrials && never_changed(); extra++) {
    if (!one_trial(opt.trials + extra))
      return;
    mine = selected_net_fields(opt);
    solve_sock_fields(trials, min_trials, mine);
    socket = solve_socket_fields(trials, min_trials, mine);
    mark("extra trial solved");
  }
  refuse_bitfields(scan.release(), mine);
  for (auto &f : mine) {
    if (f.name == "sock_common.skc_net" && !inum_offset) {
      f.status = FieldStatus::unresolved;
      f.candidates.clear();
      f.offset.reset();
      f.reason = "net.ns.inum was not calibrated: the sk's words cannot be followed";
    }
    if (!no_v6.empty() && f.status != FieldStatus::calibrated &&
        f.name.find("_v6_") != std::string::npos) {
      f.reason = "IPv6 unusable here (" + no_v6 + ")";
      f.required = false;
    }
    if (!no_repair.empty() && f.status != FieldStatus::calibrated && is_seq_field(f.name))
      f.reason = "TCP_REPAIR refused here (" + no_repair +
                 "): tcp_sock's sequence numbers "
                 "cannot be known";
    if (!no_retrans.empty() && f.name == "tcp_sock.total_retrans" &&
        f.status != FieldStatus::calibrated) {
      f.reason = "no retransmission episode here (" + no_retrans + "): the value 0 only";
      f.required = false;
    }
    bool udp_only =
        f.name == "sock.sk_type" || f.name == "sock.sk_protocol" || f.name == "socket.type";
    if (!no_udp.empty() && udp_only && f.status == FieldStatus::unresolved) {
      f.reason = "no UDP socket hit here (" + no_udp + "): one known value only";
      f.required = false;
    }
  }
  if (opt.validate)
    readback(opt, scan, inum_offset, socket.private_data, mine);
  append();
}

} // namespace offsetprobe::net
