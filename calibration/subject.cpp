// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/subject.h"
namespace offsetprobe {
int subject_main(int, char **) { return 1; }
} // namespace offsetprobe
