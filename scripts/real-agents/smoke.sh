#!/bin/bash
# End-to-end check of the real-agent harness: the pinned Claude Code and Codex, each in a
# pane of a private tmux server, against fake-model.py on 127.0.0.1.
#
#   scripts/real-agents/smoke.sh [claude] [codex]      (default: both)
#
# Per runtime: launch through `sh -c 'cd P && launch.sh ...'`, wait for the input prompt,
# paste a message carrying a nonce, press Enter once the text shows in the input, wait for
# the agent's "ACK <nonce>" on screen and the nonce in its own record (transcript /
# rollout); then steer the model into a tool call that needs permission, wait for the
# permission (Claude: status file "waiting") / approval prompt, cancel it with Esc and
# check that the command did not run. Prints one line per check; exit 0 when all pass.
# Everything it starts (tmux server, agents, Codex daemons, fake model) is stopped and
# its directory removed at exit. Takes about 30 s.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(claude codex)
for rt in "${runtimes[@]}"; do
    case $rt in claude | codex) ;; *) echo "smoke.sh: runtime: must be claude or codex, not '$rt'" >&2; exit 2 ;; esac
done

eval "$("$here/fetch.sh")"
export MOSAIC_CLAUDE MOSAIC_CODEX
work=$(mktemp -d "${TMPDIR:-/tmp}/mt-smoke-XXXXXX")
sock="mt-smoke-$$-$RANDOM"
T=(tmux -L "$sock")
fake=
failures=0

cleanup() {
    "${T[@]}" kill-server 2>/dev/null || true
    homes=()
    for d in "$work"/*/home; do [ -d "$d" ] && homes+=("$d"); done
    [ ${#homes[@]} -eq 0 ] || "$here/reap.sh" "${homes[@]}" 2>/dev/null || true
    if [ -n "$fake" ]; then
        kill -TERM "$fake" 2>/dev/null || true
        wait "$fake" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() { # check NAME COMMAND...: run a check, report it
    local name=$1
    shift
    if "$@"; then
        echo "ok   $name"
    else
        echo "FAIL $name"
        failures=$((failures + 1))
    fi
}

screen() { "${T[@]}" capture-pane -p -t "=$1:"; }

wait_for() { # wait_for SECONDS COMMAND...: poll every 0.1 s
    local until=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $until ]; do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    "$@"
}

on_screen() { screen "$1" | grep -qF -- "$2"; }
on_screen_re() { screen "$1" | grep -qE -- "$2"; }
file_has() { grep -rqF -- "$2" "$1" 2>/dev/null; }
status_is() { grep -qs "\"status\":\"$2\"" "$1"/.claude/sessions/[0-9]*.json; }

send() { # send SESSION TEXT: paste, wait for it in the input, then Enter
    printf '%s' "$2" | "${T[@]}" load-buffer -b smoke -
    "${T[@]}" paste-buffer -d -p -r -b smoke -t "=$1:"
    wait_for 10 on_screen "$1" "$2" || return 1
    "${T[@]}" send-keys -t "=$1:" Enter
}

enqueue() { curl -sf -X POST "http://127.0.0.1:$port/_control/enqueue" -d "$1" >/dev/null; }

python3 "$here/fake-model.py" --port 0 --port-file "$work/port" --log "$work/model.log" 2>"$work/fake.err" &
fake=$!
wait_for 10 test -s "$work/port" || { echo "smoke.sh: the fake model did not start: $(cat "$work/fake.err")" >&2; exit 1; }
port=$(cat "$work/port")
"${T[@]}" new-session -d -s base -x 200 -y 50 'sleep 100000'

for rt in "${runtimes[@]}"; do
    d="$work/$rt"
    mkdir -p "$d/home" "$d/proj"
    git -C "$d/proj" init -q
    "$here/agent-home.sh" "$rt" --home "$d/home" --project "$d/proj" --port "$port"
    start=$SECONDS
    "${T[@]}" new-session -d -s "$rt" -x 200 -y 50 \
        "sh -c 'cd $d/proj && MOSAIC_AGENT=smoke-$rt exec $here/launch.sh $rt --home $d/home --project $d/proj --port $port'"
    if [ "$rt" = claude ]; then
        check "claude: input prompt" wait_for 60 on_screen claude '? for shortcuts'
        record="$d/home/.claude/projects"
    else
        # The composer shows at once; Codex is ready when its footer shows the model.
        check "codex: input prompt" wait_for 60 on_screen codex 'gpt-5.2-codex default'
        record="$d/home/sessions"
    fi
    echo "     ($rt ready after $((SECONDS - start)) s)"
    nonce="s$RANDOM$RANDOM"
    check "$rt: message pasted and submitted" send "$rt" "smoke test [m:$nonce]"
    check "$rt: ACK $nonce on screen" wait_for 30 on_screen "$rt" "ACK $nonce"
    check "$rt: nonce in its own record" wait_for 10 file_has "$record" "[m:$nonce]"

    marker="$work/$rt-touched"
    enqueue "[{\"text\": \"\", \"tool\": {\"command\": \"touch $marker\", \"needs_approval\": true}}]"
    check "$rt: tool message submitted" send "$rt" "run the tool"
    if [ "$rt" = claude ]; then
        check "claude: status file says waiting" wait_for 30 status_is "$d/home" waiting
        check "claude: permission prompt on screen" wait_for 10 on_screen claude 'Do you want to proceed?'
        "${T[@]}" send-keys -t '=claude:' Escape
        check "claude: back to idle after Esc" wait_for 15 status_is "$d/home" idle
    else
        check "codex: approval prompt on screen" wait_for 30 on_screen codex 'Would you like to run the following command?'
        "${T[@]}" send-keys -t '=codex:' Escape
        check "codex: cancelled after Esc" wait_for 15 on_screen_re codex 'You canceled the request|Conversation interrupted'
    fi
    sleep 1
    check "$rt: the tool did not run" test ! -e "$marker"
done

if [ $failures -gt 0 ]; then
    echo "smoke.sh: $failures check(s) failed; fake model log: $(wc -l <"$work/model.log") requests" >&2
    exit 1
fi
echo "smoke.sh: all checks passed"
