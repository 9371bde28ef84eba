#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""A shipped fleet bundle is not stale: every layout of dist/fleet/ARCH/bundle.json
holds every field of this binary's catalogue (`offsetprobe fields --json`),
each calibrated with an offset or not_present, every build names a layout
the bundle holds, and every build is ARCH's (its kernel's machine: x86_64
for amd64, aarch64 for arm64; a bundle copied into the other architecture's
directory would ship kernels no host of that package can run). A field added
to the catalogue without the archive being rerun fails here: on every fleet kernel, the default `calibrate` would read
the bundle back and then calibrate that field on the spot (the eighteenth
session found the bundle without tcp_sock.total_retrans: 125 ms instead of
~26). No root. Usage: shipped_bundle.py OFFSETPROBE_BINARY BUNDLE ARCH"""
import json
import subprocess
import sys

MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}


def regen(arch):
    return ("regenerate it (docs/matrix.md, 'The fleet archive'): bash scripts/matrix/run.sh "
            f"--arch {arch} --list all --resume -o fleet-{arch}; "
            f"cp fleet-{arch}/bundle.json dist/fleet/{arch}/bundle.json")


def main():
    binary, path, arch = sys.argv[1], sys.argv[2], sys.argv[3]
    catalogue = json.loads(subprocess.run([binary, "fields", "--json"], check=True,
                                          capture_output=True, text=True).stdout)
    names = [f["name"] for f in catalogue]
    bundle = json.load(open(path))
    problems = []
    if bundle.get("schema") != "offsetprobe-bundle/v2":
        problems.append(f"schema {bundle.get('schema')!r}, want offsetprobe-bundle/v2")
    layouts, builds = bundle.get("layouts", {}), bundle.get("builds", {})
    if not builds or not layouts:
        problems.append(f"{len(builds)} builds, {len(layouts)} layouts: want some of each")
    for lid, layout in sorted(layouts.items()):
        fields = {f["name"]: f for f in layout.get("fields", [])}
        missing = [n for n in names if n not in fields]
        unknown = sorted(set(fields) - set(names))
        if missing:
            problems.append(f"layout {lid} lacks {', '.join(missing)}")
        if unknown:
            problems.append(f"layout {lid} holds fields the catalogue does not: {', '.join(unknown)}")
        for n, f in sorted(fields.items()):
            st = f.get("status")
            if st == "calibrated" and not isinstance(f.get("offset"), int):
                problems.append(f"layout {lid}: {n} calibrated without an offset")
            elif st not in ("calibrated", "not_present"):
                problems.append(f"layout {lid}: {n} is {st!r} (a 'cannot tell' the fleet "
                                "calibrates on every host)")
    used = set()
    for bid, b in sorted(builds.items()):
        lid = b.get("layout")
        used.add(lid)
        machine = b.get("kernel", {}).get("machine")
        if machine != MACHINE[arch]:
            problems.append(f"build {bid} ({b.get('kernel', {}).get('release')}) is for "
                            f"{machine!r}, not {arch} ({MACHINE[arch]})")
        if lid not in layouts:
            problems.append(f"build {bid} ({b.get('kernel', {}).get('release')}) names layout "
                            f"{lid!r}, which the bundle lacks")
    for lid in sorted(set(layouts) - used):
        problems.append(f"layout {lid} is named by no build")
    if problems:
        print("FAIL the shipped bundle " + path + " is stale or broken; " + regen(arch))
        for p in problems:
            print("    " + p)
        return 1
    print(f"ok   {path}: {len(builds)} {arch} builds, {len(layouts)} layouts, each with all "
          f"{len(names)} catalogue fields")
    return 0


if __name__ == "__main__":
    sys.exit(main())
