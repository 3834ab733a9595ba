#!/bin/bash
# Start a real agent against the fake model server (run as a tmux pane command).
#
#   launch.sh claude|codex --home DIR --project DIR --port PORT [-- extra args]
#
# The agent gets a clean environment: PATH, TERM, COLORTERM, LANG/LC_*, USER, LOGNAME,
# SHELL, TMUX, TMUX_PANE and every MOSAIC_* variable of the caller, plus
#   claude: HOME=DIR, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL=http://127.0.0.1:PORT,
#           CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1, and the caller's CLAUDE_CONFIG_DIR
#           when it is set (Claude then keeps .claude.json, settings, status files and
#           transcripts there instead of in HOME: copy DIR/.claude.json there first); runs
#           claude --permission-mode default [extra args]
#   codex:  HOME (the caller's), CODEX_HOME=DIR, LOCAL_API_KEY; runs
#           codex -C PROJECT [extra args]
# in PROJECT, with exec (the agent replaces this script). The binaries are
# $MOSAIC_CLAUDE / $MOSAIC_CODEX, else what fetch.sh reports. Write the configuration
# first with agent-home.sh.
set -euo pipefail

die() {
    echo "launch.sh: $*" >&2
    exit 2
}

[ $# -ge 1 ] || die "usage: launch.sh claude|codex --home DIR --project DIR --port PORT [-- extra args]"
runtime=$1
shift
case $runtime in claude | codex) ;; *) die "runtime: must be claude or codex, not '$runtime'" ;; esac
home= project= port=
while [ $# -gt 0 ]; do
    case $1 in
    --home) [ $# -ge 2 ] || die "--home: needs a directory"; home=$2; shift 2 ;;
    --project) [ $# -ge 2 ] || die "--project: needs a directory"; project=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || die "--port: needs a number"; port=$2; shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (extra agent arguments go after --)" ;;
    esac
done
[ -d "$home" ] || die "--home: ${home:-missing}: not a directory (run agent-home.sh first)"
[ -d "$project" ] || die "--project: ${project:-missing}: not a directory"
case $port in '' | *[!0-9]*) die "--port: must be a port number, not '$port'" ;; esac
home=$(cd "$home" && pwd -P)
project=$(cd "$project" && pwd -P)

here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=/dev/null
. "$here/keys.sh"

if [ "$runtime" = claude ]; then bin=${MOSAIC_CLAUDE:-}; else bin=${MOSAIC_CODEX:-}; fi
if [ -z "$bin" ]; then
    exports=$("$here/fetch.sh") || die "cannot fetch the agents (see above)"
    eval "$exports"
    if [ "$runtime" = claude ]; then bin=$MOSAIC_CLAUDE; else bin=$MOSAIC_CODEX; fi
fi
[ -x "$bin" ] || die "$runtime binary $bin: not executable"

# A clean environment: fixed names and every MOSAIC_* of the caller, then the agent's.
envs=()
for v in PATH TERM COLORTERM LANG LC_ALL LC_CTYPE USER LOGNAME SHELL TMUX TMUX_PANE; do
    [ -z "${!v+x}" ] || envs+=("$v=${!v}")
done
while IFS= read -r v; do
    envs+=("$v=${!v}")
done < <(compgen -e | grep '^MOSAIC_' || true)

cd "$project"
if [ "$runtime" = claude ]; then
    envs+=("HOME=$home" "ANTHROPIC_API_KEY=$MOSAIC_FAKE_ANTHROPIC_KEY"
        "ANTHROPIC_BASE_URL=http://127.0.0.1:$port" "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
    [ -z "${CLAUDE_CONFIG_DIR+x}" ] || envs+=("CLAUDE_CONFIG_DIR=$CLAUDE_CONFIG_DIR")
    exec env -i "${envs[@]}" "$bin" --permission-mode default "$@"
else
    [ -z "${HOME+x}" ] || envs+=("HOME=$HOME")
    envs+=("CODEX_HOME=$home" "LOCAL_API_KEY=$MOSAIC_FAKE_OPENAI_KEY")
    exec env -i "${envs[@]}" "$bin" -C "$project" "$@"
fi
