--- Man pages, generated from the commands' own argparse definitions (mosaic._commands)
-- and from docs/ (carried in the binary): mosaic(1), mosaic-<group>(1) for every command
-- group and top-level command, mosaic-roster(5) (the guide's roster section) and
-- mosaic-heartbeat(7) (docs/heartbeat.md). Output is man(7) roff that `mandoc -T lint`
-- passes without a message.
local host = require "mosaic._host"
local commands = require "mosaic._commands"

local M = {}

-- Roff-safe text: backslashes escaped, a leading dot or quote neutralised, no trailing
-- blanks, no blank lines (a blank line in fill mode is a lint warning).
local function esc(s)
  s = s:gsub("\\", "\\e"):gsub("%s+$", "")
  if s:match("^[.']") then
    s = "\\&" .. s
  end
  return s
end

-- Inline Markdown to roff fonts: `code` and **strong** bold, *em* italic, links to text.
local function inline(s)
  s = s:gsub("\\", "\\e")
  s = s:gsub("%[([^%]]+)%]%([^)]*%)", "%1")
  s = s:gsub("`([^`]+)`", "\\fB%1\\fR")
  s = s:gsub("%*%*([^*]+)%*%*", "\\fB%1\\fR")
  s = s:gsub("%f[%w*]%*([^*%s][^*]-)%*", "\\fI%1\\fR")
  s = s:gsub("%s+$", "")
  if s:match("^[.']") then
    s = "\\&" .. s
  end
  return s
end

local function header(name, section)
  local date = os.date("!%Y-%m-%d", tonumber(os.getenv("SOURCE_DATE_EPOCH") or "") or os.time())
  return {
    (".TH %s %d %s \"mosaic %s\" \"mosaic manual\""):format(name:upper(), section, date, mosaic.version),
  }
end

local function add_text(out, text)
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("%S") then
      out[#out + 1] = esc(line)
    end
  end
end

-- Plain help text (argparse descriptions): paragraphs, with indented lines kept as they are.
local function add_plain(out, text)
  local para_started = false
  local in_block = false
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if not line:match("%S") then
      if in_block then
        out[#out + 1] = ".fi"
        out[#out + 1] = ".RE"
        in_block = false
      end
      if para_started then
        out[#out + 1] = ".PP"
        para_started = false
      end
    elseif line:match("^  ") then
      if not in_block then
        out[#out + 1] = ".RS 2"
        out[#out + 1] = ".nf"
        in_block = true
      end
      out[#out + 1] = esc(line:gsub("^  ", ""))
      para_started = true
    else
      if in_block then
        out[#out + 1] = ".fi"
        out[#out + 1] = ".RE"
        in_block = false
      end
      out[#out + 1] = esc(line)
      para_started = true
    end
  end
  if in_block then
    out[#out + 1] = ".fi"
    out[#out + 1] = ".RE"
  end
  while out[#out] == ".PP" do
    out[#out] = nil
  end
end

-- The usage line argparse would print, without "Usage: ".
local function usage_of(parser)
  local u = parser:get_usage():gsub("^Usage:%s*", ""):gsub("%s+", " ")
  return u
end

local function option_label(opt)
  local label = table.concat(opt._aliases, ", ")
  if opt._maxargs > 0 then
    local argname = opt._argname
    if type(argname) == "table" then
      argname = table.concat(argname, " ")
    end
    argname = argname or ("<" .. opt._name:gsub("^%-+", "") .. ">")
    label = label .. " " .. (opt._minargs == 0 and ("[" .. argname .. "]") or argname)
  end
  return label
end

local function add_command(out, name, parser, summary)
  out[#out + 1] = ".SS " .. esc("mosaic " .. name)
  if not parser then
    add_text(out, summary ~= "" and summary or "(no description)")
    return
  end
  out[#out + 1] = ".B " .. esc(usage_of(parser))
  out[#out + 1] = ".PP"
  add_plain(out, parser._description or summary)
  local any = false
  for _, arg in ipairs(parser._arguments) do
    if not arg._hidden then
      if not any then
        out[#out + 1] = ".PP"
        out[#out + 1] = "Arguments and options:"
        any = true
      end
      out[#out + 1] = ".TP"
      out[#out + 1] = ".I " .. esc(arg._name)
      add_text(out, (arg._description or ""):gsub("\n", " "))
    end
  end
  for _, opt in ipairs(parser._options) do
    if not opt._hidden and opt._name ~= "-h" then
      if not any then
        out[#out + 1] = ".PP"
        out[#out + 1] = "Arguments and options:"
        any = true
      end
      out[#out + 1] = ".TP"
      out[#out + 1] = ".B " .. esc(option_label(opt))
      local d = (opt._description or ""):gsub("\n", " ")
      if opt._default ~= nil and opt._maxargs > 0 then
        d = d .. (" Default: %s."):format(tostring(opt._default))
      end
      add_text(out, d)
    end
  end
  if parser._epilog then
    out[#out + 1] = ".PP"
    add_plain(out, parser._epilog)
  end
end

local function see_also(out, pages)
  out[#out + 1] = ".SH SEE ALSO"
  local refs = {}
  for i, p in ipairs(pages) do
    refs[#refs + 1] = (".BR %s (%d)%s"):format(p[1], p[2], i < #pages and "," or "")
  end
  for _, r in ipairs(refs) do
    out[#out + 1] = r
  end
end

-- Every page's name and section, for SEE ALSO.
local function all_pages()
  local pages = { { "mosaic", 1 } }
  for _, t in ipairs(commands.top()) do
    if t.kind ~= "builtin" and t.name ~= "help" then
      pages[#pages + 1] = { "mosaic-" .. t.name, 1 }
    end
  end
  pages[#pages + 1] = { "mosaic-roster", 5 }
  pages[#pages + 1] = { "mosaic-heartbeat", 7 }
  table.sort(pages, function(a, b)
    if a[2] ~= b[2] then
      return a[2] < b[2]
    end
    return a[1] < b[1]
  end)
  return pages
end

local function others(pages, name, section)
  local result = {}
  for _, p in ipairs(pages) do
    if not (p[1] == name and p[2] == section) then
      result[#result + 1] = p
    end
  end
  return result
end

local FILES = {
  { "~/.config/mosaic (\\fB$MOSAIC_HOME\\fR, else \\fB$XDG_CONFIG_HOME\\fR/mosaic)",
    "The config directory <config>." },
  { "<config>/fleet/roster.lua",
    "The roster (\\fB\\-\\-roster\\fR, \\fB$MOSAIC_ROSTER\\fR); see \\fBmosaic-roster\\fR(5)." },
  { "<config>/fleet/run", "Heartbeats, probes, locks, leases (mode 0700); see \\fBmosaic-heartbeat\\fR(7)." },
  { "<config>/commands, <config>/lua", "Your commands and modules." },
  { "<config>/init.lua", "Runs first in \\fBmosaic shell\\fR." },
  { "~/.local/state/mosaic (\\fB$XDG_STATE_HOME\\fR/mosaic)",
    "Shell history and the audit log (audit.log, rotated at 1 MiB, 3 old files kept)." },
  { "~/.config/systemd/user/mosaic-agent@.service", "The agent unit template \\fBmosaic fleet init\\fR writes." },
}

local ENVIRONMENT = {
  { "MOSAIC_HOME", "The config directory." },
  { "MOSAIC_ROSTER", "The roster file." },
  { "MOSAIC_LUA_PATH",
    "Directories (\\(aq:\\(aq-separated) searched for modules and commands before the shipped ones." },
  { "XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR", "As usual; \\fBXDG_RUNTIME_DIR\\fR finds the user manager." },
  { "NO_COLOR", "No colour in tables." },
  { "MOSAIC_SYSTEMD_BUS",
    "\\fBoff\\fR: ask the user manager through \\fBsystemctl\\fR, not over D-Bus in-process." },
  { "MOSAIC_SYSTEMD_UNIT_FILES",
    "\\fBsystemctl\\fR, \\fBindex\\fR or \\fBauto\\fR: where boot (unit-file) states come from." },
  { "MOSAIC_TIMING", "Print where \\fBfleet ps\\fR spends its time on standard error." },
}

--- page_main() -> mosaic(1)
function M.page_main()
  local out = header("mosaic", 1)
  out[#out + 1] = ".SH NAME"
  out[#out + 1] = "mosaic \\- the truth about a fleet of AI coding agents, and safe hands on it"
  out[#out + 1] = ".SH SYNOPSIS"
  out[#out + 1] = ".B mosaic"
  out[#out + 1] = ".I group command"
  out[#out + 1] = ".RI [ args ]"
  out[#out + 1] = ".br"
  for _, b in ipairs(commands.BUILTINS) do
    out[#out + 1] = ".B " .. esc(b.usage)
    out[#out + 1] = ".br"
  end
  out[#out + 1] = ".B mosaic help"
  out[#out + 1] = ".RI [ command ]"
  out[#out + 1] = ".br"
  out[#out + 1] = ".B mosaic \\-\\-version"
  out[#out + 1] = ".SH DESCRIPTION"
  add_plain(out, "Each agent of the fleet runs in a tmux session on the isolated socket mosaic-factory,\n" ..
    "started by a systemd --user unit. mosaic joins what systemd, tmux, the process table and\n" ..
    "the agents' heartbeat files say into one view, and acts on agents safely. Every command is\n" ..
    "a Lua script (shipped in the binary, or your own in <config>/commands) over the same Lua\n" ..
    "API the shell and your scripts use.\n\n" ..
    "A first fleet: 'mosaic fleet init' writes a roster and the units; then\n" ..
    "  systemctl --user daemon-reload\n" ..
    "  systemctl --user enable --now mosaic-tmux.service mosaic-agent@stub-1.service\n" ..
    "  mosaic fleet ps")
  out[#out + 1] = ".SH COMMANDS"
  for _, t in ipairs(commands.top()) do
    if t.kind ~= "builtin" then
      out[#out + 1] = ".TP"
      out[#out + 1] = ".B " .. esc(t.name)
      add_text(out, t.summary .. (t.name ~= "help" and (" See \\fBmosaic-" .. t.name .. "\\fR(1).") or "."))
    end
  end
  for _, b in ipairs(commands.BUILTINS) do
    out[#out + 1] = ".SS " .. esc(b.usage)
    add_plain(out, b.description)
    for _, o in ipairs(b.options) do
      out[#out + 1] = ".TP"
      out[#out + 1] = ".B " .. esc(o[1])
      add_text(out, o[2])
    end
    if b.epilog then
      out[#out + 1] = ".PP"
      add_plain(out, b.epilog)
    end
  end
  out[#out + 1] = ".SH EXIT STATUS"
  add_plain(out, "0 success, 1 failure (one line 'mosaic: what: why' on stderr), 64 usage error, 130\n" ..
    "interrupted. 'agent send' and 'fleet check' have tables of their own (their pages).")
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, e in ipairs(ENVIRONMENT) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. e[1]
    out[#out + 1] = e[2]
  end
  out[#out + 1] = ".SH FILES"
  for _, f in ipairs(FILES) do
    out[#out + 1] = ".TP"
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
  end
  see_also(out, others(all_pages(), "mosaic", 1))
  return table.concat(out, "\n") .. "\n"
end

--- page_command(word) -> mosaic-<word>(1): a group's commands, or one top-level command.
function M.page_command(word)
  local out = header("mosaic-" .. word, 1)
  local members = commands.members(word)
  out[#out + 1] = ".SH NAME"
  local summary
  if #members > 0 then
    summary = commands.group_summary(word)
  else
    for _, c in ipairs(commands.list()) do
      if c.name == word then
        summary = c.summary
      end
    end
  end
  out[#out + 1] = ("mosaic\\-%s \\- %s"):format(word, esc(summary or ""))
  out[#out + 1] = ".SH SYNOPSIS"
  if #members > 0 then
    for i, c in ipairs(members) do
      local p = commands.parser(c.name)
      out[#out + 1] = ".B " .. esc(p and usage_of(p) or ("mosaic " .. c.name))
      if i < #members then
        out[#out + 1] = ".br"
      end
    end
  else
    local p = commands.parser(word)
    out[#out + 1] = ".B " .. esc(p and usage_of(p) or ("mosaic " .. word))
  end
  out[#out + 1] = ".SH DESCRIPTION"
  if #members > 0 then
    out[#out + 1] = ("The \\fBmosaic %s\\fR commands:"):format(word)
    for _, c in ipairs(members) do
      out[#out + 1] = ".TP"
      out[#out + 1] = ".B " .. esc(c.name:match(" (.+)$"))
      add_text(out, c.summary)
    end
    out[#out + 1] = ".SH COMMANDS"
    for _, c in ipairs(members) do
      add_command(out, c.name, commands.parser(c.name), c.summary)
    end
  else
    add_command(out, word, commands.parser(word), summary or "")
  end
  see_also(out, others(all_pages(), "mosaic-" .. word, 1))
  return table.concat(out, "\n") .. "\n"
end

--- markdown(text, level) -> roff lines for a Markdown document (the subset docs/ uses):
-- headings (## .SH, ### .SS), paragraphs, fenced code, lists, tables (as aligned text).
function M.markdown(text)
  local out = {}
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line
  end
  local i = 1
  local need_para = false -- a paragraph break is due before the next text
  local function para()
    if need_para then
      out[#out + 1] = ".PP"
    end
    need_para = false
  end
  while i <= #lines do
    local line = lines[i]
    if line:match("^# ") or line:match("^<a id") then
      i = i + 1
    elseif line:match("^## ") then
      out[#out + 1] = ".SH " .. esc(line:gsub("^## ", ""):gsub("`", ""):upper())
      need_para = false
      i = i + 1
    elseif line:match("^### ") then
      out[#out + 1] = ".SS " .. esc(line:gsub("^### ", ""):gsub("`", ""))
      need_para = false
      i = i + 1
    elseif line:match("^```") then
      para()
      out[#out + 1] = ".RS 2"
      out[#out + 1] = ".nf"
      i = i + 1
      while i <= #lines and not lines[i]:match("^```") do
        out[#out + 1] = lines[i]:match("%S") and esc(lines[i]) or "\\&"
        i = i + 1
      end
      out[#out + 1] = ".fi"
      out[#out + 1] = ".RE"
      need_para = true
      i = i + 1
    elseif line:match("^|") then
      -- A table: aligned columns in a no-fill block, markup removed.
      local rows = {}
      while i <= #lines and lines[i]:match("^|") do
        if not lines[i]:match("^|[%s:|-]+|%s*$") then
          local cells = {}
          for cell in lines[i]:gsub("^|", ""):gsub("|%s*$", ""):gmatch("([^|]*)") do
            cells[#cells + 1] = (cell:gsub("`", ""):gsub("%*%*", ""):gsub("%[([^%]]+)%]%([^)]*%)", "%1")
              :gsub("^%s+", ""):gsub("%s+$", ""))
          end
          rows[#rows + 1] = cells
        end
        i = i + 1
      end
      local widths = {}
      for _, r in ipairs(rows) do
        for c, cell in ipairs(r) do
          widths[c] = math.max(widths[c] or 0, utf8.len(cell) or #cell)
        end
      end
      para()
      out[#out + 1] = ".RS 2"
      out[#out + 1] = ".nf"
      for _, r in ipairs(rows) do
        local parts = {}
        for c, cell in ipairs(r) do
          parts[#parts + 1] = c < #r and (cell .. (" "):rep(widths[c] - (utf8.len(cell) or #cell))) or cell
        end
        out[#out + 1] = esc(table.concat(parts, "  "))
      end
      out[#out + 1] = ".fi"
      out[#out + 1] = ".RE"
      need_para = true
    elseif line:match("^%s*[-*] ") or line:match("^%s*%d+%. ") then
      local bullet = line:match("^%s*(%d+%.) ") or "\\(bu"
      local item = { (line:gsub("^%s*[-*] ", ""):gsub("^%s*%d+%. ", "")) }
      i = i + 1
      while i <= #lines and lines[i]:match("^%s+%S") and not lines[i]:match("^%s*[-*] ")
        and not lines[i]:match("^%s*%d+%. ") do
        item[#item + 1] = (lines[i]:gsub("^%s+", ""))
        i = i + 1
      end
      out[#out + 1] = ".IP " .. bullet .. " 4"
      for _, l in ipairs(item) do
        out[#out + 1] = inline(l)
      end
      need_para = true
    elseif not line:match("%S") then
      need_para = need_para or (#out > 0 and not out[#out]:match("^%.S[HS]"))
      i = i + 1
    else
      para()
      out[#out + 1] = inline(line)
      i = i + 1
    end
  end
  return out
end

local function section_of(md, heading)
  local start = md:find("\n## " .. heading .. "\n", 1, true)
  if not start then
    return nil
  end
  local body = md:sub(start + #heading + 5)
  local stop = body:find("\n## ", 1, true)
  return stop and body:sub(1, stop) or body
end

--- page_roster() -> mosaic-roster(5), from the guide's "The roster" section.
function M.page_roster()
  local out = header("mosaic-roster", 5)
  out[#out + 1] = ".SH NAME"
  out[#out + 1] = "mosaic-roster \\- the agents of a mosaic fleet (roster.lua)"
  out[#out + 1] = ".SH SYNOPSIS"
  out[#out + 1] = ".I <config>/fleet/roster.lua"
  out[#out + 1] = ".SH DESCRIPTION"
  local guide = host.shipped("docs/guide.md") or ""
  local body = section_of(guide, "The roster") or "See docs/guide.md."
  for _, l in ipairs(M.markdown(body)) do
    out[#out + 1] = l
  end
  see_also(out, { { "mosaic", 1 }, { "mosaic-fleet", 1 }, { "mosaic-heartbeat", 7 } })
  return table.concat(out, "\n") .. "\n"
end

--- page_heartbeat() -> mosaic-heartbeat(7), from docs/heartbeat.md.
function M.page_heartbeat()
  local out = header("mosaic-heartbeat", 7)
  out[#out + 1] = ".SH NAME"
  out[#out + 1] = "mosaic-heartbeat \\- the mosaic heartbeat protocol v1, for runtime authors"
  out[#out + 1] = ".SH DESCRIPTION"
  local doc = host.shipped("docs/heartbeat.md") or "See docs/heartbeat.md."
  for _, l in ipairs(M.markdown(doc)) do
    out[#out + 1] = l
  end
  see_also(out, { { "mosaic", 1 }, { "mosaic-heartbeat", 1 }, { "mosaic-roster", 5 } })
  return table.concat(out, "\n") .. "\n"
end

-- Lines of at most 80 bytes (mandoc's style rule): fill-mode text is wrapped at spaces;
-- a long no-fill line is split after a space with \c, which joins the pieces again.
local function fold(text)
  local out, nofill = {}, false
  for line in text:gmatch("([^\n]*)\n") do
    if line:match("^%.nf") then
      nofill = true
    elseif line:match("^%.fi") then
      nofill = false
    end
    if #line <= 80 or line:match("^%.") then
      out[#out + 1] = line
    elseif nofill then
      local rest = line
      while #rest > 78 do
        local cut = rest:sub(1, 77):match("^.*() ")
        if not cut or cut < 20 then
          break
        end
        out[#out + 1] = rest:sub(1, cut) .. "\\c"
        rest = rest:sub(cut + 1)
        if rest:match("^[.']") then
          rest = "\\&" .. rest
        end
      end
      out[#out + 1] = rest
    else
      local current = ""
      local function emit()
        if current ~= "" then
          out[#out + 1] = current:match("^[.']") and ("\\&" .. current) or current
        end
      end
      for word in line:gmatch("%S+") do
        if current ~= "" and #current + 1 + #word > 78 then
          emit()
          current = word
        else
          current = current == "" and word or (current .. " " .. word)
        end
      end
      emit()
    end
  end
  return table.concat(out, "\n") .. "\n"
end

--- pages() -> list of {file=, text=} for every page.
function M.pages()
  local result = { { file = "mosaic.1", text = M.page_main() } }
  for _, t in ipairs(commands.top()) do
    if t.kind ~= "builtin" and t.name ~= "help" then
      result[#result + 1] = { file = "mosaic-" .. t.name .. ".1", text = M.page_command(t.name) }
    end
  end
  result[#result + 1] = { file = "mosaic-roster.5", text = M.page_roster() }
  result[#result + 1] = { file = "mosaic-heartbeat.7", text = M.page_heartbeat() }
  for _, page in ipairs(result) do
    page.text = fold(page.text)
  end
  return result
end

return M
