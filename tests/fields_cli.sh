#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# NAME   fields_cli
# RUN    offsetprobe fields, as a table and as JSON, whole and for a family,
#        a field and an unknown name (no root, no kernel access)
# EXPECT the table and the JSON list the same fields; `fields task` lists only
#        task_struct's own fields (reached through nothing); a field name
#        lists that field with its family; an unknown name exits 2 naming it
# Usage: fields_cli.sh OFFSETPROBE_BINARY
set -uo pipefail
op=$1
. "$(dirname "$0")/lib_live.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$op" fields >"$tmp/table" || fail "fields: exit $?"
"$op" fields --json >"$tmp/all.json" || fail "fields --json: exit $?"
n_json=$(jq length "$tmp/all.json")
n_table=$(($(wc -l <"$tmp/table") - 1))
[[ $n_json -gt 0 && $n_json -eq $n_table ]] && ok "fields: $n_json fields, as a table and as JSON" ||
  fail "fields: $n_table table rows against $n_json JSON entries"
diff <(awk 'NR > 1 { print $1, $2 }' "$tmp/table") <(jq -r '.[] | "\(.family) \(.name)"' "$tmp/all.json") \
  >"$tmp/diff" && ok "the table and the JSON name the same fields in the same families" ||
  fail "the table and the JSON differ: $(head -5 "$tmp/diff")"
dups=$(jq -r '.[].name' "$tmp/all.json" | sort | uniq -d)
[[ -z $dups ]] && ok "no field is listed twice" || fail "listed twice: $dups"

"$op" fields --json task >"$tmp/task.json" || fail "fields task: exit $?"
bad=$(jq -r '.[] | select((.name | startswith("task_struct.") | not) or (.via | length) > 0
               or .family != "task") | .name' "$tmp/task.json")
n_task=$(jq length "$tmp/task.json")
[[ $n_task -gt 0 && -z $bad ]] && ok "fields task: $n_task fields, all task_struct's own" ||
  fail "fields task: $n_task fields, not task_struct's own: $bad"
[[ $n_task -lt $n_json ]] || fail "fields task lists as many fields as fields"

"$op" fields --json cred.uid >"$tmp/uid.json" || fail "fields cred.uid: exit $?"
jq -e 'length == 1 and .[0].family == "cred" and .[0].struct == "cred" and .[0].member == "uid"
       and (.[0].via | length) > 0' "$tmp/uid.json" >/dev/null &&
  ok "fields cred.uid: one field, family cred, reached through a pointer" ||
  fail "fields cred.uid: $(jq -c . "$tmp/uid.json")"

rc=0
"$op" fields no_such.field >/dev/null 2>"$tmp/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q "no_such.field" "$tmp/err" && ok "fields no_such.field: exit 2, named" ||
  fail "fields no_such.field: exit $rc, $(cat "$tmp/err")"
finish
