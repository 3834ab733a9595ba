#!/usr/bin/env bash
# Tests of the Prometheus path (docs/many-hosts.md): the alerting rules (promtool check and
# unit tests), the example scrape config and export units, the Grafana dashboard, the
# exporter's activity metrics, and the whole chain for real: `mosaic fleet export` into a
# textfile directory, a real node_exporter serving it and a real Prometheus evaluating the
# rules, both on loopback ports of their own.
#
#   scripts/test-prometheus.sh            (MOSAIC=path/to/mosaic, default .build/debug/mosaic)
#
# Prints one line per check, then `N passed, M failed`; exits 1 when any check failed.
# A missing tool or binary is a failure, never a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
MOSAIC=${MOSAIC:-$root/.build/debug/mosaic}
export MOSAIC_LUA_PATH=$root/lua
rules=examples/prometheus/mosaic.rules.yml
dashboard=examples/grafana/mosaic-dashboard.json

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mt-prom-XXXXXX")
pids=()
socket=""
socket_path=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -n "$socket" ]; then
    tmux -L "$socket" kill-server 2>/dev/null
    # tmux leaves the socket file behind.
    if [ -n "$socket_path" ]; then rm -f "$socket_path"; fi
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# check NAME CMD... and finish: scripts/checks.sh
. scripts/checks.sh

need() {
  command -v "$1" >/dev/null || {
    echo "$1 not found (scripts/setup.sh installs it)"
    return 1
  }
}

# promtool test rules prints its own summary; keep the counts for the closing report.
rule_tests() {
  need promtool && (cd examples/prometheus && promtool test rules mosaic.rules.test.yml) || return 1
  echo "alert_rule_test cases: $(grep -c 'alertname:' examples/prometheus/mosaic.rules.test.yml)" \
    "in $(grep -c '^  - name:' examples/prometheus/mosaic.rules.test.yml) tests"
}

# Every mosaic_* metric the rules and the dashboard use is one the exporter writes, and
# every PromQL expression of the dashboard parses (checked by promtool as recording rules,
# with the dashboard's variables filled in).
metric_names() {
  python3 - "$root" "$rules" "$dashboard" <<'EOF'
import json, re, sys
root, rules, dashboard = sys.argv[1:]
lua = open(f"{root}/lua/mosaic/prometheus.lua").read()
exported = set(re.findall(r'"(mosaic_[a-z_]+)"', lua))
assert "mosaic_agent_activity_state" in exported, "exporter families not found"
used = set(re.findall(r"\b(mosaic_[a-z_]+)\b", open(rules).read()))
for p in json.load(open(dashboard))["panels"]:
    for t in p["targets"]:
        used |= set(re.findall(r"\b(mosaic_[a-z_]+)\b", t["expr"]))
missing = sorted(used - exported)
assert not missing, f"metrics the exporter does not write: {missing}"
print(f"{len(used)} mosaic metrics used, all exported")
EOF
}

dashboard_structure() {
  python3 -m json.tool "$dashboard" >/dev/null || return 1
  python3 - "$dashboard" "$tmp/dashboard.rules.yml" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["title"] and d["uid"] == "mosaic-fleet", "title and uid"
assert isinstance(d["schemaVersion"], int)
variables = {v["name"]: v for v in d["templating"]["list"]}
assert set(variables) >= {"datasource", "host", "tenant"}, f"variables: {sorted(variables)}"
assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
panels = d["panels"]
ids = [p["id"] for p in panels]
assert len(ids) == len(set(ids)), "panel ids are unique"
titles = {p["title"] for p in panels}
for want in ("Fleet overview", "Agents down", "Heartbeat age", "Activity state", "Waiting agents",
             "Waiting for a human", "Drift", "Export age"):
    assert want in titles, f"no panel {want!r}"
exprs = []
for p in panels:
    assert p["type"] in ("stat", "table", "timeseries"), p["type"]
    g = p["gridPos"]
    assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, f"{p['title']}: gridPos {g}"
    assert p["datasource"]["uid"] == "${datasource}", f"{p['title']}: datasource"
    assert p["targets"], f"{p['title']}: no query"
    refs = [t["refId"] for t in p["targets"]]
    assert len(refs) == len(set(refs)), f"{p['title']}: refIds"
    for t in p["targets"]:
        assert t["datasource"]["uid"] == "${datasource}"
        exprs.append(t["expr"].replace("$host", ".*").replace("$tenant", ".*"))
overview = next(p for p in panels if p["title"] == "Fleet overview")
assert overview["type"] == "table" and all(t.get("format") == "table" for t in overview["targets"])
names = overview["transformations"][1]["options"]["renameByName"]
assert {"Host", "Tenant", "Agent", "Heartbeat age", "Activity"} <= set(names.values())
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        f.write(f"      - record: dashboard:expr{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(panels)} panels, {len(exprs)} queries")
EOF
  [ $? -eq 0 ] && need promtool && promtool check rules "$tmp/dashboard.rules.yml"
}

# The example units, with the binary path pointed at this build (systemd-analyze wants an
# executable that exists).
units() {
  need systemd-analyze || return 1
  mkdir -p "$tmp/units"
  sed "s#/usr/bin/mosaic#$MOSAIC#" examples/prometheus/mosaic-export.service >"$tmp/units/mosaic-export.service"
  cp examples/prometheus/mosaic-export.timer "$tmp/units/"
  grep -q -- "--output /var/lib/prometheus/node-exporter/mosaic.prom" "$tmp/units/mosaic-export.service" &&
    systemd-analyze verify "$tmp/units/mosaic-export.service" "$tmp/units/mosaic-export.timer"
}

# The exporter's activity metrics from rows with and without `activity`.
activity_metrics() {
  [ -x "$MOSAIC" ] || {
    echo "no mosaic binary at $MOSAIC (swift build)"
    return 1
  }
  "$MOSAIC" -e '
    local p = require "mosaic.prometheus"
    local function row(name, activity)
      return { name = name, tenant_id = "t", host = "h1", runtime = "claude", activity = activity }
    end
    io.write(p.render(p.fleet({ host = "h1", generated_at = "2026-11-24T15:00:00Z", agents = {
      row("waits", { state = "waiting", waiting_for = "permission prompt", since = "2026-11-24T14:59:40.5Z",
                     source = "agent" }),
      row("idles", { state = "idle", since = "2026-11-24T14:00:00+01:00", source = "screen" }),
      row("old"),
      row("odd", { state = "pondering", since = "2026-11-24T14:00:00Z" }),
    } }, { now = 1795532400 })))' >"$tmp/activity.prom" || return 1
  cat "$tmp/activity.prom"
  promtool check metrics <"$tmp/activity.prom" || return 1
  local l='tenant_id="t",host="h1"'
  for want in \
    "mosaic_agent_activity_state{$l,agent=\"waits\",runtime=\"claude\",state=\"waiting\"} 1" \
    "mosaic_agent_activity_state{$l,agent=\"waits\",runtime=\"claude\",state=\"working\"} 0" \
    "mosaic_agent_activity_state{$l,agent=\"waits\",runtime=\"claude\",state=\"unknown\"} 0" \
    "mosaic_agent_activity_since_timestamp_seconds{$l,agent=\"waits\",runtime=\"claude\"} 1795532380.5" \
    "mosaic_agent_activity_state{$l,agent=\"idles\",runtime=\"claude\",state=\"idle\"} 1" \
    "mosaic_agent_activity_since_timestamp_seconds{$l,agent=\"idles\",runtime=\"claude\"} 1795525200" \
    "mosaic_agent_activity_state{$l,agent=\"old\",runtime=\"claude\",state=\"unknown\"} 1" \
    "mosaic_agent_activity_state{$l,agent=\"odd\",runtime=\"claude\",state=\"unknown\"} 1"; do
    grep -qxF "$want" "$tmp/activity.prom" || {
      echo "missing: $want"
      return 1
    }
  done
  [ "$(grep -c '^mosaic_agent_activity_state{' "$tmp/activity.prom")" -eq 20 ] || {
    echo "expected 5 state series for each of 4 agents"
    return 1
  }
  # Unknown activity: no since, even when the row carries one.
  ! grep -E 'mosaic_agent_activity_since_timestamp_seconds\{.*agent="(old|odd)"' "$tmp/activity.prom"
}

# listen CMD...: starts CMD (its last argument a loopback port, substituted for @PORT@) on a
# random free port, waits until it answers /metrics; sets $port. Three tries.
listen() {
  local try cmd
  for try in 1 2 3; do
    port=$((20000 + RANDOM % 30000))
    cmd=("${@//@PORT@/$port}")
    "${cmd[@]}" >"$tmp/$1.$try.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
      if curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null 2>&1; then return 0; fi
      kill -0 "${pids[-1]}" 2>/dev/null || break
      sleep 0.1
    done
    kill "${pids[-1]}" 2>/dev/null
  done
  cat "$tmp/$1".*.log
  return 1
}

# The real chain: a roster of two agents on a tmux socket of the test's own, one a live stub
# agent in its session, the other with no session; `fleet export` into a textfile directory,
# served by node_exporter, scraped by Prometheus with the shipped rules: MosaicAgentDown goes
# pending for the absent agent only, the activity series say idle (the stub at its prompt)
# and unknown, and no host alert is active.
end_to_end() {
  [ -x "$MOSAIC" ] || {
    echo "no mosaic binary at $MOSAIC"
    return 1
  }
  need prometheus && need prometheus-node-exporter && need curl && need tmux || return 1
  local tag a1 a2
  tag=$(basename "$tmp" | tr 'A-Z' 'a-z')
  a1="$tag-a"
  a2="$tag-b"
  mkdir -p "$tmp/home/fleet" "$tmp/textfile" "$tmp/tsdb"
  chmod 700 "$tmp/home" "$tmp/home/fleet"
  cat >"$tmp/home/fleet/roster.lua" <<EOF
return { tenant = "acme", socket = "$tag", agents = {
  { name = "$a1", runtime = "stub" },
  { name = "$a2", runtime = "claude", tenant = "beta", heartbeat_interval = 30 },
} }
EOF
  chmod 600 "$tmp/home/fleet/roster.lua"
  socket=$tag
  tmux -L "$tag" -f /dev/null new-session -d -s "$a1" -x 120 -y 30 -- \
    env "MOSAIC_HOME=$tmp/home" "MOSAIC_LUA_PATH=$MOSAIC_LUA_PATH" "$MOSAIC" agent stub "$a1" || return 1
  socket_path=$(tmux -L "$tag" display-message -p '#{socket_path}')
  local state=""
  for _ in $(seq 1 50); do
    state=$(MOSAIC_HOME=$tmp/home "$MOSAIC" fleet ps --json |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["agents"][0]["activity"]["state"])')
    [ "$state" = idle ] && break
    sleep 0.2
  done
  [ "$state" = idle ] || {
    echo "the stub never reached its prompt (activity $state)"
    return 1
  }
  MOSAIC_HOME=$tmp/home "$MOSAIC" fleet export --format prometheus --output "$tmp/textfile/mosaic.prom" || return 1
  listen prometheus-node-exporter --collector.disable-defaults --collector.textfile \
    "--collector.textfile.directory=$tmp/textfile" "--web.listen-address=127.0.0.1:@PORT@" || return 1
  local ne=$port
  cat >"$tmp/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ["$root/$rules"]
scrape_configs:
  - job_name: node
    static_configs: [{ targets: ["127.0.0.1:$ne"] }]
EOF
  promtool check config "$tmp/prometheus.yml" || return 1
  listen prometheus "--config.file=$tmp/prometheus.yml" "--storage.tsdb.path=$tmp/tsdb" \
    "--web.listen-address=127.0.0.1:@PORT@" --log.level=warn || return 1
  local api="http://127.0.0.1:$port/api/v1"
  local verdict=""
  for _ in $(seq 1 60); do
    curl -fsS "$api/alerts" >"$tmp/alerts.json" 2>/dev/null &&
      curl -fsS "$api/query" --data-urlencode 'query=mosaic_agent_activity_state == 1' >"$tmp/activity.json" &&
      verdict=$(python3 - "$tmp/alerts.json" "$tmp/activity.json" "$a1" "$a2" <<'EOF'
import json, sys
alerts = json.load(open(sys.argv[1]))["data"]["alerts"]
activity = json.load(open(sys.argv[2]))["data"]["result"]
a1, a2 = sys.argv[3], sys.argv[4]
down = {(a["labels"]["agent"], a["labels"]["tenant_id"], a["labels"]["state"], a["state"])
        for a in alerts if a["labels"]["alertname"] == "MosaicAgentDown"}
hosts = [a["labels"]["alertname"] for a in alerts if a["labels"]["alertname"] in ("MosaicHostDown", "MosaicHostsAbsent")]
states = {(r["metric"]["agent"], r["metric"]["state"]) for r in activity}
want_down = {(a2, "beta", "absent", "pending")}
if down == want_down and not hosts and states == {(a1, "idle"), (a2, "unknown")}:
    print("ok")
else:
    print(f"down={sorted(down)} hosts={hosts} activity={sorted(states)}")
EOF
      ) && [ "$verdict" = ok ] && break
    sleep 0.5
  done
  echo "last: $verdict"
  [ "$verdict" = ok ]
}

need promtool >/dev/null
check "promtool check rules $rules" promtool check rules "$rules"
check "promtool test rules examples/prometheus/mosaic.rules.test.yml" rule_tests
check "promtool check config examples/prometheus/prometheus.yml" promtool check config examples/prometheus/prometheus.yml
check "dashboard $dashboard: JSON, structure, queries parse" dashboard_structure
check "rules and dashboard use only exported metrics" metric_names
check "systemd-analyze verify mosaic-export.{service,timer}" units
check "fleet export: activity metrics" activity_metrics
check "live stub + absent agent: export -> node_exporter -> Prometheus -> rules" end_to_end

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
