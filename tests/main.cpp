// SPDX-License-Identifier: GPL-2.0-only
// The one doctest main every suite links.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
