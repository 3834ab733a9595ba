--- A `fleet ps` row read through the definitions FleetCore gives it
-- (Sources/FleetCore/Join/AgentRow.swift): its flags, the fleet-level warning codes, the
-- unit states that count as running or as starting at boot. `fleet check` (mosaic.check)
-- and `fleet export` (mosaic.prometheus) judge rows with these, so a rule is written once.
local host = require "mosaic._host"

local rules = host.fleet_rules()

local M = {}

local function set(list)
  local s = {}
  for _, v in ipairs(list) do
    s[v] = true
  end
  return s
end

--- Every flag a row can carry, in the order rows list them.
M.FLAGS = { table.unpack(rules.flags) }
--- Every fleet-level warning code of fleet ps, in a stable order.
M.WARNINGS = {}
--- The warning codes that mean a plane could not be read (its cells are unknown, not fine).
M.UNREADABLE = {}
for _, w in ipairs(rules.warnings) do
  M.WARNINGS[#M.WARNINGS + 1] = w.code
  if w.plane_unreadable then
    M.UNREADABLE[w.code] = true
  end
end
--- Unit-file states with which an active unit starts at boot.
M.BOOT_SAFE = set(rules.boot_safe_states)
--- Unit active states that count as running.
M.ACTIVE = set(rules.active_states)

--- has(row, flag) -> whether the row carries the flag.
function M.has(row, flag)
  for _, f in ipairs(row.flags or {}) do
    if f == flag then
      return true
    end
  end
  return false
end

-- Whether the unit's `field` is one of `states`; nil when unknown.
local function unit_in(row, field, states)
  local value = row.systemd and row.systemd[field]
  if value == nil then
    return nil
  end
  return states[value] == true
end

--- unit_active(row) -> true or false, nil when the unit's state is unknown.
function M.unit_active(row)
  return unit_in(row, "active", M.ACTIVE)
end

--- boot_safe(row) -> whether the unit's file state starts it at boot, nil when unknown.
function M.boot_safe(row)
  return unit_in(row, "enabled", M.BOOT_SAFE)
end

return M
