#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Dependencies point one way: every #include "..." of the non-test sources
names a file of its own layer or of a layer it builds on (LAYERS below).
Exit codes belong to the command-line edge alone: below offsetprobe/cli/ no
source includes exit_codes.h or names Fatal, exit_code_for or an exit code
of its table (the engine throws Error and returns Failure with an ErrorKind).

Usage: layers.py SOURCE_ROOT. Prints file:line for each include that goes up
or sideways, for each exit code named below the edge, and for each source
file that lies in no layer; exits 1 if any. No root, no build needed.
"""

import os
import re
import sys

# The layers, lowest first: (folder, the layers it may include, why it sits
# there). A layer may include only itself and the layers it names, and it can
# name only layers listed before it.
LAYERS = [
    ("calibration/model/", [],
     "the data model (catalogue types, results, snapshots, options, error kinds): plain data"),
    ("calibration/solve/", ["calibration/model/"],
     "the pure solvers: bytes and known values in, offsets out, no kernel access"),
    ("calibration/families/", ["calibration/model/", "calibration/solve/"],
     "the catalogue's families: fields, predicates and rules, as data over the solvers"),
    ("bpf/runtime/", ["calibration/model/"],
     "the BPF runtime shared by calibration and the probes: program specs, loaded objects"),
    ("calibration/experiment/",
     ["calibration/model/", "calibration/solve/", "calibration/families/", "bpf/runtime/"],
     "the experiment: subjects, the subject-host protocol, /proc, captures, the calibrator"),
    ("calibration/oracle/", ["calibration/model/", "calibration/solve/", "calibration/experiment/"],
     "the BTF oracle, for verify and the tests: above the experiment, which never uses it"),
    ("cache/", ["calibration/model/"],
     "the cache: kernel id, the store, exports and bundles of calibration results"),
    ("opens/", ["calibration/model/", "bpf/runtime/"],
     "the opens probe: paths resolved in the kernel with the file family's offsets"),
    ("counting/", ["calibration/model/", "bpf/runtime/", "opens/"],
     "the counting probe, which names processes with the opens probe's records"),
    ("connwatch/", ["calibration/model/", "bpf/runtime/", "counting/"],
     "the connection probe, keyed like the counting probe"),
    ("offsetprobe/usecases/",
     ["calibration/model/", "calibration/solve/", "calibration/families/", "bpf/runtime/",
      "calibration/experiment/", "calibration/oracle/", "cache/", "opens/", "counting/",
      "connwatch/"],
     "the use cases (calibrate through the cache, offsets for count and conn), out of the CLI"),
    ("offsetprobe/cli/",
     ["calibration/model/", "calibration/solve/", "calibration/families/", "bpf/runtime/",
      "calibration/experiment/", "calibration/oracle/", "cache/", "opens/", "counting/",
      "connwatch/", "offsetprobe/usecases/"],
     "the command-line edge: flags, commands, output, exit codes"),
]

# Top folders whose every source file must lie in a layer.
CHECKED_ROOTS = ["calibration/", "bpf/runtime/", "cache/", "opens/", "counting/", "connwatch/",
                 "offsetprobe/"]

# The only layer that may know exit codes: it maps an ErrorKind to one
# (offsetprobe/cli/exit_codes.h, exit_code_for) in main().
EDGE = "offsetprobe/cli/"
EXIT_CODES_HEADER = "offsetprobe/cli/exit_codes.h"

SOURCE_EXTENSIONS = (".h", ".hpp", ".cpp", ".c", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    """The layer a repository path belongs to (longest prefix), or None."""
    best = None
    for name, _, _ in LAYERS:
        if path == name or (name.endswith("/") and path.startswith(name)):
            if best is None or len(name) > len(best):
                best = name
    return best


def check_table():
    """The table itself: each layer names only layers listed before it."""
    errors = []
    seen = set()
    for name, uses, _ in LAYERS:
        for u in uses:
            if u not in seen:
                errors.append(f"layers.py: {name} may include {u}, which is not below it")
        seen.add(name)
    return errors


def edge_only_names(root):
    """A regex of what only the edge may name: Fatal, exit_code_for and the
    exit codes of EXIT_CODES_HEADER's table but exit_ok (0 is no error, and a
    plain word for a local flag)."""
    names = ["Fatal", "exit_code_for"]
    with open(os.path.join(root, EXIT_CODES_HEADER), encoding="utf-8") as f:
        names += [n for n in re.findall(r"^\s*(exit_\w+)\s*=\s*\d+,", f.read(), re.M)
                  if n != "exit_ok"]
    return re.compile(r"\b(" + "|".join(names) + r")\b")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    errors = check_table()
    edge_only = edge_only_names(root)
    allowed = {name: set(uses) | {name} for name, uses, _ in LAYERS}
    order = {name: i for i, (name, _, _) in enumerate(LAYERS)}
    files = 0
    for top in CHECKED_ROOTS:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if not n.endswith(SOURCE_EXTENSIONS):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                src_layer = layer_of(rel)
                if src_layer is None:
                    errors.append(f"{rel}: in no layer (add its folder to LAYERS in tests/layers.py)")
                    continue
                files += 1
                with open(os.path.join(root, rel), encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if src_layer != EDGE:
                            if m and os.path.basename(m.group(1)) == "exit_codes.h":
                                errors.append(f"{rel}:{lineno}: includes {m.group(1)}: exit codes "
                                              f"are {EDGE}'s alone (throw Error with an ErrorKind)")
                                continue
                            named = edge_only.search(line)
                            if named:
                                errors.append(f"{rel}:{lineno}: names {named.group(1)}: exit codes "
                                              f"are {EDGE}'s alone (throw Error with an ErrorKind)")
                        if not m:
                            continue
                        target = m.group(1)
                        dst_layer = layer_of(target)
                        # Bare names: the BPF programs' plain-data headers and
                        # skeletons (bpf/), or a file next to this one.
                        if dst_layer is None or dst_layer in allowed[src_layer]:
                            continue
                        way = "up" if order[dst_layer] > order[src_layer] else "sideways"
                        errors.append(f"{rel}:{lineno}: includes {target}: {src_layer} "
                                      f"may not include {dst_layer} ({way})")
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} include(s) or name(s) against the layers (tests/layers.py)")
        return 1
    print(f"{files} files, {len(LAYERS)} layers: every include points down, "
          f"exit codes only in {EDGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
