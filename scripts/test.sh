#!/usr/bin/env bash
# The whole test run: install what is missing, make sure a systemd user manager runs,
# build with no warnings, lint Swift and Lua, then every test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
eval "$(scripts/user-manager.sh)"

echo "== build (warnings are errors)"
log=$(mktemp)
swift build --build-tests 2>&1 | tee "$log" | grep -E 'error|warning:|Compiling|Build' || true
if grep -q 'warning:' "$log"; then
  echo "test: the build has warnings (listed above)" >&2
  exit 1
fi
if grep -q 'error:' "$log"; then exit 1; fi
rm -f "$log"

echo "== swift format lint --strict"
swift format lint --strict --recursive Package.swift Sources Tests Plugins

echo "== luacheck"
luacheck --no-color -q lua examples scripts/bench

echo "== tests"
set +e +o pipefail
swift test --skip-build 2>&1 | tee "${TMPDIR:-/tmp}/mosaic-test.log" | grep --line-buffered -vE '^Test Case .* (started|passed)'
status=${PIPESTATUS[0]}
exit "$status"
