#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# btf-truth.sh BTF_FILE [STRUCT...]: prints the byte offset of every member of
# each STRUCT (default task_struct) as JSON, read from a raw BTF blob (a copy of
# a guest's /sys/kernel/btf/vmlinux) with bpftool. Members of anonymous structs
# and unions are flattened into their parent, as C does: RT and randstruct
# configurations wrap parts of task_struct in anonymous structs. Members of
# named embedded structs and unions are listed too, by their path, two levels
# deep (through typedefs and qualifiers): "ns.inum" of uts_namespace is the
# inum of its embedded struct ns_common ns.
#
# This is the matrix's own oracle, independent of `offsetprobe verify`: the
# host compares calibrated offsets with it, so a bug in verify cannot hide a
# wrong offset.
#
# Output: {"task_struct":{"size":9728,"members":{"pid":2416,...}},"cred":...}
# (null for a STRUCT the BTF does not have).
set -euo pipefail
btf=${1:?usage: btf-truth.sh BTF_FILE [STRUCT...]}
shift
structs=("$@")
[ "${#structs[@]}" -gt 0 ] || structs=(task_struct)
bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)

"$bpftool" btf dump file "$btf" format raw | awk -v want="${structs[*]}" '
  # Collect every STRUCT/UNION: its name, size and members (name, type, bits).
  /^\[[0-9]+\] / {
    id = substr($1, 2, length($1) - 2)
    cur = ""
    if ($2 == "TYPEDEF" || $2 == "CONST" || $2 == "VOLATILE" || $2 == "RESTRICT") {
      for (i = 3; i <= NF; i++) if ($i ~ /^type_id=/) { t = $i; sub(/type_id=/, "", t); alias[id] = t }
    }
    if ($2 == "STRUCT" || $2 == "UNION") {
      cur = id; kind[id] = $2; nm = $3; gsub(/\047/, "", nm); name[id] = nm
      for (i = 4; i <= NF; i++) if ($i ~ /^size=/) { sz = $i; sub(/size=/, "", sz); size[id] = sz }
      nmem[id] = 0
    }
    next
  }
  cur != "" && /^\t\047/ {
    m = $1; gsub(/\047/, "", m)
    t = ""; b = ""; bf = 0
    for (i = 2; i <= NF; i++) {
      if ($i ~ /^type_id=/) { t = $i; sub(/type_id=/, "", t) }
      if ($i ~ /^bits_offset=/) { b = $i; sub(/bits_offset=/, "", b) }
      if ($i ~ /^bitfield_size=/) { bf = $i; sub(/bitfield_size=/, "", bf) }
    }
    k = ++nmem[cur]; mname[cur, k] = m; mtype[cur, k] = t; mbits[cur, k] = b; mbf[cur, k] = bf
  }
  function strip(t,    n) { n = 0; while ((t in alias) && n++ < 16) t = alias[t]; return t }
  function flatten(id, base, prefix, depth,    k, off, t, nm) {
    for (k = 1; k <= nmem[id]; k++) {
      off = base + mbits[id, k]
      t = strip(mtype[id, k])
      if (mname[id, k] == "(anon)" && (t in kind)) { flatten(t, off, prefix, depth); continue }
      # Bitfields have no byte offset of their own: leave them out.
      if (mbf[id, k] + 0 != 0 || off % 8 != 0) continue
      nm = prefix mname[id, k]
      if (nm in seen) continue
      seen[nm] = 1
      out = out (out == "" ? "" : ",") "\"" nm "\":" (off / 8)
      if ((t in kind) && depth < 2) flatten(t, off, nm ".", depth + 1)
    }
  }
  END {
    n = split(want, ws, " ")
    printf "{"
    for (w = 1; w <= n; w++) {
      found = ""
      for (id in name) if (name[id] == ws[w] && kind[id] == "STRUCT" && nmem[id] > 0) { found = id; break }
      if (w > 1) printf ","
      if (found == "") { printf "\"%s\":null", ws[w]; continue }
      out = ""; delete seen
      flatten(found, 0, "", 0)
      printf "\"%s\":{\"size\":%d,\"members\":{%s}}", ws[w], size[found], out
    }
    printf "}\n"
  }'
