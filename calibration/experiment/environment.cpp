// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/environment.h"

#include "calibration/experiment/calibrator.h"
#include "calibration/experiment/files/experiment.h"
#include "calibration/experiment/net/net_experiment.h"
#include "calibration/experiment/subject_host.h"
#include "calibration/model/catalogue.h"

#include <unistd.h>

namespace offsetprobe {

namespace {

// The subject host of calibration/experiment/subject_host.h, unchanged: each call is
// the function the calibrator called before there was an Environment.
class LiveSubjects : public Subjects {
public:
  explicit LiveSubjects(const CalibrateOptions &opt) : opt_(opt), host_(opt) {}

  int pid() const override { return host_.pid(); }
  void prepare(const std::vector<Launched *> &subjects) override {
    prepare_subjects(host_, subjects);
  }
  void run(const std::string &phase, const std::vector<Launched *> &subjects,
           const std::function<void(const Cookies &)> &register_cookies) override {
    run_subjects(opt_, host_, phase, subjects, register_cookies);
  }
  void retrigger(const std::vector<Launched *> &subjects) override {
    offsetprobe::retrigger(opt_, host_, subjects);
  }
  void release(const std::vector<Launched *> &subjects) override {
    release_subjects(host_, subjects);
  }
  Trial trial(const Launched &l, const TimeNsOffsets &ns) const override {
    return make_trial(l, ns);
  }
  void finish() override { host_.finish(opt_); }

private:
  const CalibrateOptions &opt_;
  SubjectHost host_;
};

class LiveEnvironment : public Environment {
public:
  void run_experiment(const Family &fam, const CalibrateOptions &opt,
                      std::optional<uint32_t> task_size,
                      std::vector<FieldResult> &fields) const override {
    if (fam.experiment == "files")
      files::add_files_family(opt, backend(opt), task_size, fields);
    else if (fam.experiment == "net")
      net::calibrate_net(opt, backend(opt), fields);
  }
  void read_back(const Family &fam, const CalibrateOptions &opt, std::vector<FieldResult> &fields,
                 Deferred &later) const override {
    if (fam.experiment == "files")
      files::validate_files_family(opt, fields, &later);
    else if (fam.experiment == "net")
      net::validate_net(opt, backend(opt), fields, net::given_inum_offset(fields), &later);
  }
  void check_privileges() const override { check_bpf_privileges(); }
  TimeNsOffsets timens_offsets() const override { return read_timens_offsets(); }
  std::optional<uint32_t> task_struct_size() const override { return slab_task_struct_size(); }
  std::optional<LayoutOrder> config_layout() const override { return layout_from_kernel_config(); }
  uint64_t tick_ns() const override {
    long hz = sysconf(_SC_CLK_TCK);
    return 1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100);
  }
  const Backend &backend(const CalibrateOptions &opt) const override {
    return opt.backend ? *opt.backend : libbpf_backend();
  }
  std::unique_ptr<Subjects> start_subjects(const CalibrateOptions &opt) const override {
    return std::make_unique<LiveSubjects>(opt);
  }
};

} // namespace

const Environment &live_environment() {
  static const LiveEnvironment env;
  return env;
}

} // namespace offsetprobe
