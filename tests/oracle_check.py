#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# NAME   oracle_check: a calibration against two independent oracles
# RUN    oracle_check.py CAL_JSON VERIFY_JSON VERIFY_RC [options]
# EXPECT every field of CAL_JSON (`offsetprobe calibrate --json`) is judged
#        against the kernel's BTF twice: by `offsetprobe verify --json`
#        (VERIFY_JSON, its exit code VERIFY_RC), the project's own BTF reader,
#        and by bpftool (scripts/matrix/btf-truth.sh), which shares no code
#        with it. Fails (exit 1) when
#        - the two oracles disagree on a field's BTF offset (a bug in one of
#          them: neither may then be trusted to pass the other fields);
#        - a calibrated offset differs from bpftool's (WRONG), or verify does
#          not call a calibrated field a match;
#        - a field reported not_present is in BTF;
#        - verify's exit code is not 0 when every field matches, or not 6
#          when some field does not;
#        - with --complete: any field ambiguous or unresolved (except those
#          named by --allow), or a calibrated field whose validation is not
#          --validation (default passed);
#        - fewer than --min-fields fields are calibrated.
# Options: --btf FILE (default /sys/kernel/btf/vmlinux), --truth-cache DIR
# (bpftool's answer is kept there per set of structs: load.sh judges 200
# calibrations), --quiet (print only failures and the summary line).
import argparse, hashlib, json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
btf_truth = os.path.join(here, "..", "scripts", "matrix", "btf-truth.sh")

ap = argparse.ArgumentParser()
ap.add_argument("cal")
ap.add_argument("verify")
ap.add_argument("verify_rc", type=int)
ap.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
ap.add_argument("--truth-cache")
ap.add_argument("--complete", action="store_true")
ap.add_argument("--allow", action="append", default=[])
ap.add_argument("--validation", default="passed")
ap.add_argument("--min-fields", type=int, default=1)
ap.add_argument("--quiet", action="store_true")
a = ap.parse_args()

problems = []


def bad(msg):
    problems.append(msg)
    print("FAIL", msg)


try:
    cal = json.load(open(a.cal))
    fields = cal["fields"]
except (OSError, ValueError, KeyError, TypeError) as e:
    print(f"FAIL calibration JSON {a.cal}: {e}")
    sys.exit(1)
try:
    ver = json.load(open(a.verify))
    by_name = {f["name"]: f for f in ver["fields"]}
except (OSError, ValueError, KeyError, TypeError) as e:
    print(f"FAIL verify JSON {a.verify} (exit {a.verify_rc}): {e}")
    sys.exit(1)

structs = sorted({f.get("struct") or "task_struct" for f in fields} | {"task_struct"})


def load_truth():
    key = hashlib.sha256((os.path.realpath(a.btf) + " " + " ".join(structs)).encode()).hexdigest()[:16]
    path = os.path.join(a.truth_cache, f"btf-truth-{key}.json") if a.truth_cache else None
    if path and os.path.exists(path):
        return json.load(open(path))
    out = subprocess.run(["bash", btf_truth, a.btf] + structs, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"FAIL btf-truth.sh (bpftool) exit {out.returncode}: {out.stderr.strip()[-300:]}")
        sys.exit(1)
    truth = json.loads(out.stdout)
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(out.stdout)
        os.replace(path + ".tmp", path)
    return truth


truth = load_truth()
if not (truth.get("task_struct") or {}).get("members"):
    print("FAIL bpftool found no task_struct in", a.btf)
    sys.exit(1)


def bpftool_offset(f):
    members = (truth.get(f.get("struct") or "task_struct") or {}).get("members") or {}
    for name in [f["member"]] + list(f.get("aliases") or []):
        if name in members:
            return members[name]
    return None


calibrated = agree = not_calibrated = absent = 0
all_match = True
for f in fields:
    name, status = f["name"], f["status"]
    t = bpftool_offset(f)
    v = by_name.get(name)
    if v is None:
        bad(f"{name}: missing from verify's report")
        all_match = False
        continue
    all_match &= v["verdict"] == "match"
    if v.get("btf_offset") != t:
        bad(f"{name}: the oracles disagree: verify's BTF offset {v.get('btf_offset')}, bpftool's {t}")
        continue
    agree += 1
    if status == "calibrated":
        calibrated += 1
        if t is None:
            bad(f"{name}: calibrated at {f.get('offset')}, but BTF has no such member")
        elif f.get("offset") != t:
            bad(f"{name}: WRONG offset {f.get('offset')}, BTF (bpftool) says {t}")
        elif v["verdict"] != "match":
            bad(f"{name}: offset {t} equals bpftool's, but verify says {v['verdict']} ({v.get('detail')})")
        elif a.complete and a.validation != "any" and f.get("validation") != a.validation:
            bad(f"{name}: validation {f.get('validation')}, want {a.validation}")
        elif not a.quiet:
            print(f"ok   {name} {t}")
    elif status == "not_present":
        absent += 1
        if t is not None:
            bad(f"{name}: reported not_present, but BTF has it at {t}")
    else:
        not_calibrated += 1
        if a.complete and name not in a.allow:
            bad(f"{name}: {status} ({f.get('reason', '')}), want calibrated")
want_rc = 0 if all_match else 6
if a.verify_rc != want_rc:
    bad(f"verify exited {a.verify_rc}, want {want_rc} ({'every' if all_match else 'not every'} field a match)")
if calibrated < a.min_fields:
    bad(f"only {calibrated} calibrated fields, want at least {a.min_fields}")
print(f"oracles: {len(fields)} fields, both oracles agree on {agree}; {calibrated} calibrated and equal to both,"
      f" {absent} not present, {not_calibrated} not calibrated; {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
