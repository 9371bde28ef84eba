// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/model/read_plan.h"

#include "reader.h"

#include <algorithm>
#include <stdexcept>

namespace offsetprobe {

uint32_t ReadPlan::add(const ReadStep &step) {
  if (steps_.size() >= OP_MAX_STEPS)
    throw std::invalid_argument("read plan: more than " + std::to_string(OP_MAX_STEPS) + " steps");
  if (step.size == 0 || step.size > OP_STEP_BYTES)
    throw std::invalid_argument("read plan: step of " + std::to_string(step.size) + " bytes");
  if (step.sites == 0 || (step.sites & ~(kAtTrigger | kAtExit)))
    throw std::invalid_argument("read plan: bad sites");
  if (step.parent) {
    // The program reads a parent's value as a pointer, and must never read
    // one left over from an earlier capture at another hook.
    if (*step.parent >= steps_.size())
      throw std::invalid_argument("read plan: parent is not an earlier step");
    const ReadStep &p = steps_[*step.parent];
    if (p.size != 8)
      throw std::invalid_argument("read plan: parent is not a pointer");
    if ((p.sites & step.sites) != step.sites)
      throw std::invalid_argument("read plan: parent not read at every site of its child");
  }
  steps_.push_back(step);
  return static_cast<uint32_t>(steps_.size() - 1);
}

std::string ReadValues::text(std::optional<uint32_t> step) const {
  if (!has(step))
    return "";
  const auto &b = raw[*step];
  return std::string(b.begin(), std::find(b.begin(), b.end(), uint8_t(0)));
}

} // namespace offsetprobe
