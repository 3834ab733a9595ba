--- The fleet module: roster, ps, probe (SPEC 2.10).
local M = {}
return M
