#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The checks of cred_orders.sh on one calibration (--json) and its trials
(--dump-snapshots). Exit 0 with a summary line, or 1 with what failed."""
import json
import struct
import sys

IDS = ["uid", "gid", "suid", "sgid", "euid", "egid", "fsuid", "fsgid"]
UIDS, GIDS = [0, 2, 4, 6], [1, 3, 5, 7]


def main():
    cal = json.load(open(sys.argv[1]))
    snap = json.load(open(sys.argv[2]))
    fields = {f["name"]: f for f in cal["fields"]}
    problems = []
    for n in ["task_struct.real_cred", "task_struct.cred"] + ["cred." + i for i in IDS]:
        f = fields.get(n)
        if not f or f.get("status") != "calibrated":
            problems.append(f"{n}: {f and f.get('status')}, want calibrated")
    if problems:
        print("\n".join(problems))
        return 1
    ptr = fields["task_struct.cred"]["offset"]
    at = [fields["cred." + i]["offset"] for i in IDS]
    stale7 = 0
    trials = snap["trials"]
    for i, t in enumerate(trials):
        c = t["creds"]
        ids = c["cred_ids"]
        order = ["all_distinct", "uids_last", "gids_last"][i % 3]
        want_equal = {"all_distinct": [], "uids_last": [(6, 4)], "gids_last": [(7, 5)]}[order]
        for a, b in [(6, 4), (7, 5)]:
            if (ids[a] == ids[b]) != ((a, b) in want_equal):
                problems.append(f"trial {i} ({order}): {IDS[a]} {ids[a]}, {IDS[b]} {ids[b]}")
        if len(set(ids)) != 8 - len(want_equal):
            problems.append(f"trial {i} ({order}): ids {ids} not distinct as planned")
        chain = c["chain"]
        if ptr not in chain["ptr_offsets"]:
            problems.append(f"trial {i}: no window captured behind task_struct.cred ({ptr})")
            continue
        b = bytes.fromhex(chain["pointees"][chain["ptr_offsets"].index(ptr)]["bytes"])

        def where(v):
            return [o for o in range(0, len(b) - 3, 4) if struct.unpack_from("<I", b, o)[0] == v]

        family = {"uids_last": UIDS, "gids_last": GIDS}.get(order)
        if family:
            own = {at[k] for k in family}
            for k in family:
                extra = [o for o in where(ids[k]) if o not in own]
                if extra:
                    problems.append(f"trial {i} ({order}): {IDS[k]} {ids[k]} also at {extra}")
        else:
            # A stale cred: seven of the eight ids at one distance from C's.
            shifts = {}
            for k in range(8):
                for o in where(ids[k]):
                    if o != at[k]:
                        shifts[o - at[k]] = shifts.get(o - at[k], 0) + 1
            stale7 += any(n >= 7 for n in shifts.values())
    if problems:
        print("\n".join(problems))
        return 1
    n0 = len(range(0, len(trials), 3))
    print(f"{len(trials)} trials in order; stale cred with 7 ids in {stale7} of {n0} "
          "all_distinct trials; none with a uids_last/gids_last family's ids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
