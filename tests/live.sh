# SPDX-License-Identifier: GPL-2.0-only
# Sourced by the live (root + BPF) test scripts: NAME/RUN/EXPECT helpers and
# typed skips. A live test that cannot run exits 77 (meson: skipped) with the
# reason, except under CI=true, where the machine is known to have what the
# test needs and a skip would hide a regression: there it fails.

failures=0

# skip REASON: skip the whole script (or fail under CI=true). A check that
# failed before the skip still fails the script.
skip() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL (CI=true, would skip): $*"
    exit 1
  fi
  echo "SKIP: $*"
  [[ $failures -gt 0 ]] && { echo "$failures check(s) failed before the skip"; exit 1; }
  exit 77
}
# skip_part REASON: one part of the script does not run (the rest does);
# fails under CI=true.
skip_part() {
  if [[ ${CI:-} == true ]]; then
    fail "(CI=true, would skip) $*"
    return 1
  fi
  echo "SKIP (part): $*"
}

ok() { echo "ok   $*"; }
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}

# need_root_bpf: root with the BPF capabilities, else skip.
need_root_bpf() {
  [[ $(id -u) -eq 0 ]] || skip "not root: live BPF tests need root (CAP_BPF, CAP_PERFMON)"
}

finish() { exit $((failures > 0)); }
