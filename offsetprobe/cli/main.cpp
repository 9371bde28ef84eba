// SPDX-License-Identifier: GPL-2.0-only
#include "offsetprobe/cli/cli.h"
#include "offsetprobe/cli/exit_codes.h"
#include "calibration/experiment/files/subject.h"
#include "calibration/experiment/subject.h"

#include <cstdio>
#include <iostream>

int main(int argc, char **argv) {
  using namespace offsetprobe;
  // Subjects are re-executions of this binary; they must start fast and must
  // not go through the CLI (their argv is private protocol).
  if (argc >= 2 && std::string(argv[1]) == kSubjectArg)
    return subject_main(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == files::kFilesSubjectArg)
    return files::files_subject_main(argc, argv);

  CLI::App app{"offsetprobe: find kernel struct field offsets without headers or BTF"};
  app.set_version_flag("--version", OFFSETPROBE_VERSION);
  app.require_subcommand(1);
  app.fallthrough(); // global options may follow the subcommand too
  GlobalOptions g;
  g.argv.assign(argv, argv + argc);
  int verbose = 0, quiet = 0;
  app.add_flag("-v,--verbose", verbose, "More log output on stderr (repeatable)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr");
  app.add_option("--cache-dir", g.cache_dir,
                 "Cache directory (default $OFFSETPROBE_CACHE_DIR or /var/cache/offsetprobe)");

  CommandFn run;
  register_calibrate(app, g, run);
  register_verify(app, g, run);
  register_show(app, g, run);
  register_export(app, g, run);
  register_cache(app, g, run);
  register_bundle(app, g, run);
  register_count(app, g, run);
  register_opens(app, g, run);
  register_conn(app, g, run);
  register_fields(app, g, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int rc = app.exit(e);
    // CLI11 returns 0 for --help/--version; every real parse error is a usage error.
    return rc == 0 ? exit_ok : exit_usage;
  }
  g.verbosity = verbose - quiet;
  try {
    return run ? run() : exit_usage;
  } catch (const Error &e) {
    std::fprintf(stderr, "offsetprobe: %s\n", e.what());
    return exit_code_for(e.kind());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "offsetprobe: internal error: %s\n", e.what());
    return exit_failure;
  }
}
