#!/usr/bin/env bash
# The .deb on a clean Debian 12: a minimal bookworm root made with mmdebstrap (variant apt:
# the Essential packages plus apt, nothing of this machine's), then inside it, through chroot
# in a mount namespace of its own:
#  - `apt-get install ./mosaic_*.deb` resolves and installs its Depends from the archive,
#  - `mosaic --version`, `mosaic -e 'print(1)'`,
#  - `mosaic fleet ps --json` on a roster of one agent whose pane runs in a real tmux server
#    (the packaged tmux) in the clean root: the pane is alive; no user manager answers in the
#    chroot, so the systemd cells are null with a warning, and the exit status is still 0,
#  - `apt-get purge mosaic` leaves none of its files.
#
#   scripts/test-package-debian.sh [DEB]   (default: the .deb that scripts/package.sh builds)
#
# The archive is the one apt uses on this machine (the bookworm entry of
# /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list). Downloaded packages are kept in
# ~/.cache/mosaic/debian-bookworm/archives (MOSAIC_DEBIAN_CACHE overrides), so a second run
# downloads nothing. Needs root and mmdebstrap (scripts/setup.sh installs it). Prints one line
# per check, then `N passed, M failed`; exits 1 when any check failed; a missing tool is a
# failure, never a skip. MOSAIC_DEBIAN_VERBOSE=1 shows the end of the log even when all passed.
set -uo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mt-debian-XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
cache=${MOSAIC_DEBIAN_CACHE:-$HOME/.cache/mosaic/debian-bookworm}

# check NAME CMD... and finish: scripts/checks.sh
. scripts/checks.sh

check "running as root" test "$(id -u)" -eq 0
check "mmdebstrap is installed" command -v mmdebstrap
[ "$failed" -eq 0 ] || finish

the_package "${1:-}"

# The bookworm archive apt already uses here, as a deb822 file mmdebstrap pastes in.
sources=$tmp/bookworm.sources
find_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -qE '^Suites:.*\bbookworm\b' "$f"; then
      cat "$f" >>"$sources"
      echo >>"$sources"
    fi
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .* bookworm(-updates|-security)? ' /etc/apt/sources.list |
      while read -r _ uri suite comps; do
        printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n\n' "$uri" "$suite" "$comps"
      done >>"$sources"
  fi
  test -s "$sources"
}
check "a bookworm archive is configured for apt" find_sources
[ "$failed" -eq 0 ] || finish

mkdir -p "$cache/archives/partial"
root=$tmp/root
start=$(date +%s)

# Everything below runs in one mount namespace: the cache bind mounts, /proc, /dev and /tmp
# of the chroot vanish with it whatever happens.
cat >"$tmp/inside.sh" <<'EOF'
set -uo pipefail
root=$1 cache=$2 sources=$3 deb=$4 results=$5
say() { echo "$1 $2" >>"$results"; }
# step NAME CMD...: one check, its output in the log.
step() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then say ok "$name"; else say FAIL "$name"; return 1; fi
}
mount --make-rprivate /
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

bootstrap() {
  # The downloaded .debs live in the cache: mounted over the root's archive directory from the
  # first hook on, and neither emptied after the essential step nor at clean-up.
  mmdebstrap --variant=apt --mode=root \
    --skip=download/empty --skip=essential/unlink --skip=cleanup/apt/cache \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
    --setup-hook="mount --bind '$cache/archives' \"\$1/var/cache/apt/archives\"" \
    --customize-hook='umount "$1/var/cache/apt/archives"' \
    bookworm "$root" "$sources"
}
step "mmdebstrap: a clean bookworm root (variant apt)" bootstrap || exit 0

mount --bind "$cache/archives" "$root/var/cache/apt/archives"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
cp "$deb" "$root/tmp/mosaic.deb"

clean_root() {
  ! in_root sh -c 'command -v mosaic || command -v tmux || command -v lua5.4 || dpkg -s liblua5.4-0' 
}
step "the clean root has no mosaic, tmux, lua5.4 or liblua5.4-0 before the install" clean_root

install() {
  in_root apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends \
      /tmp/mosaic.deb
}
step "apt-get install ./mosaic.deb resolves its Depends from the archive" install || exit 0
step "mosaic --version" in_root sh -c 'mosaic --version | grep -E "^mosaic [0-9]"'
step "mosaic -e 'print(1)'" in_root sh -c 'test "$(mosaic -e "print(1)")" = 1'

# A roster of one agent, its session in a real tmux server (the packaged tmux) in the root.
in_root sh -c '
  mkdir -p -m 700 /tmp/mh /tmp/mh/fleet /tmp/run
  printf "return { socket = \"mt-deb\", agents = { { name = \"one\", runtime = \"stub\" } } }\n" \
    >/tmp/mh/fleet/roster.lua
  chmod 600 /tmp/mh/fleet/roster.lua'
step "tmux (installed as a Depends) starts a session in the clean root" \
  in_root tmux -L mt-deb new-session -d -s one -x 80 -y 24 "sleep 600"
mosaic_env() { in_root env MOSAIC_HOME=/tmp/mh XDG_RUNTIME_DIR=/tmp/run TERM=xterm "$@"; }
fleet_ps_json() {
  local out flat
  out=$(mosaic_env mosaic fleet ps --json) || return 1
  echo "$out"
  flat=$(tr -d ' \n' <<<"$out")
  grep -q '"name":"one"' <<<"$flat" &&
    grep -qE '"pane":\{[^}]*"state":"alive"' <<<"$flat" &&
    grep -qE '"systemd":\{"unit":"mosaic-agent@one.service","active":null' <<<"$flat" &&
    grep -q 'user-manager-unreachable' <<<"$flat"
}
step "mosaic fleet ps --json: the pane alive in tmux, systemd cells null with a warning" \
  fleet_ps_json
fleet_ps_table() {
  local out
  out=$(mosaic_env mosaic fleet ps 2>&1) || return 1
  echo "$out"
  grep -qE '^one +default .* alive ' <<<"$out"
}
step "mosaic fleet ps: the table shows the agent's pane alive" fleet_ps_table
in_root tmux -L mt-deb kill-server

purge() {
  local files
  files=$(in_root dpkg -L mosaic | grep -vE '^/\.?$' | grep -E '\.[a-z0-9]+$|/bin/') || return 1
  DEBIAN_FRONTEND=noninteractive in_root apt-get purge -y -q mosaic || return 1
  in_root sh -c '! dpkg -s mosaic 2>/dev/null' || return 1
  local f left=0
  for f in $files; do
    if [ -e "$root$f" ]; then
      echo "left behind: $f"
      left=1
    fi
  done
  [ "$left" -eq 0 ]
}
step "apt-get purge mosaic leaves none of its files" purge
EOF

unshare -m --fork bash "$tmp/inside.sh" "$root" "$cache" "$sources" "$deb" "$tmp/results" \
  >"$tmp/inside.log" 2>&1
status=$?
elapsed=$(($(date +%s) - start))
while read -r verdict name; do
  if [ "$verdict" = ok ]; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
    show=1
  fi
done <"$tmp/results"
if [ "${show:-0}" = 1 ] || [ "$status" -ne 0 ] || [ -n "${MOSAIC_DEBIAN_VERBOSE:-}" ]; then
  sed 's/^/     /' "$tmp/inside.log" | tail -n 60
fi
[ "$status" -eq 0 ] || {
  echo "FAIL the checks in the mount namespace exited with status $status"
  failed=$((failed + 1))
}
echo "clean Debian 12 checks: ${elapsed}s; cache $cache: $(du -sh "$cache" | cut -f1)"
finish
