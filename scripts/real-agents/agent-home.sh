#!/bin/sh
# Write the configuration a real agent needs to run offline against the fake model.
#
#   agent-home.sh claude|codex --home DIR --project DIR --port PORT
#                 [--no-trust] [--no-key-approval] [--hooks-json FILE] [--trust-hooks]
#
# claude: DIR is the agent's HOME. Writes $HOME/.claude.json (onboarding done, the
#         dummy API key approved, the project trusted) and, with --hooks-json,
#         $HOME/.claude/settings.json from FILE ({"hooks": {...}}, Claude's format).
#         --no-trust: no trust entry (folder-trust dialog at start);
#         --no-key-approval: key not approved ("Detected a custom API key" dialog).
# codex:  DIR is the agent's CODEX_HOME. Writes $CODEX_HOME/config.toml (the fake model
#         as provider "local", approval on-request, the project trusted) and, with
#         --hooks-json, $CODEX_HOME/hooks.json from FILE. The hooks stay untrusted (Codex
#         shows its "Hooks need review" screen) unless --trust-hooks is given: then the
#         hashes Codex itself computes (`codex app-server`, request hooks/list, field
#         currentHash) are written as [hooks.state."<key>"] trusted_hash entries, as the
#         review screen's "Trust all" does. --no-trust: no project trust entry.
#         --no-key-approval means nothing for codex.
# PORT is the fake model server's port on 127.0.0.1. Files are written atomically;
# running it again rewrites them. The dummy keys are the ones launch.sh exports.
set -eu

die() {
    echo "agent-home.sh: $*" >&2
    exit 2
}

[ $# -ge 1 ] || die "usage: agent-home.sh claude|codex --home DIR --project DIR --port PORT [--no-trust] [--no-key-approval] [--hooks-json FILE] [--trust-hooks]"
runtime=$1
shift
case $runtime in claude | codex) ;; *) die "runtime: must be claude or codex, not '$runtime'" ;; esac
home= project= port= trust=1 keyok=1 hooks= trusthooks=0
while [ $# -gt 0 ]; do
    case $1 in
    --home) [ $# -ge 2 ] || die "--home: needs a directory"; home=$2; shift 2 ;;
    --project) [ $# -ge 2 ] || die "--project: needs a directory"; project=$2; shift 2 ;;
    --port) [ $# -ge 2 ] || die "--port: needs a number"; port=$2; shift 2 ;;
    --hooks-json) [ $# -ge 2 ] || die "--hooks-json: needs a file"; hooks=$2; shift 2 ;;
    --no-trust) trust=0; shift ;;
    --no-key-approval) keyok=0; shift ;;
    --trust-hooks) trusthooks=1; shift ;;
    *) die "unknown argument '$1'" ;;
    esac
done
[ -n "$home" ] || die "--home: missing"
[ -n "$project" ] || die "--project: missing"
case $port in '' | *[!0-9]*) die "--port: must be a port number, not '$port'" ;; esac
[ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port: must be 1..65535, not '$port'"
[ -d "$project" ] || die "--project: $project: not a directory"
[ -z "$hooks" ] || [ -r "$hooks" ] || die "--hooks-json: $hooks: cannot read"
[ "$trusthooks" = 0 ] || [ "$runtime" = codex ] || die "--trust-hooks: only for codex"
[ "$trusthooks" = 0 ] || [ -n "$hooks" ] || die "--trust-hooks: needs --hooks-json"
project=$(cd "$project" && pwd -P)

here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=/dev/null
. "$here/keys.sh"

codex_bin=
if [ "$trusthooks" = 1 ]; then
    codex_bin=${MOSAIC_CODEX:-}
    if [ -z "$codex_bin" ]; then
        exports=$("$here/fetch.sh") || die "--trust-hooks: cannot fetch codex (see above)"
        eval "$exports"
        codex_bin=$MOSAIC_CODEX
    fi
    [ -x "$codex_bin" ] || die "--trust-hooks: codex binary $codex_bin: not executable"
fi

exec python3 - "$runtime" "$home" "$project" "$port" "$trust" "$keyok" "$hooks" "$MOSAIC_FAKE_ANTHROPIC_KEY" "$codex_bin" <<'PY'
import json, os, subprocess, sys, time
runtime, home, project, port, trust, keyok, hooks, akey, codex_bin = sys.argv[1:]
trust, keyok = trust == "1", keyok == "1"
home = os.path.abspath(home)

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)

hooks_obj = None
if hooks:
    try:
        with open(hooks) as f:
            hooks_obj = json.load(f)
    except (OSError, ValueError) as e:
        print("agent-home.sh: --hooks-json: %s: %s" % (hooks, e), file=sys.stderr)
        sys.exit(2)
    if not isinstance(hooks_obj, dict) or not isinstance(hooks_obj.get("hooks"), dict):
        print('agent-home.sh: --hooks-json: %s: must be {"hooks": {...}}' % hooks, file=sys.stderr)
        sys.exit(2)

try:
    os.makedirs(home, exist_ok=True)
    home = os.path.realpath(home)
except OSError as e:
    print("agent-home.sh: --home: cannot create %s: %s" % (home, e.strerror), file=sys.stderr)
    sys.exit(2)

if runtime == "claude":
    cfg = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "autoUpdates": False,
        "customApiKeyResponses": {"approved": [akey[-20:]] if keyok else [], "rejected": []},
        "projects": {},
    }
    if trust:
        cfg["projects"][project] = {"hasTrustDialogAccepted": True, "allowedTools": []}
    write(os.path.join(home, ".claude.json"), json.dumps(cfg, indent=2) + "\n")
    if hooks_obj is not None:
        write(os.path.join(home, ".claude", "settings.json"), json.dumps(hooks_obj, indent=2) + "\n")
else:
    q = lambda s: json.dumps(s)  # a JSON string is a valid TOML basic string
    lines = [
        'model = "gpt-5.2-codex"',
        'model_provider = "local"',
        'approval_policy = "on-request"',
        'sandbox_mode = "workspace-write"',
        'check_for_update_on_startup = false',
        '',
        '[model_providers.local]',
        'name = "local"',
        'base_url = %s' % q("http://127.0.0.1:%s/v1" % port),
        'wire_api = "responses"',
        'env_key = "LOCAL_API_KEY"',
        '',
    ]
    if trust:
        lines += ['[projects.%s]' % q(project), 'trust_level = "trusted"', '']
    write(os.path.join(home, "config.toml"), "\n".join(lines))
    if hooks_obj is not None:
        write(os.path.join(home, "hooks.json"), json.dumps(hooks_obj, indent=2) + "\n")
    if codex_bin:
        # Ask Codex for its own hash of each hook (app-server JSON-RPC on stdio).
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "USER", "LOGNAME")}
        env.update(HOME=os.environ.get("HOME", home), CODEX_HOME=home, LOCAL_API_KEY="unused")
        reqs = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"clientInfo": {"name": "mosaic-agent-home", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "hooks/list", "params": {"cwds": [project]}},
        ]
        import selectors
        import tempfile

        def ask(wait):
            """One app-server: its hooks/list answer, or None and the tail of its stderr."""
            errf = tempfile.TemporaryFile(mode="w+")
            proc = subprocess.Popen([codex_bin, "app-server"], cwd=project, env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errf, text=True)
            result = None
            try:
                proc.stdin.write("".join(json.dumps(r) + "\n" for r in reqs))
                proc.stdin.flush()
                deadline = time.monotonic() + wait
                sel = selectors.DefaultSelector()
                sel.register(proc.stdout, selectors.EVENT_READ)
                while result is None and time.monotonic() < deadline:
                    if not sel.select(timeout=max(0.1, deadline - time.monotonic())):
                        continue
                    line = proc.stdout.readline()
                    if not line:
                        break
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if msg.get("id") == 2:
                        result = msg
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            errf.seek(0)
            tail = errf.read()[-300:].strip()
            errf.close()
            return result, tail

        # On a loaded machine an app-server has been seen to give no answer in 30 s (or to
        # end without one): ask a fresh one again, three times at most.
        result, tail = None, ""
        for wait in (30, 60, 60):
            result, tail = ask(wait)
            if result is not None:
                break
        entries = []
        if result and isinstance(result.get("result"), dict):
            for group in result["result"].get("data", []):
                for hk in group.get("hooks", []):
                    if hk.get("sourcePath") == os.path.join(home, "hooks.json") and hk.get("currentHash"):
                        entries.append((hk["key"], hk["currentHash"]))
        if not entries:
            why = result.get("error") if result else "no answer from codex app-server (3 tries)" + (
                ": " + tail if tail else "")
            print("agent-home.sh: --trust-hooks: cannot read the hooks' hashes: %s" % (why,), file=sys.stderr)
            sys.exit(1)
        lines += ["[hooks.state]", ""]
        for key, digest in entries:
            lines += ["[hooks.state.%s]" % q(key), "trusted_hash = %s" % q(digest), ""]
        write(os.path.join(home, "config.toml"), "\n".join(lines))
PY
