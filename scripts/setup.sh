#!/usr/bin/env bash
# Installs the Debian packages mosaic needs to build, test and run, if any is missing.
# Idempotent; runs apt-get update only when something must be installed.
set -euo pipefail

packages=(
  pkg-config liblua5.4-dev lua5.4 lua-check libedit-dev libsystemd-dev
  tmux procps hyperfine prometheus prometheus-node-exporter python3 python3-pip unzip curl
  bash-completion zsh fish mandoc man-db python3-jsonschema dpkg-dev binutils mmdebstrap
  openssh-server openssh-client passwd util-linux
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # openssh-server is here for its sshd binary only: the hosts tests run sshd themselves on
  # loopback (scripts/second-host.sh). When this run installed it on a systemd machine, the
  # system service it enabled on port 22 is turned off again.
  if [[ " ${missing[*]} " == *" openssh-server "* ]] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    $sudo systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
fi
