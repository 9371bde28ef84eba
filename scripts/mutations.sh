#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Mutation demonstrations for issue #20 (docs/test-suite.md): each test the
# issue found too weak is run twice against the same mutation, once as it is
# now and once as it was before the fixes (commit 23afb68), and the lines
# that judge the mutated behaviour are printed with each run's exit code.
# The mutation must make the test fail now; before, it passed.
#
# Usage: scripts/mutations.sh BUILD_DIR [MUTANT_BINARY] [NAME...]
#   BUILD_DIR      a built tree (offsetprobe/offsetprobe, tests/count_subject)
#   MUTANT_BINARY  offsetprobe built with the source mutations of
#                  docs/test-suite.md ("kill reported as a timeout", "reads the
#                  whole entry"); the cases that need it are skipped without
#   NAME           cases to run (default: all): test_sh load faults no_bcc_maps
#                  count_cli backends_count help live_calibrate chains_live
#                  cli_hostile sleeps
# Needs root and BPF for the live cases. Not part of the suite: it takes
# several minutes and runs tests as they were.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "$1")
mutant=${2:+$(realpath "$2")}
shift $(($# > 1 ? 2 : 1))
names=${*:-test_sh load faults no_bcc_maps count_cli backends_count help live_calibrate chains_live cli_hostile sleeps}
bin=$build/offsetprobe/offsetprobe
subject=$build/tests/count_subject
before=23afb68
m=$(mktemp -d)
chmod 755 "$m"
trap 'rm -rf "$m"' EXIT

# The tests as they were, next to the tests as they are.
mkdir -p "$m/old" "$m/new"
git -C "$here" archive "$before" tests scripts | tar -x -C "$m/old"
cp -r "$here/tests" "$here/scripts" "$m/new/"

# show NAME WHICH RC LOG REGEX: one result line, then the judging lines.
show() {
  echo "  $2: exit $3"
  grep -E "$5" "$4" | head -${6:-8} | cut -c1-200 | sed 's/^/      /'
}
# pair NAME REGEX CMD...: runs CMD with T=$m/new/tests, then with T=$m/old/tests.
pair() {
  local name=$1 re=$2 which rc
  shift 2
  echo "== $name"
  for which in new old; do
    rc=0
    T=$m/$which/tests S=$m/$which/scripts bash -c "$*" >"$m/$name.$which.log" 2>&1 || rc=$?
    show "$name" "$([[ $which == new ]] && echo now || echo before)" "$rc" "$m/$name.$which.log" "$re"
  done
}

# A wrapper around the real binary (exported for the bash -c runs).
wrapper() { # wrapper NAME BODY: $m/NAME/offsetprobe runs BODY, REAL=the binary
  mkdir -p "$m/$1"
  printf '#!/bin/bash\nREAL=%q\n%s\n' "$bin" "$2" >"$m/$1/offsetprobe"
  chmod 755 "$m/$1/offsetprobe"
  # offsetprobe-bcc is found next to the binary: keep it reachable.
  [[ -x $build/offsetprobe/offsetprobe-bcc ]] && ln -sf "$build/offsetprobe/offsetprobe-bcc" "$m/$1/"
}
export m bin subject

for name in $names; do
  case $name in
  test_sh)
    # scripts/test.sh as the CI backstop: a forced SKIP (a wrapper that exits
    # 77 for every test) under CI=true, and a run of zero tests.
    for which in new old; do
      mkdir -p "$m/ts-$which/scripts"
      cp "$m/$which/scripts/test.sh" "$m/ts-$which/scripts/"
      ln -sfn "$build" "$m/ts-$which/build"
    done
    echo "== test.sh: a forced SKIP under CI=true (meson test --wrapper 'sh -c \"exit 77\"' help)"
    for which in new old; do
      rc=0
      (cd "$m/ts-$which" && CI=true bash scripts/test.sh --wrapper 'sh -c "exit 77"' help) \
        >"$m/ts.$which.log" 2>&1 || rc=$?
      show test_sh "$([[ $which == new ]] && echo now || echo before)" $rc "$m/ts.$which.log" \
        'passed|skipped|SKIP|FAIL'
    done
    echo "== test.sh: zero tests run under CI=true (--suite no-such-suite)"
    for which in new old; do
      rc=0
      (cd "$m/ts-$which" && CI=true bash scripts/test.sh --suite no-such-suite) \
        >"$m/ts0.$which.log" 2>&1 || rc=$?
      show test_sh "$([[ $which == new ]] && echo now || echo before)" $rc "$m/ts0.$which.log" \
        'passed|no test|No tests|FAIL'
    done
    ;;
  load)
    # A calibrator that fails cleanly (exit 9) every time, and one that
    # never calibrates everything (exit 4): "no wrong offset" holds for both.
    wrapper load9 'for a; do [[ $a == calibrate ]] && { echo "offsetprobe: the subject host died (killed by signal 9)" >&2; exit 9; }; done; exec "$REAL" "$@"'
    pair "load: every run fails cleanly (exit 9)" 'load:|^ok|^FAIL|runs failed' \
      'RUNS=4 LOAD_SECONDS=60 bash $T/load.sh $m/load9/offsetprobe'
    wrapper load4 'c=0; for a; do [[ $a == calibrate ]] && c=1; done; [[ $c == 0 ]] && exec "$REAL" "$@"; "$REAL" "$@"; rc=$?; [[ $rc == 0 ]] && exit 4; exit $rc'
    pair "load: every run incomplete (exit 4)" 'load:|^ok|^FAIL|ambiguous or unresolved' \
      'RUNS=4 LOAD_SECONDS=60 bash $T/load.sh $m/load4/offsetprobe'
    ;;
  faults)
    [[ -n $mutant ]] || { echo "== faults: needs MUTANT_BINARY (skipped)"; continue; }
    # One stage (trial-ready) of each version, to keep it short: the kill
    # cases there are what the mutation is about.
    sed -i -E 's/^stages=".*"$/stages="trial-ready"/' "$m/new/tests/faults.sh"
    sed -i -E 's/^for stage in trial-spawned.*; do$/for stage in trial-ready; do/' "$m/old/tests/faults.sh"
    grep -E '^(for stage in|stages=)' "$m/new/tests/faults.sh" "$m/old/tests/faults.sh"
    pair "faults: a subject's death reported as a timeout" 'kill-leader|kill-thread|kill-host|kill-grandchild|checks? failed|all checks' \
      "FAULTS_ONLY= bash \$T/faults.sh $mutant"
    ;;
  no_bcc_maps)
    mkdir -p "$m/readelf"
    printf '#!/bin/sh\necho "readelf: Error: cannot read the file" >&2\nexit 1\n' >"$m/readelf/readelf"
    chmod 755 "$m/readelf/readelf"
    pair "no_bcc_maps: readelf fails" 'readelf|dynamic|libraries' \
      "PATH=$m/readelf:\$PATH bash \$T/no_bcc_maps.sh $bin bcc"
    ;;
  count_cli | backends_count)
    # No bpftool on PATH: nothing can tell whether the programs were unloaded.
    if [[ ! -d $m/nobpftool ]]; then
      mkdir -p "$m/nobpftool"
      for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
        for f in "$d"/*; do
          b=${f##*/}
          [[ $b == bpftool* || -e $m/nobpftool/$b ]] || ln -s "$f" "$m/nobpftool/$b"
        done
      done
    fi
    pair "$name: no bpftool" 'unloaded|bpftool|SKIP|BPF object|program' \
      "CI=true PATH=$m/nobpftool bash \$T/$name.sh $bin $subject"
    ;;
  help)
    # A README code block naming a command the binary does not have.
    for which in new old; do
      mkdir -p "$m/src-$which"
      cp -r "$here/README.md" "$here/docs" "$here/dist" "$here/offsetprobe" "$m/src-$which/"
      printf '\n```\nsudo offsetprobe calibrat --force\n```\n' >>"$m/src-$which/README.md"
    done
    echo "== help: the README names \`offsetprobe calibrat\` (misspelt)"
    for which in new old; do
      rc=0
      python3 "$m/$which/tests/help.py" "$bin" "$m/src-$which" \
        "$(sed -nE "s/^ *version *: *'([^']+)'.*/\1/p" "$here/meson.build" | head -1)" \
        >"$m/help.$which.log" 2>&1 || rc=$?
      show help "$([[ $which == new ]] && echo now || echo before)" $rc "$m/help.$which.log" 'calibrat\b|calibrat`|FAIL|fail'
    done
    ;;
  live_calibrate)
    # Under strace only (TracerPid set), the calibration's pid offset is 8
    # bytes off; everywhere else the real binary.
    wrapper strace8 '[[ $(awk "/^TracerPid:/ { print \$2 }" /proc/self/status) == 0 ]] && exec "$REAL" "$@"
"$REAL" "$@" >"/tmp/strace8.$$"; rc=$?
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
for f in d.get(\"fields\", []):
    if f.get(\"name\") == \"task_struct.pid\" and isinstance(f.get(\"offset\"), int):
        f[\"offset\"] += 8
print(json.dumps(d))" "/tmp/strace8.$$" 2>/dev/null || cat "/tmp/strace8.$$"
rm -f "/tmp/strace8.$$"; exit $rc'
    pair "live_calibrate: task_struct.pid 8 bytes off under strace" 'under strace|oracle' \
      "bash \$T/live_calibrate.sh $m/strace8/offsetprobe"
    ;;
  chains_live)
    wrapper verify5 'for a; do [[ $a == verify ]] && { "$REAL" "$@"; exit 5; }; done; exec "$REAL" "$@"'
    pair "chains_live: verify exits 5 (mismatch)" 'verify|^ok|^FAIL|chain fields' \
      "bash \$T/chains_live.sh $m/verify5/offsetprobe"
    ;;
  cli_hostile)
    [[ -n $mutant ]] || { echo "== cli_hostile: needs MUTANT_BINARY (skipped)"; continue; }
    pair "cli_hostile: the 1 GiB entry read whole before its size is checked" '1 GiB' \
      "bash \$T/cli_hostile.sh $mutant $build/tests/op-synthetic-entry"
    ;;
  sleeps)
    # A slow machine, as a count whose interval reports come 1 s apart
    # (the tests ask for 0.2 s): the fixed sleeps of 0.5-0.6 s end before
    # the subject's key was ever checked; waiting for the condition does not.
    wrapper slow 'args=(); for a; do args+=("$a"); done
for i in "${!args[@]}"; do [[ ${args[$i]} == --interval || ${args[$i]} == -i ]] && args[$((i + 1))]=1; done
exec "$REAL" "${args[@]}"'
    pair "count_cli: interval reports 1 s apart (a slow machine)" '^ok|^FAIL|checks? failed|all checks' \
      "bash \$T/count_cli.sh $m/slow/offsetprobe $subject"
    ;;
  *) echo "unknown case $name" >&2 ;;
  esac
done
