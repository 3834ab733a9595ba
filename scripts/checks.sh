# Shared by the check scripts (test-package.sh, test-package-debian.sh, test-prometheus.sh):
# source it after setting `tmp` (a scratch directory). Each script ends with its own
# "N passed, M failed" line, which scripts/test.sh counts.
passed=0
failed=0

# check NAME CMD...: runs CMD, its output to a log shown only on failure.
check() {
  local name=$1
  shift
  if "$@" >"$tmp/log" 2>&1; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    sed 's/^/     /' "$tmp/log"
    failed=$((failed + 1))
  fi
}

# finish: the closing line; exit 0 only when nothing failed.
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# the_package [DEB]: sets `deb` to DEB, or to the package scripts/package.sh builds, as an
# absolute path, and checks that it exists (finishing when it does not).
the_package() {
  deb=${1:-}
  if [ -z "$deb" ]; then
    deb=$(scripts/package.sh | tail -n 1)
  fi
  deb=$(realpath -e "$deb" 2>/dev/null || echo "$deb")
  check "the package exists ($deb)" test -s "$deb"
  [ -s "$deb" ] || finish
}
