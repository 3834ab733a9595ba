--- The agent module: send, capture, watch, attach (SPEC 2.10).
local M = {}
return M
