#!/usr/bin/env bash
# The main job: install what is missing, build mosaic (release), make sure a systemd
# user manager runs, bring up the dogfood fleet and show it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
eval "$(scripts/user-manager.sh)"

swift build -c release --product mosaic 2>&1 | grep -E 'error|warning:|Compiling|Build' || true
bin=$(swift build -c release --show-bin-path)/mosaic
[ -x "$bin" ] || { echo "run: build failed" >&2; exit 1; }

"$bin" --version
"$bin" -e 'print(("hello from Lua inside mosaic on %s: %s"):format(mosaic.hostname(), mosaic.json.encode({1, 2, {}})))'
"$bin" run examples/dogfood.lua up
"$bin" fleet ps
echo
echo "The binary: $bin (export XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR to talk to the user manager)."
echo "Try:"
echo "  $bin fleet ps --json"
echo "  $bin agent watch coder-1          (q to leave)"
echo "  $bin agent send coder-1 --verify --nonce 'run the tests'"
echo "  $bin fleet check"
echo "  $bin shell"
echo "Real agents too (Claude Code and Codex from PyPI, offline, against a fake model):"
echo "  $bin run examples/dogfood.lua up --real"
echo "Tear the fleet down: $bin run examples/dogfood.lua down"
