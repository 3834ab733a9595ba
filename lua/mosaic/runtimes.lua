--- What mosaic knows of each agent runtime's screen and records (SPEC 2.11), as data.
-- `fleet ps` reads `activity` and `agent send` decides whether an agent may be sent to from
-- these profiles. An operator adds or changes a runtime by putting a module of the same
-- name in <config>/lua/mosaic/runtimes.lua (which is found first), e.g.:
--
--   local runtimes = dofile(...)  -- or copy this file and edit it
--
-- Each profile:
--   record           "claude" (Claude Code's <config dir>/sessions/<pid>.json and transcript,
--                    <config dir> being $CLAUDE_CONFIG_DIR or else ~/.claude),
--                    "codex" (Codex's rollout log, for agent send's proof), "heartbeat" (the
--                    runtime writes status= into its heartbeat, as the stub does), or nil
--   prompt           Lua pattern for the cursor row of the input prompt (the agent reads a
--                    message there)
--   screen           rules tried in order against every visible row; the first that matches
--                    gives the state: {find = <pattern>, state = "working"|"waiting"|"idle"|
--                    "starting", waiting_for = <what a human must answer>}
--   queued           patterns of a row saying a message waits for the end of the turn
--   paste_markers    patterns of what the input shows for a large paste instead of its text
--   command_prefixes leading text the runtime runs as a command, refused by agent send
--                    unless --command
--   ready            patterns of which one must be on screen before a prompt counts as
--                    idle (else the agent is still starting)
local M = {}

M.claude = {
  record = "claude",
  -- "❯" then a no-break space at the left edge; the permission prompt's " ❯ 1. Yes" is not it
  prompt = "^❯\u{A0}",
  screen = {
    { find = "Do you want to proceed%?", state = "waiting", waiting_for = "permission prompt" },
    { find = "Do you want to make this edit", state = "waiting", waiting_for = "permission prompt" },
    -- the footer of every tool's permission dialog (Bash, Write's "Do you want to create …?", …)
    { find = "Esc to cancel · Tab to amend", state = "waiting", waiting_for = "permission prompt" },
    -- plan mode's end (ExitPlanMode); Claude's record says "permission prompt" too
    { find = "Exit plan mode%?", state = "waiting", waiting_for = "permission prompt" },
    { find = "Detected a custom API key", state = "waiting", waiting_for = "API key dialog" },
    { find = "trust this folder", state = "waiting", waiting_for = "folder trust dialog" },
    { find = "Do you trust the files in this folder", state = "waiting", waiting_for = "folder trust dialog" },
    -- a question Claude asks (AskUserQuestion), and its other pick-one menus; "input needed"
    -- is what Claude's own record says then
    { find = "Enter to select · ↑/↓ to navigate", state = "waiting", waiting_for = "input needed" },
    { find = "esc to interrupt", state = "working" },
    -- the spinner line, which stays when a draft in the input hides the footer's hint
    { find = "…%s%(%d+%a* · ", state = "working" },
  },
  queued = { "⎿%s+Queued · ", "Press up to edit queued messages" },
  paste_markers = { "%[Pasted text #%d+" },
  command_prefixes = { "!", "/" },
}

M.codex = {
  record = "codex", -- its rollout log (CODEX_HOME/sessions/...) proves a prompt was taken
  prompt = "^›",
  -- Codex draws its composer about 0.6 s after start but is ready (and past its trust and
  -- hooks-review dialogs, which pop up later) only once the footer names model and folder.
  ready = { "^  %S+ %S+ · [~/]" },
  screen = {
    { find = "Would you like to run the following command%?", state = "waiting", waiting_for = "approval prompt" },
    { find = "Would you like to make the following edits%?", state = "waiting", waiting_for = "approval prompt" },
    { find = "Press enter to confirm or esc to cancel", state = "waiting", waiting_for = "approval prompt" },
    { find = "Hooks need review", state = "waiting", waiting_for = "hooks review" },
    { find = "Trust this folder%?", state = "waiting", waiting_for = "folder trust dialog" },
    { find = "Do you trust the contents of this directory", state = "waiting", waiting_for = "folder trust dialog" },
    { find = "esc to interrupt", state = "working" },
  },
  queued = { "Queued follow%-up inputs", "Messages to be submitted after next tool call" },
  paste_markers = { "%[Pasted Content %d+ chars%]" },
  command_prefixes = { "!", "/" },
}

M.stub = {
  record = "heartbeat",
  prompt = "^stub>",
}

return M
