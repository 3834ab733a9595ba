#!/usr/bin/env bash
# Builds the installable mosaic: a release binary with the Swift runtime linked statically
# (no /opt/swift at run time) and a Debian package of it, with dpkg-deb.
#
#   scripts/package.sh            -> .build/package/mosaic_<version>_<arch>.deb
#
# The binary is built in its own scratch directory (.build/static), so it never replaces
# the dynamic .build/release/mosaic of scripts/run.sh; the second run is incremental.
# The package holds /usr/bin/mosaic, the man pages (`mosaic manpages`), the bash, zsh and
# fish completions (`mosaic completion`), the examples (units, scripts, Prometheus rules,
# Grafana dashboard) under /usr/share/doc/mosaic/examples, the copyright file and the
# changelog. Depends: what the binary links (dpkg-shlibdeps) plus what it runs (tmux,
# systemctl). The version is the one `mosaic --version` prints. No maintainer scripts.
# Prints the package's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh
for tool in dpkg-deb dpkg-shlibdeps objdump strip gzip; do
  command -v "$tool" >/dev/null || {
    echo "package: $tool is missing (apt-get install dpkg-dev binutils)" >&2
    exit 1
  }
done

scratch=$root/.build/static
echo "== swift build -c release --static-swift-stdlib (scratch $scratch)" >&2
log=$(mktemp)
swift build -c release --product mosaic --static-swift-stdlib --scratch-path "$scratch" 2>&1 |
  tee "$log" | grep -E 'error|warning:|Build' >&2 || true
if grep -qE 'error:|warning:' "$log"; then
  echo "package: the release build failed or warned (above)" >&2
  exit 1
fi
rm -f "$log"
bin=$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/mosaic
[ -x "$bin" ] || { echo "package: no binary at $bin" >&2; exit 1; }

# The toolchain's libraries must not be needed at run time.
if objdump -p "$bin" | grep -q 'NEEDED.*libswift\|NEEDED.*libFoundation\|NEEDED.*libdispatch'; then
  echo "package: $bin still links the Swift runtime dynamically:" >&2
  objdump -p "$bin" | grep NEEDED >&2
  exit 1
fi

version=$("$bin" --version | sed -nE '1s/^mosaic ([0-9][^ ]*).*/\1/p')
[ -n "$version" ] || { echo "package: cannot read the version from '$bin --version'" >&2; exit 1; }
arch=$(dpkg --print-architecture)
out=$root/.build/package
stage=$out/mosaic_${version}_${arch}
deb=$out/mosaic_${version}_${arch}.deb
rm -rf "$stage" "$deb"
umask 022
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/doc/mosaic"

# The binary, stripped of symbols (the Swift metadata sections stay; it is checked to run).
install -m 0755 "$bin" "$stage/usr/bin/mosaic"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/mosaic"
"$stage/usr/bin/mosaic" -e 'assert(require("argparse"))' ||
  { echo "package: the stripped binary does not run" >&2; exit 1; }

# Generated from the binary itself, with everything it carries and nothing of this user:
# an empty config and home, and the last commit's date in the man pages.
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
mosaic_clean() {
  env -i PATH=/usr/bin:/bin HOME="$gen/home" XDG_CONFIG_HOME="$gen/config" \
    MOSAIC_HOME="$gen/mosaic" XDG_STATE_HOME="$gen/state" XDG_RUNTIME_DIR="$gen/run" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    "$stage/usr/bin/mosaic" "$@"
}
mkdir -p "$gen/home" "$gen/config" "$gen/state" "$gen/run"
chmod 700 "$gen/run"
mosaic_clean manpages "$stage/usr/share/man" >/dev/null
find "$stage/usr/share/man" -type f -exec chmod 0644 {} + -exec gzip -9n {} +

comp=$stage/usr/share
mkdir -p "$comp/bash-completion/completions" "$comp/zsh/vendor-completions" "$comp/fish/vendor_completions.d"
mosaic_clean completion bash >"$comp/bash-completion/completions/mosaic"
mosaic_clean completion zsh >"$comp/zsh/vendor-completions/_mosaic"
mosaic_clean completion fish >"$comp/fish/vendor_completions.d/mosaic.fish"

cp -R examples "$stage/usr/share/doc/mosaic/examples"
find "$stage/usr/share/doc/mosaic/examples" -type d -exec chmod 0755 {} +
find "$stage/usr/share/doc/mosaic/examples" -type f -exec chmod 0644 {} +
# The maintainer: $DEBFULLNAME <$DEBEMAIL> as Debian's tools use them, else git's identity.
maintainer="${DEBFULLNAME:-$(git config user.name 2>/dev/null || echo "mosaic maintainers")}"
maintainer="$maintainer <${DEBEMAIL:-$(git config user.email 2>/dev/null || echo "mosaic@localhost")}>"
# A native package: changelog.gz is a Debian changelog (one entry: this build); the
# project's own CHANGELOG.md beside it.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  printf 'mosaic (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built by scripts/package.sh from commit %s; the changes are in\n' "$commit"
  printf '    /usr/share/doc/mosaic/CHANGELOG.md.gz.\n\n'
  printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$stage/usr/share/doc/mosaic/changelog.gz"
gzip -9n <CHANGELOG.md >"$stage/usr/share/doc/mosaic/CHANGELOG.md.gz"
chmod 0644 "$stage/usr/share/doc/mosaic/changelog.gz" "$stage/usr/share/doc/mosaic/CHANGELOG.md.gz"
cat >"$stage/usr/share/doc/mosaic/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mosaic
Comment: mosaic embeds Lua 5.4 (linked from Debian's liblua5.4-0), the Swift standard
 library and swift-foundation's FoundationEssentials (linked statically; Apache-2.0 with
 Runtime Library Exception, see /usr/share/common-licenses/Apache-2.0), and a copy of
 lua-argparse (below) inside the binary.

Files: *
Copyright: the mosaic authors
License: other
 The mosaic project has not published a licence yet; until it does, this
 package is for use within the project.

Files: lua/argparse.lua
Copyright: 2013-2018 Peter Melnichenko
 2019 Paul Ouellette
License: Expat
 Permission is hereby granted, free of charge, to any person obtaining
 a copy of this software and associated documentation files (the
 "Software"), to deal in the Software without restriction, including
 without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to
 the following conditions:
 .
 The above copyright notice and this permission notice shall be
 included in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
 EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
 LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
 OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
 WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
EOF
chmod 0644 "$stage/usr/share/doc/mosaic/copyright"

# Depends: the shared libraries the binary links, as dpkg-shlibdeps maps them to the
# packages that provide them (it wants a debian/control to read), the one it opens, then
# what mosaic runs.
mkdir -p "$gen/shlibs/debian"
printf 'Source: mosaic\n\nPackage: mosaic\nArchitecture: any\n' >"$gen/shlibs/debian/control"
shlibs=$(cd "$gen/shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/mosaic" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package: dpkg-shlibdeps found no dependency" >&2; exit 1; }
# libsystemd0 is opened at run time (dlopen, for fleet ps's D-Bus question), so
# dpkg-shlibdeps does not see it.
depends="$shlibs, libsystemd0, tmux, systemd"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: mosaic
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: admin
Priority: optional
Description: fleet view and control for long-running AI coding agents
 mosaic joins systemd --user units, tmux sessions on the mosaic-factory
 socket, the process tree and the agents' heartbeat files into one view
 (mosaic fleet ps), and acts on agents safely (agent send --verify, watch,
 attach). Every command is a Lua script shipped inside the binary, which
 embeds Lua 5.4; operators script the same fleet primitives with mosaic run,
 mosaic shell and mosaic -e.
EOF
(cd "$stage" && find usr -type f -exec md5sum {} + | LC_ALL=C sort -k2) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "== $(basename "$deb"): $(du -k "$deb" | cut -f1) KB; Depends: $depends" >&2
echo "$deb"
