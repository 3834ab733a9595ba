-- luacheck configuration for mosaic's Lua runtime, examples and benchmarks.
std = "lua54"
max_line_length = 120

-- The API modules the host makes global in every state (SPEC 2.10), declared field by
-- field so a misspelt API name (fleet.pss) is a lint error. Keep in step with
-- docs/lua-api.md (DocsTests checks the docs against the modules themselves).
read_globals = {
  mosaic = {
    fields = {
      "version", "inspect", "exec", "exec_many", "sleep", "now", "monotonic", "executable", "hostname",
      "paths", "log", "write_file", "die", "lock", "within",
      json = { fields = { "null", "encode", "decode", "array", "object" } },
    },
  },
  fleet = { fields = { "roster", "ps", "ps_json", "find", "agent", "probe", "wait" } },
  agent = { fields = { "send", "resolve", "capture", "watch", "attach", "stub" } },
  heartbeat = { fields = { "read", "health", "write", "respond", "wrap", "interval" } },
}
files["lua/mosaic/_boot.lua"] = { globals = { "mosaic", "fleet", "agent", "heartbeat" } }
files["lua/mosaic/_dispatch.lua"] = { globals = { "arg" } }
