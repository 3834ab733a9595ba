--- Shell completion: the engine and the bash, zsh and fish scripts that call it.
-- Like kubectl's, the scripts are thin: on Tab they run `mosaic completion --complete --
-- WORDS...` and the engine answers from the commands' own argparse definitions
-- (mosaic._commands), so completion knows every command, option and choice the commands
-- accept, including commands dropped into <config>/commands. Agent arguments complete
-- from the roster.
--
-- Answer: one candidate per line ("candidate<TAB>description"), or a single directive
-- line ":files" (let the shell complete file names) or ":commands" (program names).
local commands = require "mosaic._commands"

local M = {}

local function first_sentence(text)
  if not text then
    return ""
  end
  text = text:gsub("%s+", " ")
  return (text:match("^(.-%.)%s") or text):gsub("%.$", "")
end

local function starts(s, prefix)
  return s:sub(1, #prefix) == prefix
end

local function roster_agents()
  local ok, roster = pcall(fleet.roster)
  local names = {}
  if ok and type(roster) == "table" and type(roster.agents) == "table" then
    for _, a in ipairs(roster.agents) do
      names[#names + 1] = { a.name, (a.runtime or "") .. (a.tenant_id and (", tenant " .. a.tenant_id) or "") }
    end
  end
  return names
end

--- agent_names() -> the roster's agent names (none when there is no roster).
function M.agent_names()
  local names = {}
  for _, a in ipairs(roster_agents()) do
    names[#names + 1] = a[1]
  end
  return names
end

-- What a value is: "agent", "file", "command", {choices}, or "none".
local function kind_of_argument(arg)
  if arg._choices then
    return arg._choices
  end
  local name = (arg._name or ""):lower()
  if name == "agent" or name == "agents" or name == "name" or name == "names" then
    return "agent"
  elseif name == "file" or name == "script" or name == "path" then
    return "file"
  elseif name == "command" then
    return "command"
  end
  return "none"
end

local function kind_of_option(opt)
  if opt._choices then
    return opt._choices
  end
  local name = opt._name or ""
  local argname = type(opt._argname) == "string" and opt._argname or ""
  if name == "--agent" then
    return "agent"
  elseif name == "--roster" or name == "--file" or name == "--output" or argname == "FILE" or argname == "F"
    or argname == "DIR" then
    return "file"
  end
  return "none"
end

local function option_table(parser)
  local by_alias = {}
  for _, opt in ipairs(parser._options) do
    for _, alias in ipairs(opt._aliases) do
      by_alias[alias] = opt
    end
  end
  return by_alias
end

local function candidates(list, prefix)
  local out = {}
  for _, c in ipairs(list) do
    if starts(c[1], prefix) then
      out[#out + 1] = c
    end
  end
  return out
end

local function values(kind, prefix)
  if kind == "agent" then
    return candidates(roster_agents(), prefix)
  elseif kind == "file" then
    return ":files"
  elseif kind == "command" then
    return ":commands"
  elseif type(kind) == "table" then
    local list = {}
    for _, v in ipairs(kind) do
      list[#list + 1] = { v, "" }
    end
    return candidates(list, prefix)
  end
  return {}
end

-- Completes the words after a command whose parser is known.
local function complete_parser(parser, words, start)
  local cur = words[#words]
  local by_alias = option_table(parser)
  local npos, dashdash, i = 0, false, start
  while i < #words do
    local w = words[i]
    if dashdash then
      npos = npos + 1
    elseif w == "--" then
      dashdash = true
    elseif w:match("^%-") and w ~= "-" then
      local opt = not w:find("=", 1, true) and by_alias[w]
      if opt and opt._maxargs > 0 then
        local nxt = words[i + 1]
        if opt._minargs > 0 then
          i = i + 1
        elseif i + 1 < #words and nxt and not nxt:match("^%-") then
          i = i + 1 -- an optional value: argparse takes the next word when it is not an option
        end
      end
    else
      npos = npos + 1
    end
    i = i + 1
  end
  local prev = words[#words - 1]
  local popt = prev and not dashdash and #words - 1 >= start and by_alias[prev]
  if popt and popt._minargs > 0 then
    return values(kind_of_option(popt), cur)
  end
  -- `--option=VALUE` in one word (zsh and fish keep it whole): complete the value.
  local inline_name, inline_value = cur:match("^(%-%-[^=]+)=(.*)$")
  local inline_opt = not dashdash and inline_name and by_alias[inline_name]
  if inline_opt and inline_opt._maxargs > 0 then
    local v = values(kind_of_option(inline_opt), inline_value)
    if type(v) == "table" then
      for _, c in ipairs(v) do
        c[1] = inline_name .. "=" .. c[1]
      end
    end
    return v
  end
  if not dashdash and cur:match("^%-") then
    local list = {}
    for _, opt in ipairs(parser._options) do
      if not opt._hidden then
        for _, alias in ipairs(opt._aliases) do
          list[#list + 1] = { alias, first_sentence(opt._description) }
        end
      end
    end
    return candidates(list, cur)
  end
  -- The positional argument this word fills.
  local n = npos
  for _, arg in ipairs(parser._arguments) do
    local max = arg._maxargs
    if n < max then
      return values(kind_of_argument(arg), cur)
    end
    n = n - max
  end
  return {}
end

local function top_words(prefix)
  local list = {}
  for _, t in ipairs(commands.top()) do
    list[#list + 1] = { t.name, t.summary }
  end
  list[#list + 1] = { "--help", "Show the commands" }
  list[#list + 1] = { "--version", "Show the version" }
  return candidates(list, prefix)
end

local function group_words(group, prefix)
  local list = {}
  for _, c in ipairs(commands.members(group)) do
    list[#list + 1] = { c.name:match(" (.+)$"), c.summary }
  end
  return candidates(list, prefix)
end

local function is_group(word)
  return #commands.members(word) > 0
end

--- complete(words) -> a list of {candidate, description}, or ":files" / ":commands".
-- `words` are the command line after `mosaic`, the last one being the word under the
-- cursor (possibly empty).
function M.complete(words)
  if #words == 0 then
    words = { "" }
  end
  local cur = words[#words]
  if #words == 1 then
    return top_words(cur)
  end
  local first = words[1]
  local b = commands.builtin(first)
  if first == "run" then
    if cur:match("^%-") then
      return candidates({ { "--timeout", "Stop the script after S seconds" },
        { "--memory", "Cap the memory of the script's Lua code" }, { "--help", "Show the help" } }, cur)
    end
    return ":files"
  elseif first == "-e" then
    return #words % 2 == 1 and ":files" or {}
  elseif b then
    return cur:match("^%-") and candidates({ { "--help", "Show the help" } }, cur) or {}
  elseif first == "help" then
    if #words == 2 then
      return top_words(cur)
    elseif #words == 3 and is_group(words[2]) then
      return group_words(words[2], cur)
    end
    return {}
  end
  local key, start = first, 2
  if is_group(first) then
    if #words == 2 then
      return group_words(first, cur)
    end
    key, start = first .. " " .. words[2], 3
  end
  local parser = commands.parser(key)
  if not parser then
    return {}
  end
  return complete_parser(parser, words, start)
end

--- answer(words) -> the text `mosaic completion --complete` prints.
function M.answer(words)
  local result = M.complete(words)
  if type(result) == "string" then
    return result .. "\n"
  end
  local lines = {}
  for _, c in ipairs(result) do
    local desc = (c[2] or ""):gsub("[\t\n]", " ")
    lines[#lines + 1] = desc ~= "" and (c[1] .. "\t" .. desc) or c[1]
  end
  return #lines > 0 and (table.concat(lines, "\n") .. "\n") or ""
end

M.SCRIPTS = {}

M.SCRIPTS.bash = [=[
# bash completion for mosaic. Load it with
#   source <(mosaic completion bash)
# or install it: mosaic completion bash > ~/.local/share/bash-completion/completions/mosaic
# The candidates come from `mosaic completion --complete`, which reads the commands' own
# argument definitions and the roster (agent names).
_mosaic() {
    local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n'
    local -a out
    out=($("${COMP_WORDS[0]}" completion --complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)) || return 0
    case ${out[0]-} in
        :files)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur")) ;;
        :commands)
            COMPREPLY=($(compgen -c -- "$cur")) ;;
        *)
            COMPREPLY=($(compgen -W "${out[*]%%$'\t'*}" -- "$cur")) ;;
    esac
    return 0
}
complete -F _mosaic mosaic
]=]

M.SCRIPTS.zsh = [=[
#compdef mosaic
# zsh completion for mosaic. Load it with
#   source <(mosaic completion zsh)        (after compinit)
# or install it as _mosaic in a directory of $fpath:
#   mosaic completion zsh > "${fpath[1]}/_mosaic"
# The candidates come from `mosaic completion --complete`, which reads the commands' own
# argument definitions and the roster (agent names).
_mosaic() {
  local -a out cands
  local line
  out=("${(@f)$("${words[1]}" completion --complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  case "${out[1]}" in
    :files) _files ;;
    :commands) _command_names -e ;;
    *)
      for line in "${out[@]}"; do
        [[ -n "$line" ]] || continue
        if [[ "$line" == *$'\t'* ]]; then
          cands+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
        else
          cands+=("${line//:/\\:}")
        fi
      done
      (( ${#cands} )) && _describe -t values mosaic cands ;;
  esac
}
if [[ "${funcstack[1]}" == "_mosaic" ]]; then
  _mosaic "$@"
else
  compdef _mosaic mosaic
fi
]=]

M.SCRIPTS.fish = [=[
# fish completion for mosaic. Load it with
#   mosaic completion fish | source
# or install it: mosaic completion fish > ~/.config/fish/completions/mosaic.fish
# The candidates come from `mosaic completion --complete`, which reads the commands' own
# argument definitions and the roster (agent names).
function __mosaic_complete
    set -l before (commandline -opc)
    set -l cur (commandline -ct)
    set -l out ($before[1] completion --complete -- $before[2..-1] "$cur" 2>/dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path "$cur"
        case :commands
            __fish_complete_command
        case '*'
            printf '%s\n' $out
    end
end
complete -c mosaic -f -a '(__mosaic_complete)'
]=]

return M
