--- Write the fleet's metrics for Prometheus (node_exporter textfile collector)
local cli = require "mosaic.cli"
local check = require "mosaic.check"
local prometheus = require "mosaic.prometheus"

local parser = cli.parser("mosaic fleet export",
  "Writes one metric family per fact about this host's roster agents (labels tenant_id, host,\n" ..
  "agent, runtime) in the Prometheus text format, for node_exporter's textfile collector:\n" ..
  "pane up and state, unit active/enabled, drift, boot-enable gap, heartbeat time and interval,\n" ..
  "lease, and the fleet-level warnings. Unknown values are left out, never exported as 0.\n" ..
  "Heartbeats are exported as timestamps, not ages, so alerts keep firing when the exporter\n" ..
  "itself stops:\n" ..
  "  time() - mosaic_agent_heartbeat_timestamp_seconds > 3 * mosaic_agent_heartbeat_interval_seconds\n" ..
  "  time() - mosaic_export_timestamp_seconds > 300",
  "--output replaces FILE atomically (a temporary file in the same directory, then a rename), so\n" ..
  "the collector never reads half a file. node_exporter reads only files whose name ends in .prom\n" ..
  "in its --collector.textfile.directory, e.g.\n" ..
  "  mosaic fleet export --output /var/lib/prometheus/node-exporter/mosaic.prom\n" ..
  "Run it from cron or a systemd timer every minute (see examples/cron-check).\n" ..
  "Exit status 0 when written; 1 when the fleet could not be read (FILE is left as it was).")
parser:option("--format", "Output format.", "prometheus"):choices { "prometheus" }
parser:option("--output", "Write to FILE (atomically) instead of stdout; name it *.prom."):argname("FILE")
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
parser:option("--timeout", "Give up after S seconds (FILE untouched).", "30"):argname("S")
  :convert(cli.positive("--timeout"))
local opts = cli.parse(parser, { ... })

local snapshot, err = check.snapshot({ roster = opts.roster, socket = opts.socket, tenant = opts.tenant }, opts.timeout)
if not snapshot then
  mosaic.die("fleet export: " .. err)
end
local text = prometheus.render(prometheus.fleet(snapshot, { tenant_filtered = opts.tenant ~= nil }))

if not opts.output then
  io.stdout:write(text)
  return 0
end
if not opts.output:match("%.prom$") then
  io.stderr:write(("mosaic: fleet export: warning: %s: node_exporter's textfile collector reads only *.prom files\n")
    :format(opts.output))
end
local ok, werr = mosaic.write_file(opts.output, text, tonumber("644", 8))
if not ok then
  mosaic.die("fleet export: " .. werr)
end
return 0
