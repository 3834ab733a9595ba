--- Terminal rendering helpers shared by commands: aligned tables, colour, durations.
local host = require "mosaic._host"

local M = {}

local codes = { red = "31", green = "32", yellow = "33", blue = "34", dim = "2", bold = "1" }

--- color_enabled(flag_no_color) -> whether to colour stdout (a terminal, no NO_COLOR).
function M.color_enabled(no_color)
  if no_color then
    return false
  end
  local nc = os.getenv("NO_COLOR")
  if nc and nc ~= "" then
    return false
  end
  return host.isatty(1)
end

--- paint(text, color, enabled) -> text wrapped in an ANSI colour when enabled.
function M.paint(text, color, enabled)
  if not enabled or not codes[color] or text == "" then
    return text
  end
  return "\27[" .. codes[color] .. "m" .. text .. "\27[0m"
end

--- duration(seconds) -> "12s", "3m", "2h", "4d" (nil -> "unknown").
function M.duration(s)
  if s == nil then
    return "unknown"
  end
  s = math.max(0, s)
  if s < 120 then
    return ("%ds"):format(math.floor(s + 0.5))
  elseif s < 7200 then
    return ("%dm"):format(s // 60)
  elseif s < 172800 then
    return ("%dh"):format(s // 3600)
  end
  return ("%dd"):format(s // 86400)
end

local function width(s)
  -- Display width: count UTF-8 code points, ignore ANSI sequences.
  local plain = s:gsub("\27%[[%d;]*m", "")
  return utf8.len(plain) or #plain
end

--- table(headers, rows [, colors]) -> text of an aligned table. rows[i][j] are strings;
-- colors[i][j] (optional) names the colour of a cell. The last column is not padded.
--- epoch(iso) -> seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff]Z", or nil
-- (UTC only, as mosaic writes them; no local-time conversion).
function M.epoch(iso)
  if type(iso) ~= "string" then
    return nil
  end
  local y, mo, d, h, mi, sec = iso:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d%.?%d*)Z$")
  if not y then
    return nil
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (Howard Hinnant's algorithm)
  y = mo <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

function M.table(headers, rows, colors, color_on)
  local widths = {}
  for j, h in ipairs(headers) do
    widths[j] = width(h)
  end
  for _, row in ipairs(rows) do
    for j, cell in ipairs(row) do
      widths[j] = math.max(widths[j] or 0, width(cell))
    end
  end
  local out = {}
  local function line(cells, cell_colors)
    local parts = {}
    for j, cell in ipairs(cells) do
      local text = cell
      if j < #cells then
        text = text .. string.rep(" ", widths[j] - width(cell))
      end
      parts[j] = M.paint(text, cell_colors and cell_colors[j], color_on)
    end
    out[#out + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  line(headers, nil)
  for i, row in ipairs(rows) do
    line(row, colors and colors[i])
  end
  return table.concat(out, "\n") .. "\n"
end

return M
