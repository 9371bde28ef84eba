// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer harness over everything that reads untrusted cache bytes: the
// header-only reader's pipeline, the store's full parse (strict calibration
// parse included), the exports of whatever parses, and the ELF note parser.
// Build and run: scripts/fuzz.sh [SECONDS].
#include "cache/export.h"
#include "cache/store.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace offsetprobe;
  std::string_view text(reinterpret_cast<const char *>(data), size);
  (void)parse_gnu_build_id(data, size);
  auto o = reader::parse_entry(text, "fuzz");
  auto e = parse_entry(text, "fuzz");
  // One implementation: whatever the store accepts, the reader accepts.
  if (e && !o)
    __builtin_trap();
  if (e) {
    for (auto f :
         {ExportFormat::json, ExportFormat::c_header, ExportFormat::bcc_cflags, ExportFormat::env})
      (void)render_export(e.value(), f);
    // Round trip: what we would write back parses back the same.
    auto again = entry_from_json(to_json(e.value()), "fuzz");
    if (!again)
      __builtin_trap();
  }
  return 0;
}
