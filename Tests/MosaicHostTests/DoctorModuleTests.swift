import XCTest

/// `lua/mosaic/doctor.lua`'s pure rules on text this machine cannot produce (older tmux
/// versions, `systemctl show` and TOML parsing), called in-process: the findings against a
/// real fleet are in IntegrationTests' DoctorTests.
final class DoctorModuleTests: LuaHostTestCase {
  func testRulesOnTextTheMachineCannotProduce() {
    lua(
      #"""
      local d = require "mosaic.doctor"
      local function ok(v) return d.version_ok(d.tmux_version(v)) end
      assert(ok("tmux 3.2") and ok("tmux 3.3a") and ok("tmux next-3.4") and ok("tmux 4.0"))
      assert(not ok("tmux 3.1c") and not ok("tmux 2.9a"))
      assert(d.tmux_version("tmux master") == nil)
      local s = d.tmux_new_session({"/usr/bin/tmux", "-L", "f", "new-session", "-ds", "a", "-e", "HOME=/h",
        "-c", "/p", "--", "claude", "-x"})
      assert(s.detached and s.socket == "f" and s.session == "a" and s.env.HOME == "/h" and s.dir == "/p")
      assert(#s.command == 2 and s.command[2] == "-x")
      assert(d.tmux_new_session({"tmux", "kill-session", "-t", "=a"}) == nil)
      assert(d.tmux_new_session({"/usr/bin/sleep", "new-session"}) == nil)
      local argvs = d.exec_argvs("{ path=/usr/bin/tmux ; argv[]=/usr/bin/tmux -L x new -d ; ignore_errors=no }")
      assert(#argvs == 1 and argvs[1][4] == "new" and argvs[1][5] == "-d")
      local units = d.parse_show("Id=a.service\nKillMode=mixed\n\nId=b.service\nKillMode=process\n")
      assert(#units == 2 and units[1].KillMode == "mixed" and units[2].Id == "b.service")
      assert(d.cgroup_of("1:name=systemd:/u/a.service\n0::/\n") == "/u/a.service")
      assert(d.cgroup_of("0::/u/b.service/x\n") == "/u/b.service/x")
      assert(d.inside("/u/a.service/sub", "/u/a.service") and not d.inside("/u/a.service2", "/u/a.service"))
      local t = d.toml_tables('[projects."/r"]\ntrust_level = "trusted"\n[projects]\n"/q" = { trust_level = "trusted" }\n')
      assert(t["projects\0/r"].trust_level == '"trusted"' and t["projects\0/q"].trust_level == '"trusted"')
      assert(#d.codex_problems('[projects."/r"]\ntrust_level = "trusted"\n', "/r/sub", nil, nil) == 0)
      assert(#d.codex_problems('[projects."/r"]\ntrust_level = "untrusted"\n', "/r", nil, nil) == 1)
      assert(#d.claude_problems('{"hasCompletedOnboarding": true, "projects": {"/": {"hasTrustDialogAccepted": true}}}',
        "/any/dir", nil) == 0)
      local env = d.env_words('A=1 "B=two words" C=')
      assert(env.A == "1" and env.B == "two words" and env.C == "")
      """#)
  }

  /// Where Claude Code and Codex keep their settings, records and hooks, by their own rules
  /// (the Swift side's `ClaudeRecord.configDirectory` and `CodexRollout.home` agree).
  func testRuntimeDirectoriesFollowTheRuntimesRules() {
    lua(
      #"""
      local h = require "mosaic.hooks"
      assert(h.claude_dir({ HOME = "/h" }) == "/h/.claude")
      assert(h.claude_dir({ HOME = "/h", CLAUDE_CONFIG_DIR = "/c" }) == "/c")
      assert(h.claude_dir({ HOME = "/h", CLAUDE_CONFIG_DIR = "" }) == "/h/.claude", "empty is unset")
      assert(h.claude_dir({ HOME = "/h", CLAUDE_CONFIG_DIR = "c" }) == nil, "relative, no cwd")
      assert(h.claude_dir({ HOME = "/h", CLAUDE_CONFIG_DIR = "c" }, "/w") == "/w/c")
      assert(h.claude_dir({ CLAUDE_CONFIG_DIR = "c" }, "/") == "/c")
      assert(h.claude_dir({ HOME = "h" }) == nil and h.claude_dir({}) == nil)
      assert(h.codex_home({ HOME = "/h" }) == "/h/.codex")
      assert(h.codex_home({ HOME = "/h", CODEX_HOME = "/x" }) == "/x")
      assert(h.codex_home({ HOME = "/h", CODEX_HOME = "" }) == "/h/.codex")
      """#)
  }
}
