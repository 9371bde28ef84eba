#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""The drift page: how field offsets move across Debian's kernel builds.

    scripts/matrix/drift.py RESULTS_DIR [RESULTS_DIR...] [--out docs]

reads RESULTS_DIR/kernels/*/result.json (scripts/matrix/run.sh --list all
writes them; one directory per architecture: amd64, arm64) and writes
OUT/drift.md and OUT/drift.png: per field, the offset on every build that
passed, grouped by architecture, series and flavour; how many distinct
layouts there are; and which fields moved between consecutive ABIs of one
series and flavour. Only offsets the matrix proved (equal to the build's own
BTF) are used. Needs python3-matplotlib (Debian's).
"""
import argparse
import glob
import json
import os
import re
import sys
from collections import OrderedDict, defaultdict

FLAVOURS = ["generic", "cloud", "rt", "16k"]
COLOURS = {"generic": "#1f77b4", "cloud": "#2ca02c", "rt": "#d62728", "16k": "#9467bd"}
ARCHES = ["amd64", "arm64"]
MARKERS = {"amd64": "o", "arm64": "^"}


def arch_counts(builds):
    """The architectures present, in ARCHES' order, and '105 amd64, 136 arm64'."""
    arches = [arch for arch in ARCHES if any(b["arch"] == arch for b in builds)]
    return arches, ", ".join("%d %s" % (sum(1 for b in builds if b["arch"] == arch), arch)
                             for arch in arches)


def arch_of(release):
    """'6.1.0-50-rt-arm64' and '6.12.95+deb12-arm64-16k' -> 'arm64'."""
    m = re.search(r"-(amd64|arm64)(?:-16k)?$", release)
    return m.group(1) if m else "other"


def series_of(release):
    """'6.12.95+deb12-cloud-amd64' -> ('6.12 (deb12)', (6, 12, 95, 12, 0))."""
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)\+deb(\d+)(?:\.(\d+))?-", release)
    if m:
        a, b, c, deb, sub = (int(x or 0) for x in m.groups())
        return "%d.%d (deb%d)" % (a, b, deb), (a, b, c, deb, sub)
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)-(\d+)-", release)
    if m:
        a, b, c, abi = (int(x) for x in m.groups())
        return "%d.%d" % (a, b), (a, b, c, abi, 0)
    return "other", (0, 0, 0, 0, 0)


def load(results_dirs):
    builds, seen = [], set()
    paths = [p for d in results_dirs
             for p in sorted(glob.glob(os.path.join(d, "kernels", "*", "result.json")))]
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        arch = arch_of(r.get("release", ""))
        if r.get("verdict") != "pass" or r.get("flavour") not in FLAVOURS or arch not in ARCHES:
            continue
        # The same build judged in two directories counts once.
        if (r["release"], r.get("build_id")) in seen:
            continue
        seen.add((r["release"], r.get("build_id")))
        series, key = series_of(r["release"])
        series = "%s %s" % (arch, series)
        key = (ARCHES.index(arch),) + key
        offsets = OrderedDict()
        for fld in r.get("fields", []):
            if fld.get("verdict") == "ok" and fld.get("offset") is not None:
                offsets[fld["name"]] = fld["offset"]
            elif fld.get("verdict") == "ok-absent":
                offsets[fld["name"]] = None
        builds.append({"release": r["release"], "arch": arch, "flavour": r["flavour"],
                       "suite": r.get("suite"),
                       "series": series, "key": key, "build_id": r.get("build_id"),
                       "offsets": offsets})
    series_order = sorted({b["series"] for b in builds}, key=lambda s: min(
        b["key"] for b in builds if b["series"] == s))
    builds.sort(key=lambda b: (series_order.index(b["series"]), FLAVOURS.index(b["flavour"]), b["key"]))
    return builds, series_order


def layout_of(b):
    return tuple(sorted(b["offsets"].items(), key=lambda kv: kv[0]))


def plot(builds, series_order, fields, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moving = [f for f in fields if len({b["offsets"].get(f) for b in builds} - {None}) > 1]
    still = [f for f in fields if f not in moving]
    cols = 6
    rows = max(1, (len(moving) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 3.2, rows * 2.4), squeeze=False)
    # x: builds grouped by series, then flavour, then ABI; dotted lines
    # between series.
    xs = list(range(len(builds)))
    bounds = [i for i in range(1, len(builds)) if builds[i]["series"] != builds[i - 1]["series"]]
    for ax, f in zip(axes.flat, moving):
        for fl in FLAVOURS:
            for arch in ARCHES:
                pts = [(x, b["offsets"][f]) for x, b in zip(xs, builds) if b["flavour"] == fl
                       and b["arch"] == arch and b["offsets"].get(f) is not None]
                if pts:
                    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, c=COLOURS[fl],
                               marker=MARKERS[arch])
        for x in bounds:
            ax.axvline(x - 0.5, color="#999", lw=0.5, ls=":")
        ax.set_title(f, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xticks([])
    for ax in list(axes.flat)[len(moving):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker=MARKERS[arch], ls="", color=COLOURS[fl],
                          label="%s %s" % (arch, fl))
               for arch in ARCHES for fl in FLAVOURS
               if any(b["arch"] == arch and b["flavour"] == fl for b in builds)]
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=2)
    _, counts = arch_counts(builds)
    fig.suptitle("Offset (bytes) of each field that moves, on %d Debian kernel builds (%s); "
                 "x: builds by series (%s), then flavour, then ABI. %d fields never move."
                 % (len(builds), counts, ", ".join(series_order), len(still)), fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=72)
    return moving, still


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="one results directory per architecture")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "docs"))
    a = ap.parse_args()
    builds, series_order = load(a.results)
    if not builds:
        sys.exit("drift: no passed build in %s" % " ".join(
            os.path.join(d, "kernels/*/result.json") for d in a.results))
    fields = list(OrderedDict((f, None) for b in builds for f in b["offsets"]))
    png = os.path.join(a.out, "drift.png")
    moving, still = plot(builds, series_order, fields, png)

    layouts = defaultdict(list)
    for b in builds:
        layouts[layout_of(b)].append(b)
    lines = ["# How layouts drift across Debian's kernel builds", "",
             "Generated by `scripts/matrix/drift.py %s` from the fleet archive's results "
             "(`scripts/matrix/run.sh --list all`, [matrix.md](matrix.md#the-fleet-archive)). "
             "Every offset here was proven on its build: calibrated with BTF hidden and equal "
             "to that build's own BTF." % " ".join(os.path.basename(os.path.normpath(d))
                                                 for d in a.results), "",
             "![offsets per field across builds](drift.png)", "",
             "## Distinct layouts", "",
             "%d builds that passed, %d distinct layouts of the %d fields (a layout: every "
             "field's offset)." % (len(builds), len(layouts), len(fields)), "",
             "| series | flavour | builds | distinct layouts |", "|---|---|---|---|"]
    for s in series_order:
        for fl in FLAVOURS:
            bs = [b for b in builds if b["series"] == s and b["flavour"] == fl]
            if bs:
                lines.append("| %s | %s | %d | %d |" % (s, fl, len(bs), len({layout_of(b) for b in bs})))
    lines += ["", "## Fields that moved between consecutive ABIs of one series and flavour", "",
              "| series | flavour | from | to | fields moved (old -> new) |", "|---|---|---|---|---|"]
    moves = 0
    for s in series_order:
        for fl in FLAVOURS:
            bs = [b for b in builds if b["series"] == s and b["flavour"] == fl]
            for p, q in zip(bs, bs[1:]):
                d = ["`%s` %s -> %s" % (f, p["offsets"].get(f), q["offsets"].get(f))
                     for f in fields if p["offsets"].get(f) != q["offsets"].get(f)]
                if d:
                    moves += 1
                    lines.append("| %s | %s | %s | %s | %s |" % (s, fl, p["release"], q["release"],
                                                                "; ".join(d)))
    if moves == 0:
        lines.append("| - | - | - | - | none |")
    arches, counts = arch_counts(builds)
    lines += ["", "## Per field", "",
              "| field | distinct offsets | " + " | ".join("offsets seen on %s" % arch for arch in arches)
              + " |", "|---|---|" + "---|" * len(arches)]
    for f in fields:
        seen = sorted({b["offsets"].get(f) for b in builds} - {None})
        cells = []
        for arch in arches:
            mine = [b for b in builds if b["arch"] == arch]
            on = sorted({b["offsets"].get(f) for b in mine} - {None})
            absent = sum(1 for b in mine if f in b["offsets"] and b["offsets"][f] is None)
            cells.append(", ".join(map(str, on)) + (" (absent on %d)" % absent if absent else ""))
        lines.append("| %s | %d | %s |" % (f, len(seen), " | ".join(cells)))
    with open(os.path.join(a.out, "drift.md"), "w") as out:
        out.write("\n".join(lines) + "\n")
    print("drift: %d builds (%s), %d layouts, %d of %d fields move; wrote %s and drift.md"
          % (len(builds), counts, len(layouts), len(moving), len(fields), png))


if __name__ == "__main__":
    main()
