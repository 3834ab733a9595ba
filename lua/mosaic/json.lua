--- JSON that keeps arrays, objects and null distinct.
-- Decoded objects remember their key order and their null keys (in their metatable), so
-- decode then encode gives the same document. An empty plain table encodes as [];
-- json.object{} forces {}. json.null stands for null inside arrays.
local host = require "mosaic._host"

local M = {}

--- null: the sentinel for JSON null (a NULL light userdata, as in lua-cjson).
M.null = host.null

--- encode(value [, pretty]) -> string. Raises on functions, cycles, NaN, mixed keys.
M.encode = host.json_encode

--- decode(text) -> value | nil, message
M.decode = host.json_decode

--- array(t) -> t marked as a JSON array (so an empty one stays []).
function M.array(t)
  return setmetatable(t or {}, host.array_mt)
end

--- object(t) -> t marked as a JSON object (so an empty one encodes as {}).
function M.object(t)
  return setmetatable(t or {}, { __name = "json.object", __jsonkeys = {} })
end

return M
