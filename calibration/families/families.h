// SPDX-License-Identifier: GPL-2.0-only
// The family units of the catalogue (calibration/catalogue.h): one function
// per family, each in its own file. Adding a family is adding a file here and
// a line in catalogue.cpp (docs/adding-a-field-family.md).
#pragma once

#include "calibration/catalogue.h"

namespace offsetprobe::families {

Family task();
Family cred();
Family ns();
Family mm();
Family audit();

} // namespace offsetprobe::families
