-- luacheck configuration for mosaic's Lua runtime and examples.
std = "lua54"
max_line_length = 120
-- The API modules the host makes global in every state (SPEC 2.10).
globals = {}
exclude_files = {}
read_globals = {
  mosaic = { other_fields = true },
  fleet = { other_fields = true },
  agent = { other_fields = true },
  heartbeat = { other_fields = true },
}
files["lua/mosaic/_boot.lua"] = { globals = { "mosaic", "fleet", "agent", "heartbeat" } }
files["lua/mosaic/_dispatch.lua"] = { globals = { "arg" } }
