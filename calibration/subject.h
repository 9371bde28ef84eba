// SPDX-License-Identifier: GPL-2.0-only
// Subjects: re-executions of this binary in a hidden mode, driven over pipes.
#pragma once

namespace offsetprobe {

// argv[1] that selects subject mode. Not a documented command.
inline constexpr const char *kSubjectArg = "__offsetprobe_subject";

// Entry point of a subject process.
int subject_main(int argc, char **argv);

} // namespace offsetprobe
