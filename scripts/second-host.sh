#!/usr/bin/env bash
# A second host on this machine, as real as one machine allows (tests of SPEC 2.12 and the
# fleet-ps-hosts benchmark). Runs as root (CI does).
#
#   second-host.sh up DIR NAME BINARY [AGENT...]
#       Host NAME: the user mosaic-test-remote (created if missing, no password, key-only),
#       its own mosaic home DIR/NAME/home (roster, run dir), its own tmux socket mt-NAME with
#       one stub agent (`mosaic agent stub`) per AGENT, a copy of BINARY it can run, and
#       Debian's sshd run by this script (its own config and host key, 127.0.0.1 on a free
#       high port, never the system service) inside a UTS namespace whose host name is NAME.
#       The client side (DIR/id, DIR/known_hosts) is shared by all hosts in DIR. Prints the
#       roster entry: `PORT=<port> SSH=<user>@127.0.0.1 MOSAIC=<path> OPTIONS=<file>` where
#       OPTIONS is a file with one ssh option a line.
#   second-host.sh down DIR NAME
#       Stops that host's sshd and tmux server and its shared connections; removes DIR/NAME.
#   second-host.sh stop-sshd DIR NAME | freeze-sshd DIR NAME | thaw-sshd DIR NAME
#       Stops sshd (connections refused), or SIGSTOPs / SIGCONTs it (accepts TCP, answers
#       nothing).
#   second-host.sh cleanup DIR
#       down for every host in DIR, then removes DIR.
#   second-host.sh stop-manager
#       Stops the user's systemd --user manager (after the last host).
set -euo pipefail

me=second-host.sh
user=mosaic-test-remote
fail() {
  echo "$me: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "must run as root (it creates a user and runs sshd)"
command -v /usr/sbin/sshd >/dev/null || fail "/usr/sbin/sshd missing: apt-get install openssh-server (scripts/setup.sh)"

ensure_user() {
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh "$user" 2>/dev/null || id "$user" >/dev/null 2>&1 ||
      fail "cannot create user $user"
  fi
  # '*': no password can ever match, but the account is not "locked" (sshd without PAM
  # refuses locked accounts, even for keys).
  usermod -p '*' "$user"
}

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

remote_uid() { id -u "$user"; }
remote_home() { getent passwd "$user" | cut -d: -f6; }

# The user's own `systemd --user` manager (scripts/user-manager.sh, started as that user
# from inside the cgroups root prepares for it).
ensure_manager() {
  local uid gid runtime slice hy
  uid=$(remote_uid)
  gid=$(id -g "$user")
  runtime=/run/user/$uid
  if runuser -u "$user" -- env XDG_RUNTIME_DIR="$runtime" timeout 5 systemctl --user is-system-running 2>/dev/null |
    grep -Eq '^(running|degraded)$'; then
    return 0
  fi
  mkdir -p "$runtime" /run/systemd/system
  chown "$uid:$gid" "$runtime"
  chmod 700 "$runtime"
  slice="user.slice/user-$uid.slice/user@$uid.service"
  local dirs=()
  if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
    dirs+=("/sys/fs/cgroup/$slice")
  else
    for hy in unified systemd; do
      grep -qs " /sys/fs/cgroup/$hy cgroup" /proc/mounts && dirs+=("/sys/fs/cgroup/$hy/$slice")
    done
  fi
  for d in "${dirs[@]}"; do
    mkdir -p "$d"
    chown -R "$uid:$gid" "$d"
  done
  MT_HERE=$(cd "$(dirname "$0")" && pwd) sh -c 'for d in "$@"; do echo $$ > "$d/cgroup.procs"; done; exec runuser -u "$0" -- env -i HOME="$(getent passwd "$0" | cut -d: -f6)" USER="$0" LOGNAME="$0" PATH=/usr/bin:/bin XDG_RUNTIME_DIR="/run/user/$(id -u "$0")" bash "$MT_HERE/user-manager.sh"' \
    "$user" "${dirs[@]}" >/dev/null || fail "cannot start a user manager for $user"
}

as_remote() {
  local home=$1
  shift
  runuser -u "$user" -- env -i HOME="$(remote_home)" USER="$user" LOGNAME="$user" \
    PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 MOSAIC_HOME="$home" XDG_RUNTIME_DIR="/run/user/$(remote_uid)" "$@"
}

up() {
  local dir=$1 name=$2 binary=$3
  shift 3
  ensure_user
  ensure_manager
  mkdir -p "$dir"
  chmod 755 "$dir"
  [ -f "$dir/id" ] || ssh-keygen -q -t ed25519 -N '' -C mosaic-test -f "$dir/id"
  local h="$dir/$name"
  rm -rf "$h"
  mkdir -p "$h/bin" "$h/home"
  chmod 755 "$h" "$h/bin"
  cp "$binary" "$h/bin/mosaic"
  chmod 755 "$h/bin/mosaic"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$h/host_key"
  cp "$dir/id.pub" "$h/authorized_keys"
  chown "$user" "$h/authorized_keys"
  chmod 600 "$h/authorized_keys"

  # The remote fleet: roster, run dir, tmux socket, stub agents.
  local home="$h/home/mosaic"
  chown "$user" "$h/home"
  chmod 700 "$h/home"
  as_remote "$home" mkdir -p "$home/fleet"
  {
    echo "return {"
    echo "  socket = \"mt-$name\","
    echo "  heartbeat_interval = 2,"
    echo "  agents = {"
    for a in "$@"; do
      echo "    { name = \"$a\", runtime = \"stub\", unit = \"mt-$name-agent@$a.service\" },"
    done
    echo "  },"
    echo "}"
  } | as_remote "$home" sh -c 'cat > "$MOSAIC_HOME/fleet/roster.lua" && chmod 600 "$MOSAIC_HOME/fleet/roster.lua"'
  # One unit per agent (a template of this host's own), started by the user manager.
  local units
  units="$(remote_home)/.config/systemd/user"
  as_remote "$home" mkdir -p "$units"
  as_remote "$home" sh -c 'cat > "$1"' sh "$units/mt-$name-agent@.service" <<EOF
[Unit]
Description=mosaic test agent %i of host $name

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=MOSAIC_HOME=$home
ExecStart=/usr/bin/tmux -u -L mt-$name new-session -d -s %i -x 120 -y 30 "$h/bin/mosaic agent stub %i --interval 2"
ExecStop=/usr/bin/tmux -u -L mt-$name kill-session -t =%i
KillMode=none
EOF
  as_remote "$home" systemctl --user daemon-reload
  for a in "$@"; do
    as_remote "$home" systemctl --user start "mt-$name-agent@$a.service"
  done

  local port
  port=$(free_port)
  cat >"$h/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $h/host_key
PidFile $h/sshd.pid
AuthorizedKeysFile $h/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $user
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
SetEnv MOSAIC_HOME=$home XDG_RUNTIME_DIR=/run/user/$(remote_uid)
LogLevel ERROR
EOF
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  /usr/sbin/sshd -t -f "$h/sshd_config" || fail "sshd refused its configuration ($h/sshd_config)"
  # -D: stays in the foreground of its own session (setsid) so that `down` can stop it by
  # pid; the UTS namespace gives it, and every session it starts, the host name NAME.
  setsid unshare --uts sh -c 'hostname "$1" && exec /usr/sbin/sshd -D -e -f "$2"' sh "$name" "$h/sshd_config" \
    </dev/null >"$h/sshd.log" 2>&1 &
  echo $! >"$h/sshd.launcher"
  for _ in $(seq 1 100); do
    if [ -s "$h/sshd.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  [ -s "$h/sshd.pid" ] || fail "sshd did not start (log: $(tail -n 3 "$h/sshd.log"))"
  echo "[127.0.0.1]:$port $(cut -d' ' -f1-2 "$h/host_key.pub")" >>"$dir/known_hosts"
  cat >"$h/ssh_options" <<EOF
Port=$port
IdentityFile=$dir/id
IdentitiesOnly=yes
UserKnownHostsFile=$dir/known_hosts
GlobalKnownHostsFile=/dev/null
StrictHostKeyChecking=yes
PasswordAuthentication=no
EOF
  echo "PORT=$port SSH=$user@127.0.0.1 MOSAIC=$h/bin/mosaic OPTIONS=$h/ssh_options"
}

# A process and all its descendants (sshd's sessions: privileged monitor, user process, shell).
tree() {
  local p
  echo "$1"
  for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    tree "$p"
  done
}

sshd_pid() {
  local h="$1/$2"
  [ -s "$h/sshd.pid" ] && cat "$h/sshd.pid"
}

down() {
  local dir=$1 name=$2
  local h="$dir/$name"
  [ -d "$h" ] || return 0
  local pid
  pid=$(sshd_pid "$dir" "$name" || true)
  if [ -n "$pid" ]; then
    kill -CONT "$pid" 2>/dev/null || true
    # sshd's session processes (one per connection) go with it: they are its children.
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local units
  units="$(remote_home)/.config/systemd/user"
  if [ -f "$units/mt-$name-agent@.service" ]; then
    as_remote "$h/home/mosaic" systemctl --user stop "mt-$name-agent@*.service" 2>/dev/null || true
    rm -f "$units/mt-$name-agent@.service"
    as_remote "$h/home/mosaic" systemctl --user daemon-reload 2>/dev/null || true
  fi
  as_remote "$h/home/mosaic" tmux -L "mt-$name" kill-server 2>/dev/null || true
  rm -f "/tmp/tmux-$(remote_uid)/mt-$name"
  rm -rf "$h"
}

case "${1:-}" in
  up)
    [ $# -ge 4 ] || fail "usage: $me up DIR NAME BINARY [AGENT...]"
    up "$2" "$3" "$4" "${@:5}"
    ;;
  down)
    [ $# -eq 3 ] || fail "usage: $me down DIR NAME"
    down "$2" "$3"
    ;;
  stop-sshd | freeze-sshd | thaw-sshd)
    [ $# -eq 3 ] || fail "usage: $me $1 DIR NAME"
    pid=$(sshd_pid "$2" "$3") || fail "no sshd for host $3 in $2"
    case "$1" in
      stop-sshd)
        pkill -KILL -P "$pid" 2>/dev/null || true
        kill -KILL "$pid"
        ;;
      # Every process of the tree: a shared connection already open hangs as well.
      freeze-sshd) kill -STOP $(tree "$pid") ;;
      thaw-sshd) kill -CONT $(tree "$pid") ;;
    esac
    ;;
  cleanup)
    [ $# -eq 2 ] || fail "usage: $me cleanup DIR"
    if [ -d "$2" ]; then
      for h in "$2"/*/; do
        [ -f "$h/sshd_config" ] && down "$2" "$(basename "$h")"
      done
      rm -rf "$2"
    fi
    ;;
  stop-manager)
    # The user's manager (the next `up` starts it again), waiting until it is gone (a manager
    # still stopping would be in the way of the next one).
    if id "$user" >/dev/null 2>&1; then
      runuser -u "$user" -- env XDG_RUNTIME_DIR="/run/user/$(remote_uid)" timeout 10 systemctl --user exit \
        >/dev/null 2>&1 || true
      for _ in $(seq 1 100); do
        [ -S "/run/user/$(remote_uid)/systemd/private" ] || break
        sleep 0.1
      done
    fi
    ;;
  *) fail "usage: $me up|down|stop-sshd|freeze-sshd|thaw-sshd|cleanup|stop-manager ..." ;;
esac
