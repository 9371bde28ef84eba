// SPDX-License-Identifier: GPL-2.0-only
// What a subject's fds are (names, directories, mounts), from the plan it was
// given; observe_subject() adds every value from /proc. Internal to
// calibration/experiment/files/.
#pragma once

#include "calibration/solve/files/known.h"

namespace offsetprobe::files {

struct SubjectPlanView {
  std::vector<FdKnown> fds; // identity only: fd, kind, name, parent_fd, mount, opath, acc
  std::vector<MountKnown> mounts;
  int root_fd = -1, pwd_fd = -1, exe_fd = -1;
};

SubjectKnown observe_subject(const SubjectPlanView &plan, int pid, const std::string &role);

} // namespace offsetprobe::files
