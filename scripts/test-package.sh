#!/usr/bin/env bash
# Tests of the installable mosaic (scripts/package.sh), on the real package with real tools:
#  - the packaged binary runs where no Swift toolchain and no Lua module exist: in a mount
#    namespace (unshare -m) with empty tmpfs mounted over /opt/swift (the toolchain) and
#    the system's Lua module directories, it prints its version, runs Lua, lists its
#    commands, parses options with its own argparse and runs `fleet ps` on an empty roster;
#  - the .deb installs with dpkg into a temporary root whose package database is a copy
#    of this machine's (so Depends are checked against what is really installed, not
#    forced), its binary, man page and completions work from there, and `dpkg -r` leaves
#    nothing of it behind; apt resolves its Depends on this Debian;
#  - on a clean Debian 12 root (scripts/test-package-debian.sh), apt installs it with its
#    Depends, it runs with the packaged tmux, and apt purges it.
#
#   scripts/test-package.sh [DEB]     (default: the .deb that scripts/package.sh builds)
#
# Needs root (dpkg, mount namespaces), or sudo. Prints one line per check, then
# `N passed, M failed`; exits 1 when any check failed. A missing tool, binary or package
# is a failure, never a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mt-pkg-XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# check NAME CMD... and finish: scripts/checks.sh
. scripts/checks.sh

the_package "${1:-}"
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)

# --- the package's metadata -----------------------------------------------------------
has_depends() {
  local want
  for want in "$@"; do
    grep -qE "(^|, )$want( |,|$)" <<<"$depends" || {
      echo "Depends lacks $want: $depends"
      return 1
    }
  done
}
check "Depends names what it links and runs: $depends" \
  has_depends libc6 liblua5.4-0 libedit2 libsystemd0 tmux systemd
no_scripts() {
  local info
  info=$(dpkg-deb -I "$deb") || return 1
  echo "$info"
  ! grep -qE '^ +[0-9]+ bytes, +[0-9]+ lines +\*? *(pre|post)(inst|rm|config)' <<<"$info"
}
check "the package has no maintainer scripts" no_scripts
check "dpkg-deb reads the whole archive" dpkg-deb -c "$deb"
apt_resolves() {
  local out
  out=$(apt-get install -s "$deb" 2>&1)
  echo "$out"
  grep -qE "^Inst mosaic \(($version|.*) " <<<"$out" && ! grep -qE 'unmet dependencies|^E:' <<<"$out"
}
check "apt resolves the package's Depends on this Debian (apt-get install -s)" apt_resolves

# --- the packaged binary where no toolchain exists -----------------------------------
x=$tmp/extract
dpkg-deb -x "$deb" "$x"
bin=$x/usr/bin/mosaic
no_toolchain_libs() {
  local libs
  libs=$(ldd "$bin") || return 1
  echo "$libs"
  grep -q 'liblua5.4' <<<"$libs" && ! grep -qE '/opt/swift|libswift|not found' <<<"$libs"
}
check "ldd: system libraries only, nothing from /opt/swift" no_toolchain_libs
not_linked_libsystemd() {
  local needed
  needed=$(objdump -p "$bin" | grep NEEDED) || return 1
  echo "$needed"
  grep -q 'liblua5.4' <<<"$needed" && ! grep -q 'libsystemd' <<<"$needed"
}
check "libsystemd is not linked (opened when fleet ps first asks the user manager)" \
  not_linked_libsystemd

# bare CMD...: CMD in a mount namespace where /opt/swift and the Lua module directories
# are empty tmpfs, with an empty home, config and roster, and no MOSAIC_LUA_PATH.
home=$tmp/home
mkdir -p "$home/config/fleet" "$home/run"
chmod 700 "$home/run" "$home/config"
printf 'return { agents = {} }\n' >"$home/config/fleet/roster.lua"
hide=()
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for d in /opt/swift /usr/share/lua /usr/local/share/lua "/usr/lib/$multiarch/lua" /usr/local/lib/lua; do
  [ -d "$d" ] && hide+=("$d")
done
bare() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  $sudo unshare -m -- env -i PATH=/usr/bin:/bin HOME="$home" MOSAIC_HOME="$home/config" \
    XDG_RUNTIME_DIR="$home/run" bash -c '
      for d in '"${hide[*]}"'; do mount -t tmpfs -o size=1m,mode=755 none "$d" || exit 99; done
      exec "$@"' bare "$@"
}
expect() { # expect PATTERN CMD...: CMD exits 0 and its output matches the extended regex
  local pattern=$1 out
  shift
  out=$("$@" 2>&1) || {
    echo "$out"
    echo "exit status $?"
    return 1
  }
  echo "$out"
  grep -qE "$pattern" <<<"$out"
}
toolchain_hidden() { # the namespace really hides them
  bare bash -c '! test -e /opt/swift/usr/bin/swift && ! test -e /usr/share/lua/5.4/argparse.lua &&
    ls /opt/swift | wc -l | grep -qx 0'
}
check "in the namespace /opt/swift and the system's argparse are gone" toolchain_hidden
check "no toolchain: mosaic --version" expect "^mosaic $version " bare "$bin" --version
check "no toolchain: mosaic -e 'print(1)'" expect '^1$' bare "$bin" -e 'print(1)'
check "no toolchain: mosaic help" expect 'fleet ps +One row per agent' bare "$bin" help
check "no toolchain: require 'argparse' is the shipped one" expect '^@\[mosaic\]/argparse.lua$' \
  bare "$bin" -e 'print(select(2, require "argparse"))'
usage_error() { # argparse at work: a usage error is exit 64
  local out status
  out=$(bare "$bin" fleet ps --no-such-flag 2>&1)
  status=$?
  echo "$out"
  [ "$status" -eq 64 ] && grep -q "unknown option '--no-such-flag'" <<<"$out"
}
check "no toolchain: a usage error from the shipped argparse (exit 64)" usage_error
check "no toolchain: fleet ps --json on an empty roster" expect '^  "agents": \[\]$' bare "$bin" fleet ps --json
check "no toolchain: fleet ps on an empty roster" expect '^NAME +TENANT' bare "$bin" fleet ps

# --- dpkg into a temporary root -------------------------------------------------------
r=$tmp/root
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
# This machine's package database, so that dpkg checks Depends for real (no --force).
cp /var/lib/dpkg/status "$r/var/lib/dpkg/status"
: >"$r/var/lib/dpkg/available"
listing() { (cd "$r" && find . -path ./var/lib/dpkg -prune -o -print | LC_ALL=C sort); }
listing >"$tmp/before"
check "dpkg --root -i installs it, Depends satisfied" $sudo dpkg --root="$r" -i "$deb"
check "dpkg-query: installed at $version" expect "^install ok installed $version$" \
  dpkg-query --root="$r" -W -f='${Status} ${Version}\n' mosaic
check "installed: /usr/bin/mosaic --version" expect "^mosaic $version " bare "$r/usr/bin/mosaic" --version
check "installed: man -l mosaic(1)" expect '^NAME' env MANPAGER=cat MANWIDTH=80 man -l "$r/usr/share/man/man1/mosaic.1.gz"
check "installed: man -l mosaic-roster(5)" expect 'roster' env MANPAGER=cat MANWIDTH=80 man -l "$r/usr/share/man/man5/mosaic-roster.5.gz"
bash_completion() {
  bash -c 'source "$1" && complete -p mosaic' bash "$r/usr/share/bash-completion/completions/mosaic"
}
check "installed: bash completion defines mosaic's completion" bash_completion
check "installed: zsh completion _mosaic" expect '^#compdef mosaic' head -n 1 "$r/usr/share/zsh/vendor-completions/_mosaic"
check "installed: fish completion parses" fish --no-execute "$r/usr/share/fish/vendor_completions.d/mosaic.fish"
check "installed: example units" test -s "$r/usr/share/doc/mosaic/examples/cron-check/mosaic-check.timer" \
  -a -s "$r/usr/share/doc/mosaic/examples/prometheus/mosaic-export.service"
check "installed: copyright names argparse's licence" grep -q 'Files: lua/argparse.lua' "$r/usr/share/doc/mosaic/copyright"
check "dpkg -L lists its files" expect '^/usr/bin/mosaic$' dpkg-query --root="$r" -L mosaic
check "dpkg --root -r removes it" $sudo dpkg --root="$r" -r mosaic
not_installed() {
  local st
  st=$(dpkg-query --root="$r" -W -f='${Status}' mosaic 2>&1)
  echo "status: $st"
  [ -z "$st" ] || grep -qE 'not-installed|no packages found' <<<"$st"
}
check "dpkg-query: not installed any more" not_installed
nothing_left() {
  listing >"$tmp/after"
  diff "$tmp/before" "$tmp/after"
}
check "nothing of it is left in the root" nothing_left

# --- a clean Debian 12 ----------------------------------------------------------------
# scripts/test-package-debian.sh: a minimal bookworm root (mmdebstrap), apt installs the
# .deb with its Depends from the archive, mosaic runs there with the packaged tmux, apt purges
# it. About 70 s with the archive's packages cached in ~/.cache/mosaic (2.5 min the first
# time). Its checks count here.
clean=$(scripts/test-package-debian.sh "$deb" 2>&1)
clean_status=$?
echo "$clean" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' | sed 's/^\(ok  \|FAIL\) /\1 clean Debian 12: /'
line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' <<<"$clean" | tail -n 1)
if [ -n "$line" ]; then
  passed=$((passed + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")))
  failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")))
fi
if [ -z "$line" ] || { [ "$clean_status" -ne 0 ] && ! grep -q '^FAIL' <<<"$clean"; }; then
  echo "FAIL clean Debian 12: scripts/test-package-debian.sh exited with status $clean_status"
  failed=$((failed + 1))
fi
finish
