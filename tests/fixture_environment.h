// SPDX-License-Identifier: GPL-2.0-only
// A fake Environment (calibration/experiment/environment.h) made of a real kernel's
// recorded trials (tests/fixtures): calibrate() runs on it offline, without
// root or BPF. Its subjects are the fixture's: trial i of the calibration is
// served the fixture's trial i (its known values; its snapshots and chain
// captures through the fake scanners), and the validation subject one of the
// fixture's trials. Its reader walks the read-back plan over "kernel memory":
// every struct the fixture captured at its kernel address (tasks, and the
// structs behind their pointers), so an offset that is wrong reads the wrong
// bytes and fails the read-back just as on the kernel.
//
// The families that run experiments of their own replay recordings of them
// when given (record_files, record_net; tests/fixtures/files, net): the
// files experiment's walks are answered from the recorded walks (a walk
// through other offsets is answered "not read"), and the net experiment's
// trials are the recorded trials, whose hits carry the read-back plan's
// values read from the sk bytes and pointees each hit captured. Without a
// recording the family adds no fields.
//
// The memory the reader reads may differ from what the scanners serve: a
// test that moves a field's value in the captured trials (the solver is
// fooled) keeps the kernel's own bytes for the read-back, which must catch
// it.
#pragma once

#include "calibration/experiment/environment.h"
#include "calibration/solve/files/record.h"
#include "calibration/solve/net/sock_solver.h"
#include "calibration/solve/solver.h"

#include <map>
#include <string>
#include <vector>

namespace offsetprobe::test {

class FixtureEnvironment : public Environment {
public:
  // `captures`: the trials the scanners serve; `memory`: the kernel memory
  // the reader reads, trial `validation_trial` for the validation subject
  // (the same trials unaltered, usually); `recorded`: the fixture's options
  // (tick, struct size, boot offset).
  FixtureEnvironment(std::vector<Trial> captures, std::vector<Trial> memory,
                     const SolveOptions &recorded, size_t validation_trial = 0);
  FixtureEnvironment(const FixtureEnvironment &) = delete;
  FixtureEnvironment &operator=(const FixtureEnvironment &) = delete;

  void run_experiment(const Family &fam, const CalibrateOptions &opt,
                      std::optional<uint32_t> task_size,
                      std::vector<FieldResult> &fields) const override;
  void read_back(const Family &fam, const CalibrateOptions &opt, std::vector<FieldResult> &fields,
                 Deferred &later) const override;
  void check_privileges() const override {}
  TimeNsOffsets timens_offsets() const override { return {0, recorded_.boot_offset_ns}; }
  std::optional<uint32_t> task_struct_size() const override { return recorded_.struct_size; }
  std::optional<LayoutOrder> config_layout() const override { return std::nullopt; }
  uint64_t tick_ns() const override { return recorded_.tick_ns; }
  const Backend &backend(const CalibrateOptions &) const override { return backend_; }
  std::unique_ptr<Subjects> start_subjects(const CalibrateOptions &opt) const override;

  // A recording of the files family's experiment (OFFSETPROBE_FILES_DUMP).
  void record_files(files::FilesCapture capture);
  // The net family's recorded trials (OFFSETPROBE_DUMP_NET_TRIALS), the
  // release of their kernel, and the net.ns.inum offset their scanner
  // followed (that kernel's BTF).
  void record_net(std::vector<net::SockTrial> trials, std::string release, uint32_t inum_offset);

  // What the calibration asked for, for the tests to check.
  mutable int scanner_loads = 0, chain_scanner_loads = 0, reader_loads = 0;
  mutable int files_runs = 0, files_readbacks = 0, net_runs = 0, net_readbacks = 0;
  mutable std::vector<std::string> phases; // Subjects::run's phases, in order

  // Which subject a cookie was given to (by the fake Subjects::run).
  struct Served {
    const Trial *capture = nullptr; // what the scanners serve
    const Trial *memory = nullptr;  // what the reader reads
    Role role = Role::leader;
  };
  const Served &served(const std::string &cookie) const;
  void serve(const std::string &phase, const Launched &l) const;
  // Trial `k`'s known values, as the fake Subjects::trial gives them.
  Trial known(const std::string &phase, const Launched &l) const;

  // `len` bytes of the memory trial of `s` at kernel address `addr`, if
  // one of its captured structs holds them readable.
  std::optional<std::vector<uint8_t>> read(const Trial &t, uint64_t addr, uint32_t len) const;

private:
  std::vector<Trial> captures_, memory_;
  SolveOptions recorded_;
  size_t validation_trial_;
  Backend backend_;
  mutable std::map<std::string, Served> by_cookie_;
  std::optional<files::FilesCapture> files_;
  struct NetRecording {
    std::vector<net::SockTrial> trials;
    std::string release;
    uint32_t inum_offset = 0;
  };
  std::optional<NetRecording> net_;
};

// The subject of `role` in a trial.
Subject &subject_of(Trial &t, Role role);
const Subject &subject_of(const Trial &t, Role role);

} // namespace offsetprobe::test
