--- Type a message into an agent's input and press Enter; --verify checks it was accepted
local cli = require "mosaic.cli"

local parser = cli.parser("mosaic agent send",
  "Delivers a message to the agent's input, byte for byte, and presses Enter.\n" ..
  "TEXT words are joined by single spaces; --file F sends a file, - sends standard\n" ..
  "input (both exactly, a final newline included). Put -- before TEXT that starts with\n" ..
  "a dash. Names are roster agents, or unrostered tmux sessions on the socket.\n\n" ..
  "Refuses (nothing delivered) when there is no such agent or session, the pane is\n" ..
  "dead, in a mode (copy mode), has input disabled, its foreground process is stopped,\n" ..
  "or an operator holds it with 'agent attach' (unless --force). For a runtime mosaic\n" ..
  "knows (claude, codex, stub), it also refuses when the agent is waiting for a human\n" ..
  "(a permission, approval, trust or key dialog: Enter would answer it), starting, or\n" ..
  "not at its input prompt (unless --force); text the runtime would run as a command\n" ..
  "(a leading ! or /) unless --command; terminal control bytes (ESC, C0) unless --raw;\n" ..
  "and text over 1 MiB. Enter is pressed only once the text shows in the input.\n\n" ..
  "--verify classifies what became of the line: accepted (the agent acknowledged the\n" ..
  "message's [m:<nonce>], or its input line returned to the empty prompt with nothing\n" ..
  "left unread), draft (the text still sits in the input), wedged (bytes stay unread\n" ..
  "on the pane's terminal, or the process is stopped), unknown (no evidence), queued\n" ..
  "(the agent queued it for after its current turn). Basis 'record' means the agent's\n" ..
  "own transcript holds the message.",
  "Exit status: 0 delivered (accepted or queued with --verify), 1 draft or unknown, 2 wedged or\n" ..
  "verification timed out, 3 refused before sending (nothing delivered), 64 usage.\n\n" ..
  "Examples:\n" ..
  "  mosaic agent send coder-1 run the tests\n" ..
  "  mosaic agent send coder-1 --verify --nonce 'review PR 42'\n" ..
  "  git diff | mosaic agent send reviewer --verify --json -")
parser:argument("agent", "The agent (roster name, or an unrostered session's name).")
parser:argument("text", "The message; '-' alone reads standard input."):args("*"):argname("TEXT")
parser:option("--file", "Send the contents of file F."):argname("F")
parser:flag("--verify", "Wait for proof that the line was accepted, and classify it.")
parser:option("--timeout", "Seconds --verify may wait.", "5"):argname("S"):convert(cli.positive("--timeout"))
parser:flag("--nonce", "Append ' [m:<random>]' so an acknowledging agent can prove acceptance.")
parser:flag("--force", "Send even while leased by 'agent attach', waiting, starting or off its prompt.")
parser:flag("--command", "Allow a leading ! or / (the runtime runs it as a command).")
parser:flag("--raw", "Allow terminal control bytes (ESC, C0 controls other than tab and newline).")
parser:flag("--json", "Print one JSON object (schema mosaic.agent.send/v1).")
parser:option("--host", "The host the agent lives on (default: the roster's; needed for a remote unrostered session).")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })

local LIMIT = 1 << 20 -- bytes (SPEC 2.7); reading stops there
local text
local words = opts.text or {}
if opts.file then
  if #words > 0 then
    cli.usage_error(parser, "give either TEXT, --file F or -, not several")
  end
  local f, err = io.open(opts.file, "rb")
  if not f then
    cli.usage_error(parser, err)
  end
  text = f:read(LIMIT + 1) or ""
  f:close()
elseif #words == 1 and words[1] == "-" then
  text = io.stdin:read(LIMIT + 1) or ""
elseif #words > 1 and (words[1] == "-" or words[#words] == "-") then
  cli.usage_error(parser, "'-' (read standard input) must be the only TEXT")
else
  text = table.concat(words, " ")
end
if #text > LIMIT then
  io.stderr:write(("mosaic: agent send: %s: the text is over 1 MiB; nothing was sent\n"):format(opts.agent))
  return 3
end
if text == nil or text == "" then
  cli.usage_error(parser, "nothing to send: give TEXT, --file F or - (standard input)")
end

-- hosts (SPEC 2.12): an agent of another host gets the text there, on ssh's stdin (lua/mosaic/hosts.lua)
local hosts = require "mosaic.hosts"
local forwarded = hosts.flags(opts, { "verify", "timeout=", "nonce", "force", "command", "raw", "json" })
table.move({ "--", opts.agent, "-" }, 1, 3, #forwarded + 1, forwarded)
local routed = hosts.route("agent send", opts, { "agent", "send", table.unpack(forwarded) },
  { stdin = text, timeout = opts.timeout + 90, fail_status = 3, timeout_status = 2, lost_status = 1,
    send_json = opts.json })
if routed then
  return routed
end

local result, message, refused = agent.send(opts.agent, text, {
  verify = opts.verify,
  timeout = opts.timeout,
  force = opts.force,
  command = opts.command,
  raw = opts.raw,
  nonce = opts.nonce,
  roster = opts.roster,
  socket = opts.socket,
})
result = result or refused

if opts.json then
  print(mosaic.json.encode(result, true))
  io.stdout:flush()
end
if message then
  io.stderr:write("mosaic: agent send: ", message, "\n")
  return 3
end
if result.exit ~= 0 then
  io.stderr:write("mosaic: agent send: ", result.agent, ": ", result.detail, "\n")
elseif opts.verify and not opts.json then
  print(("%s: %s (%d ms)"):format(result.agent, result.detail, result.evidence.elapsed_ms))
end
return result.exit
