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
log="${TMPDIR:-/tmp}/mosaic-test.log"
set +e +o pipefail
# The suites are XCTest; Swift Testing would add a closing "0 tests" line of its own.
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" |
  grep --line-buffered -vE '^Test Case .* (started|passed)'
status=${PIPESTATUS[0]}
# One plain closing line: the totals of the whole run.
summary=$(grep -E '^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -n 1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(grep -cE "^Test Case '.*' failed" "$log")
if [ -n "$summary" ]; then
  echo "$((total - failed)) passed, $failed failed"
fi
if [ "$status" -eq 0 ] && [ -z "$summary" ]; then
  echo "test: swift test ran no test" >&2
  exit 1
fi
exit "$status"
