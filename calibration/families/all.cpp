// SPDX-License-Identifier: GPL-2.0-only
// The catalogue's families, in report order (catalogue() of
// calibration/model/catalogue.h). Defined here, above the model, so that the
// model names no family: adding one is a file in this folder and a line here.
#include "calibration/families/families.h"

namespace offsetprobe {

const std::vector<Family> &catalogue() {
  // Report order: a family's fields follow the ones they are reached from.
  // Moved in, not copied from an initializer list (and the copies then
  // destroyed): every process that calibrates builds this once, and each
  // first touch of a page costs a fault (~10 us on this kind of VM).
  static const std::vector<Family> all = [] {
    std::vector<Family> v;
    v.reserve(8);
    for (Family (*make)() : {families::task, families::cred, families::ns, families::mm,
                             families::audit, families::sched, families::files, families::net})
      v.push_back(make());
    return v;
  }();
  return all;
}

} // namespace offsetprobe
