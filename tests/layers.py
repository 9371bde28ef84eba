#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Dependencies point one way: every #include "..." of the non-test sources
names a file of its own layer or of a layer it builds on (LAYERS below).

Usage: layers.py SOURCE_ROOT. Prints file:line for each include that goes up
or sideways, and for each source file that lies in no layer; exits 1 if any.
No root, no build needed.
"""

import os
import re
import sys

# The layers, lowest first: (folder, the layers it may include, why it sits
# there). A layer may include only itself and the layers it names, and it can
# name only layers listed before it.
LAYERS = [
    ("calibration/model/", [],
     "the data model (catalogue types, results, snapshots, options, errors and exit codes): plain data"),
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


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    errors = check_table()
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
        print(f"{len(errors)} include(s) against the layers (tests/layers.py)")
        return 1
    print(f"{files} files, {len(LAYERS)} layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
