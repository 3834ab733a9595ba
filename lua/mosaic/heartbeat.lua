--- The heartbeat module: read, write, health rule (SPEC 2.3).
local M = {}
return M
