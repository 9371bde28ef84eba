// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/bcc_capture.h"

#include "calibration/experiment/capture_raw.h"
#include "calibration/solve/chains.h"
#include "calibration/model/error.h"
#include "bpf/runtime/stderr_capture.h"
#include "calibration/experiment/subject.h"

#include "bpf/runtime/bcc_object.h"

#include "chainscan.bcc.h"
#include "reader.bcc.h"
#include "reader.h"
#include "scanner.bcc.h"
#include "sockscan.bcc.h"
#include "scanner.h"

#include <bcc/BPF.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace offsetprobe {

namespace {

// The BCC loader of `p`: its one source (NAME.bpf.c, embedded) compiled with
// the spec as -D macros.
ObjectLoader bcc_loader(const BccConfig &cfg, Program p) {
  BccCompileOptions opts{cfg.headers_origin, cfg.verbose};
  return [opts, p](const ProgramSpec &spec) {
    switch (p) {
    case Program::scanner:
      return load_bcc(spec, kScannerBccSource, opts);
    case Program::chainscan:
      return load_bcc(spec, kChainscanBccSource, opts);
    case Program::reader:
      break;
    }
    return load_bcc(spec, kReaderBccSource, opts);
  };
}

} // namespace

Backend make_bcc_backend(const BccConfig &config) {
  // BCC reads the header location from the environment at each compile; this
  // process (offsetprobe-bcc) exists for the BCC backend alone.
  ::setenv("BCC_KERNEL_SOURCE", config.kernel_source.c_str(), 1);
  return Backend{
      "bcc",
      [config](TriggerMode m, uint32_t nr_chunks) -> std::unique_ptr<Scanner> {
        return std::make_unique<ScannerSession>(bcc_loader(config, Program::scanner), m, nr_chunks);
      },
      [config](TriggerMode m, const ReadPlan &plan) -> std::unique_ptr<Reader> {
        return std::make_unique<ReaderSession>(bcc_loader(config, Program::reader), m, plan);
      },
      [config](TriggerMode m, const ChainPlan &plan, uint32_t n) -> std::unique_ptr<ChainScanner> {
        return std::make_unique<ChainScannerSession>(bcc_loader(config, Program::chainscan), m,
                                                     plan, n);
      },
      [opts = BccCompileOptions{config.headers_origin, config.verbose}](const ProgramSpec &spec) {
        return load_bcc(spec, kSockscanBccSource, opts);
      },
  };
}

} // namespace offsetprobe
