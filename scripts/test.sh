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

# Runs a check script that ends with "N passed, M failed"; adds its counts to
# script_passed/script_failed and keeps the first non-zero exit status in script_status.
script_passed=0
script_failed=0
script_status=0
run_checks() {
  local out line passed failed status
  out=$(mktemp "${TMPDIR:-/tmp}/mosaic-checks.XXXXXX")
  set +e +o pipefail
  "$@" 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
  set -e -o pipefail
  line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
  rm -f "$out"
  passed=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/^([0-9]+) passed.*/\1/')
  failed=$(echo "${line:-0 passed, 1 failed}" | sed -E 's/.* ([0-9]+) failed$/\1/')
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  script_passed=$((script_passed + passed))
  script_failed=$((script_failed + failed))
  if [ "$script_status" -eq 0 ]; then script_status=$status; fi
}

echo "== prometheus rules, dashboard and exporter path"
run_checks scripts/test-prometheus.sh

echo "== the installable binary and the Debian package"
# Always run, in CI too: scripts/package.sh builds the static release binary in its own
# scratch directory (.build/static; about 1.5 min the first time, seconds after that) and
# the .deb, then scripts/test-package.sh checks it without a toolchain and through dpkg.
run_checks scripts/test-package.sh

echo "== tests"
log=$(mktemp "${TMPDIR:-/tmp}/mosaic-test.XXXXXX")
set +e +o pipefail
# The suites are XCTest; Swift Testing would add a closing "0 tests" line of its own.
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" |
  grep --line-buffered -vE '^Test Case .* (started|passed)'
status=${PIPESTATUS[0]}
# One plain closing line: the totals of the whole run.
summary=$(grep -aE '^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -n 1)
total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
failed=$(grep -acE "^Test Case '.*' failed" "$log")
if [ -n "$summary" ]; then
  # One plain closing line for the whole run: the Swift suites, the Prometheus checks and
  # the package checks.
  echo "$((total - failed + script_passed)) passed, $((failed + script_failed)) failed"
fi
if [ "$status" -eq 0 ] && [ -z "$summary" ]; then
  echo "test: swift test ran no test" >&2
  exit 1
fi
if [ "$status" -eq 0 ] && [ "$script_status" -ne 0 ]; then exit "$script_status"; fi
exit "$status"
