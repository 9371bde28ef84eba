// SPDX-License-Identifier: GPL-2.0-only
// The catalogue's families, in report order (catalogue() of
// calibration/model/catalogue.h). Defined here, above the model, so that the
// model names no family: adding one is a file in this folder and a line here.
#include "calibration/families/families.h"

namespace offsetprobe {

const std::vector<Family> &catalogue() {
  // Report order: a family's fields follow the ones they are reached from.
  static const std::vector<Family> all = {families::task(),  families::cred(),  families::ns(),
                                          families::mm(),    families::audit(), families::sched(),
                                          families::files(), families::net()};
  return all;
}

} // namespace offsetprobe
