#!/usr/bin/env bash
# Makes sure a real `systemd --user` manager runs for the current user and answers
# `systemctl --user`, then prints `export XDG_RUNTIME_DIR=...` on stdout (eval it).
#
# If the manager already answers (is-system-running says running or degraded), nothing else
# happens. Otherwise, on a machine whose PID 1 is not systemd (the development VMs and CI, which
# run as root), it starts one the way /work/shared/notes/systemd.md describes: it creates
# /run/systemd/system, /run/user/<uid> (0700, owned by the user) and the user's cgroups on the
# mounted hierarchies, moves the launching shell into them and starts
# `/lib/systemd/systemd --user` detached with setsid. It waits up to 10 s for the manager to
# answer and fails with one line on stderr otherwise. Safe to run any number of times.
set -euo pipefail

me=user-manager.sh
uid=$(id -u)
gid=$(id -g)
user=$(id -un)
runtime=${XDG_RUNTIME_DIR:-/run/user/$uid}

fail() {
  echo "$me: $*" >&2
  exit 1
}

# Prints the manager's state if it answers, nothing otherwise.
manager_state() {
  local state
  state=$(XDG_RUNTIME_DIR=$runtime timeout 5 systemctl --user is-system-running 2>/dev/null) || true
  case "$state" in
    running | degraded | starting | initializing | maintenance | stopping) echo "$state" ;;
    *) ;;
  esac
}

case "$(manager_state)" in
  running | degraded)
    echo "export XDG_RUNTIME_DIR=$runtime"
    exit 0
    ;;
esac

if [ "$(cat /proc/1/comm 2>/dev/null || true)" = systemd ]; then
  fail "no user manager answers at $runtime; PID 1 is systemd, so log in as $user or run: loginctl enable-linger $user"
fi

manager=/lib/systemd/systemd
[ -x "$manager" ] || manager=/usr/lib/systemd/systemd
[ -x "$manager" ] || fail "systemd is not installed (no /lib/systemd/systemd); apt-get install systemd"

# systemd --user refuses to start unless this exists ("system has not been booted with systemd").
if [ ! -d /run/systemd/system ]; then
  mkdir -p /run/systemd/system 2>/dev/null || fail "cannot create /run/systemd/system (run as root once)"
fi

if [ "$runtime" = "/run/user/$uid" ] && [ ! -d "$runtime" ]; then
  mkdir -p "$runtime" 2>/dev/null || fail "cannot create $runtime (run as root once)"
  chown "$uid:$gid" "$runtime"
fi
[ -d "$runtime" ] || fail "runtime directory $runtime does not exist"
[ "$(stat -c %u "$runtime")" = "$uid" ] || fail "$runtime is not owned by $user"
chmod 0700 "$runtime" 2>/dev/null || true

# The manager needs a cgroup it may write to, on every mounted hierarchy it uses.
cgroups=()
slice="user.slice/user-$uid.slice/user@$uid.service"
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null || true)" = cgroup2fs ]; then
  cgroups+=("/sys/fs/cgroup/$slice")
else
  for hierarchy in unified systemd; do
    if grep -qs " /sys/fs/cgroup/$hierarchy cgroup" /proc/mounts; then
      cgroups+=("/sys/fs/cgroup/$hierarchy/$slice")
    fi
  done
fi
for dir in "${cgroups[@]}"; do
  mkdir -p "$dir" 2>/dev/null || fail "cannot create cgroup $dir"
  chown -R "$uid:$gid" "$dir" 2>/dev/null || true
done

log="$runtime/mosaic-user-manager.log"
(
  for dir in "${cgroups[@]}"; do
    echo "$BASHPID" >"$dir/cgroup.procs" 2>/dev/null || fail "cannot move into cgroup $dir"
  done
  exec setsid env -i HOME="${HOME:-/}" USER="$user" LOGNAME="$user" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG="${LANG:-C.UTF-8}" \
    XDG_RUNTIME_DIR="$runtime" "$manager" --user </dev/null >"$log" 2>&1
) &
disown || true

for _ in $(seq 1 100); do
  case "$(manager_state)" in
    running | degraded)
      echo "export XDG_RUNTIME_DIR=$runtime"
      exit 0
      ;;
  esac
  sleep 0.1
done
fail "systemd --user did not answer within 10 s (log: $log: $(tail -n 1 "$log" 2>/dev/null || true))"
