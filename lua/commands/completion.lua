--- Print the shell completion script for bash, zsh or fish
local cli = require "mosaic.cli"
local complete = require "mosaic._complete"

local args = { ... }
-- The scripts' callback: `mosaic completion --complete -- WORDS...` (words after `mosaic`,
-- the last one under the cursor). Not for people; never fails loudly.
if args[1] == "--complete" then
  local words = {}
  local from = args[2] == "--" and 3 or 2
  for i = from, #args do
    words[#words + 1] = args[i]
  end
  io.stdout:write(complete.answer(words))
  return 0
end

local parser = cli.parser("mosaic completion",
  "Prints the completion script for SHELL. It completes every command, option and choice\n" ..
  "from the commands' own definitions (your commands in <config>/commands too), and agent\n" ..
  "names from the roster. Load it in the current shell, or install it once:\n\n" ..
  "  bash  source <(mosaic completion bash)\n" ..
  "        mosaic completion bash > ~/.local/share/bash-completion/completions/mosaic\n" ..
  "  zsh   source <(mosaic completion zsh)       (after compinit)\n" ..
  "        mosaic completion zsh > \"${fpath[1]}/_mosaic\"\n" ..
  "  fish  mosaic completion fish | source\n" ..
  "        mosaic completion fish > ~/.config/fish/completions/mosaic.fish",
  "Exit status: 0 printed, 64 usage.")
parser:argument("shell", "The shell."):choices { "bash", "zsh", "fish" }
local opts = cli.parse(parser, args)
io.stdout:write(complete.SCRIPTS[opts.shell])
return 0
