# SPDX-License-Identifier: GPL-2.0-only
# The matrix's private apt configuration, sourced by run.sh and lists.sh: the
# Debian suites the matrix boots kernels from, indexes for one architecture,
# and resolve() from a (meta) package to the concrete build it pulls in.
#
# The caller sets: arch (amd64 or arm64), refresh (1 forces apt-get update),
# and the functions log, die, now, elapsed. This sets: cache, A, suites,
# apt_opts, apt_get(), apt_cache(), suite_of_line(), resolve().

# --- private apt ----------------------------------------------------------------
# Everything apt reads or writes lives under $cache/apt: the machine's sources,
# state and apt.conf.d (which on Docker images holds docker-clean hooks) are not
# used or changed. APT_CONFIG is read before apt.conf.d, so pointing
# Dir::Etc::parts at an empty directory there keeps the host's parts out; the
# rest is passed with -o as well so every command line shows where it works.
cache=${OFFSETPROBE_MATRIX_CACHE:-$HOME/.cache/offsetprobe-matrix}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring missing (apt-get install debian-archive-keyring)"
suites=(bullseye bookworm bookworm-security bookworm-backports trixie)
A=$cache/apt
[ "$arch" = amd64 ] || A=$cache/apt-$arch # package indexes are per architecture
mkdir -p "$A/etc/apt.conf.d" "$A/etc/sources.list.d" "$A/etc/preferences.d" \
         "$A/state/lists/partial" "$A/cache/archives/partial" "$cache/debs" "$cache/kernels"
touch "$A/state/status" "$A/etc/preferences"
cat >"$A/etc/sources.list.new" <<EOF
deb [signed-by=$keyring] http://deb.debian.org/debian bullseye main
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$keyring] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=$keyring] http://deb.debian.org/debian trixie main
EOF
if ! cmp -s "$A/etc/sources.list.new" "$A/etc/sources.list" 2>/dev/null; then
  mv "$A/etc/sources.list.new" "$A/etc/sources.list"; refresh=1
else
  rm -f "$A/etc/sources.list.new"
fi
cat >"$A/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$A/etc/apt.conf.d";
EOF
export APT_CONFIG=$A/apt.conf
apt_opts=(
  -o "Dir::State=$A/state" -o "Dir::State::status=$A/state/status"
  -o "Dir::Cache=$A/cache" -o "Dir::Etc::sourcelist=$A/etc/sources.list"
  -o "Dir::Etc::sourceparts=$A/etc/sources.list.d"
  -o "Dir::Etc::preferences=$A/etc/preferences" -o "Dir::Etc::preferencesparts=$A/etc/preferences.d"
  -o "Dir::Etc::trusted=$keyring" -o "Dir::Etc::trustedparts=$A/etc/trusted.gpg.d"
  -o APT::Architecture="$arch" -o APT::Architectures::="$arch" -o Acquire::Languages=none
  -o APT::Sandbox::User=root -o Debug::NoLocking=1
)
apt_get() { apt-get "${apt_opts[@]}" "$@"; }
apt_cache() { apt-cache "${apt_opts[@]}" "$@"; }

stamp=$A/state/updated
if [ "$refresh" = 1 ] || [ -z "$(find "$stamp" -mmin -360 2>/dev/null)" ]; then
  t=$(now)
  apt_get -q update >"$A/update.log" 2>&1 || { cat "$A/update.log" >&2; die "apt-get update (private sources) failed"; }
  grep -qE '^(W|E): ' "$A/update.log" && grep -E '^(W|E): ' "$A/update.log" >&2
  touch "$stamp"
  log "private apt indexes refreshed in $(elapsed "$t") s"
fi

# resolve REQUEST -> "concrete suite version": meta packages (linux-image-amd64)
# are followed through Depends to the build they pull in.
suite_of_line() { # an apt-cache madison line -> its suite
  awk -F'|' '{ split($3, a, " "); split(a[2], b, "/"); print b[1] }'
}
resolve() {
  local req=$1 pkg suite ver dep
  pkg=${req%%/*}
  suite=""; [ "$pkg" != "$req" ] && suite=${req#*/}
  if [ -n "$suite" ] && ! printf '%s\n' "${suites[@]}" | grep -qx "$suite"; then
    echo "unknown suite '$suite' (have: ${suites[*]})"; return 1
  fi
  for _ in 1 2 3; do
    local mad
    mad=$(apt_cache madison "$pkg" 2>/dev/null | awk -F'|' -v s="$suite" '
      { split($3, a, " "); split(a[2], b, "/"); if (s == "" || b[1] == s) { print; exit } }')
    if [ -z "$mad" ]; then
      if [ -n "$suite" ]; then echo "no package '$pkg' in $suite"
      else echo "no package '$pkg' in any of ${suites[*]}"; fi
      return 1
    fi
    suite=$(suite_of_line <<<"$mad")
    ver=$(awk -F'|' '{ gsub(/ /, "", $2); print $2 }' <<<"$mad")
    dep=$(apt_cache show "$pkg=$ver" 2>/dev/null | sed -n 's/^Depends: //p' | head -n1 | tr ',|' '\n\n' \
          | sed 's/^ *//; s/ .*//' | grep -E '^linux-image-[0-9]' | head -n1 || true)
    if [ -z "$dep" ]; then
      case $pkg in
        linux-image-[0-9]*) echo "$pkg $suite $ver"; return 0 ;;
        *) echo "'$pkg' ($suite) is not a kernel image package"; return 1 ;;
      esac
    fi
    pkg=$dep
  done
  echo "'$req': too many levels of meta packages"; return 1
}
