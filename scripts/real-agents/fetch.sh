#!/bin/sh
# Fetch the pinned real agents (Claude Code, Codex) for mosaic's real-agent tests.
#
# Both ship as native binaries inside PyPI wheels. This downloads each wheel once
# (pip download --no-deps) into the cache, unpacks the binaries, checks that
# `--version` prints the pinned version, and prints on stdout:
#   export MOSAIC_CLAUDE=/abs/path/claude
#   export MOSAIC_CODEX=/abs/path/codex
# so a caller can `eval "$(scripts/real-agents/fetch.sh)"`. Diagnostics go to stderr.
# Idempotent; when everything is cached it only runs the two `--version` checks.
#
# Cache: ${MOSAIC_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic/agents}
#   wheels/<wheel file>                          the downloaded wheels
#   claude/claude_agent_sdk/_bundled/claude      Claude Code
#   codex/codex_cli_bin/bin/codex                Codex (and its rg, bwrap helpers)
# A wheel already present in the sibling directory ../wheels of the cache (an older
# layout) is reused (hard link, else copy) instead of downloaded again.
set -eu

CLAUDE_WHEEL_PKG=claude-agent-sdk
CLAUDE_WHEEL_VER=0.2.189
CLAUDE_VERSION=2.1.332
CLAUDE_WHEEL_FILE=claude_agent_sdk-0.2.189-py3-none-manylinux_2_17_x86_64.whl
CODEX_WHEEL_PKG=openai-codex-cli-bin
CODEX_WHEEL_VER=0.163.0
CODEX_VERSION=0.163.0
CODEX_WHEEL_FILE=openai_codex_cli_bin-0.163.0-py3-none-manylinux_2_17_x86_64.whl

CACHE=${MOSAIC_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic/agents}

fail() {
    echo "fetch.sh: $*" >&2
    exit 1
}
note() { echo "fetch.sh: $*" >&2; }

case $(uname -m) in
x86_64) ;;
*) fail "only x86_64 Linux wheels are pinned (this is $(uname -m))" ;;
esac

mkdir -p "$CACHE/wheels" 2>/dev/null || fail "cannot create cache directory $CACHE/wheels"
CACHE=$(cd "$CACHE" && pwd -P)

# wheel FILE PKG VER: make sure $CACHE/wheels/FILE exists.
wheel() {
    file=$1 pkg=$2 ver=$3
    [ -s "$CACHE/wheels/$file" ] && return 0
    legacy=$(dirname "$CACHE")/wheels/$file
    if [ -s "$legacy" ]; then
        note "reusing $legacy"
        ln "$legacy" "$CACHE/wheels/$file.part" 2>/dev/null ||
            cp "$legacy" "$CACHE/wheels/$file.part" ||
            fail "cannot copy $legacy into $CACHE/wheels"
        mv -f "$CACHE/wheels/$file.part" "$CACHE/wheels/$file"
        return 0
    fi
    note "downloading $pkg==$ver (once; about 150 MB)"
    tmp="$CACHE/wheels/.download.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if ! python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux_2_17_x86_64 --python-version 3.11 \
        -d "$tmp" "$pkg==$ver" >"$tmp.log" 2>&1; then
        why=$(grep -E 'ERROR|rror' "$tmp.log" | tail -n 1 | cut -c1-200)
        rm -rf "$tmp" "$tmp.log"
        fail "pip download $pkg==$ver failed: ${why:-see pip}"
    fi
    rm -f "$tmp.log"
    [ -s "$tmp/$file" ] || {
        ls "$tmp" >&2
        rm -rf "$tmp"
        fail "pip download $pkg==$ver did not give $file"
    }
    mv -f "$tmp/$file" "$CACHE/wheels/$file"
    rm -rf "$tmp"
}

# version BIN: first word of `BIN --version`, empty when it does not run.
version() {
    [ -x "$1" ] || return 0
    "$1" --version 2>/dev/null | head -n 1 | sed 's/^codex-cli //; s/ .*//'
}

# ensure NAME BIN_REL WANT WHEEL_FILE PKG VER MEMBERS...: unpack when missing or wrong.
ensure() {
    name=$1 rel=$2 want=$3 file=$4 pkg=$5 ver=$6
    shift 6
    bin="$CACHE/$name/$rel"
    got=$(version "$bin")
    [ "$got" = "$want" ] && return 0
    wheel "$file" "$pkg" "$ver"
    note "unpacking $file"
    tmp="$CACHE/.$name.unpack.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    unzip -q -o "$CACHE/wheels/$file" "$@" -d "$tmp" ||
        { rm -rf "$tmp"; fail "cannot unzip $CACHE/wheels/$file (delete it to download again)"; }
    find "$tmp" -type f \( -path '*/bin/*' -o -path '*/_bundled/claude' -o -name rg -o -name bwrap \) \
        -exec chmod +x {} +
    got=$(version "$tmp/$rel")
    [ "$got" = "$want" ] ||
        { rm -rf "$tmp"; fail "$name from $file reports version '$got', expected $want"; }
    rm -rf "$CACHE/$name.old"
    [ ! -e "$CACHE/$name" ] || mv "$CACHE/$name" "$CACHE/$name.old"
    mv "$tmp" "$CACHE/$name"
    rm -rf "$CACHE/$name.old"
}

ensure claude claude_agent_sdk/_bundled/claude "$CLAUDE_VERSION" \
    "$CLAUDE_WHEEL_FILE" "$CLAUDE_WHEEL_PKG" "$CLAUDE_WHEEL_VER" 'claude_agent_sdk/_bundled/*'
ensure codex codex_cli_bin/bin/codex "$CODEX_VERSION" \
    "$CODEX_WHEEL_FILE" "$CODEX_WHEEL_PKG" "$CODEX_WHEEL_VER"

echo "export MOSAIC_CLAUDE=$CACHE/claude/claude_agent_sdk/_bundled/claude"
echo "export MOSAIC_CODEX=$CACHE/codex/codex_cli_bin/bin/codex"
