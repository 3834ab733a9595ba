import Foundation
import XCTest

/// Issue 10: a first run that teaches (`fleet init`, the no-roster hint), help for the
/// built-ins, help() in the shell, completions loaded in the real bash, zsh and fish, and
/// man pages checked by mandoc and man.
final class OperatorExperienceTests: BinaryTestCase {
  static let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  func writeRoster() throws {
    try write(
      "config/fleet/roster.lua",
      """
      return { agents = {
        { name = "coder-1", runtime = "claude" },
        { name = "coder-2", runtime = "stub" },
        { name = "reviewer", runtime = "codex", tenant = "beta" },
      } }
      """, mode: 0o600)
  }

  // MARK: First run

  func testEveryCommandThatNeedsARosterPointsAtFleetInit() throws {
    let roster = config + "/fleet/roster.lua"
    let hint = "mosaic: %@: roster: \(roster): no roster yet ('mosaic fleet init' writes one)\n"
    for (args, what, status) in [
      (["fleet", "ps"], "fleet ps", Int32(1)), (["fleet", "ps", "--json"], "fleet ps", 1),
      (["fleet", "export"], "fleet export", 1),
    ] {
      let r = try run(args)
      assertNoCrash(r, "\(args)")
      XCTAssertEqual(r.status, status, "\(args)")
      XCTAssertEqual(r.stderr, String(format: hint, what), "\(args)")
      XCTAssertEqual(r.stdout, "", "\(args)")
    }
    // The verbs on one agent take no roster as an empty one (sessions stay addressable,
    // as for send), and an unknown name says how to write a roster.
    let unknown =
      "mosaic: %@: x: no such agent: no roster yet at \(roster) ('mosaic fleet init' writes one)"
      + " and no session of that name on socket mosaic-factory\n"
    for (args, what, status) in [
      (["agent", "capture", "x"], "agent capture", Int32(1)),
      (["agent", "watch", "x", "--once"], "agent watch", 1),
      (["agent", "send", "x", "hi"], "agent send", 3),
    ] {
      let r = try run(args)
      assertNoCrash(r, "\(args)")
      XCTAssertEqual(r.status, status, "\(args)")
      XCTAssertEqual(r.stderr, String(format: unknown, what), "\(args)")
      XCTAssertEqual(r.stdout, "", "\(args)")
    }
    // The monitoring plugin says it in its one line, UNKNOWN.
    let check = try run(["fleet", "check"])
    XCTAssertEqual(check.status, 3)
    XCTAssertTrue(
      check.stdout.hasPrefix(
        "MOSAIC FLEET UNKNOWN - roster: \(roster): no roster yet ('mosaic fleet init' writes one)"),
      check.stdout)
    // Lua sees the same message, and a code for programs.
    let lua = try eval("print(fleet.ps())")
    XCTAssertTrue(
      lua.stdout.hasSuffix("no roster yet ('mosaic fleet init' writes one)\troster-invalid\n"),
      lua.stdout)
  }

  func testFleetInitWritesARosterAndUnitsAndNeverReplacesThem() throws {
    let r = try run([
      "fleet", "init", "--runtime", "claude", "--runtime", "claude", "--agent", "rev=codex",
    ])
    XCTAssertEqual(r.status, 0, r.stderr)
    let units = home + "/.config/systemd/user"
    let written = [
      config + "/fleet/roster.lua", config + "/fleet/tmux.conf", config + "/fleet/agents/rev.env",
      config + "/fleet/agents/claude-1.env", config + "/fleet/agents/claude-2.env",
      units + "/mosaic-tmux.service", units + "/mosaic-agent@.service",
    ]
    XCTAssertEqual(
      r.stdout.split(separator: "\n").filter { $0.hasPrefix("wrote ") }.map {
        String($0.dropFirst(6))
      },
      written)
    XCTAssertTrue(
      r.stdout.contains(
        "systemctl --user enable --now mosaic-tmux.service mosaic-agent@rev.service "
          + "mosaic-agent@claude-1.service mosaic-agent@claude-2.service"), r.stdout)
    // The roster is a valid roster with those agents, private (mosaic refuses a loose one).
    let roster = try eval(
      "for _, a in ipairs(assert(fleet.roster()).agents) do print(a.name, a.runtime, a.unit) end")
    XCTAssertEqual(
      roster.stdout,
      """
      rev\tcodex\tmosaic-agent@rev.service
      claude-1\tclaude\tmosaic-agent@claude-1.service
      claude-2\tclaude\tmosaic-agent@claude-2.service

      """, roster.stderr)
    let mode =
      try FileManager.default.attributesOfItem(atPath: written[0])[.posixPermissions] as? Int
    XCTAssertEqual(mode, 0o600)
    let template = try String(contentsOfFile: written[6], encoding: .utf8)
    for line in [
      "Type=oneshot", "RemainAfterExit=yes", "KillMode=process", "Requires=mosaic-tmux.service",
      "EnvironmentFile=\(config)/fleet/agents/%i.env",
    ] {
      XCTAssertTrue(template.contains("\n\(line)\n"), "template lacks \(line):\n\(template)")
    }
    let env = try String(contentsOfFile: written[3], encoding: .utf8)
    XCTAssertTrue(env.contains("\nAGENT_COMMAND=\(binary) heartbeat claude-1 -- claude\n"), env)

    // Again: refused, one line per existing file, nothing changed.
    try write("config/fleet/roster.lua", "return { agents = {} } -- mine\n", mode: 0o600)
    let again = try run([
      "fleet", "init", "--runtime", "claude", "--runtime", "claude", "--agent", "rev=codex",
    ])
    XCTAssertEqual(again.status, 1)
    XCTAssertEqual(
      again.stderr.split(separator: "\n").map(String.init),
      written.map { "mosaic: fleet init: \($0): exists, not replaced (--force replaces it)" }
        + ["mosaic: fleet init: nothing written"])
    XCTAssertEqual(
      try String(contentsOfFile: written[0], encoding: .utf8), "return { agents = {} } -- mine\n")
    // A new agent's file alone would be written, but not while others exist: nothing is.
    let partial = try run(["fleet", "init", "--runtime", "stub"])
    XCTAssertEqual(partial.status, 1)
    XCTAssertFalse(FileManager.default.fileExists(atPath: config + "/fleet/agents/stub-1.env"))
    // --force replaces.
    let forced = try run(["fleet", "init", "--force"])
    XCTAssertEqual(forced.status, 0, forced.stderr)
    XCTAssertTrue(
      try String(contentsOfFile: written[0], encoding: .utf8).contains(
        "{ name = \"stub-1\", runtime = \"stub\" }"))
  }

  func testFleetInitRefusesBadInputWithOneLine() throws {
    for (args, message) in [
      (["--runtime", "cluade"], "unknown runtime 'cluade' (did you mean 'claude'?)"),
      (["--agent", "x.y=claude"], "invalid agent name 'x.y'"),
      (["--agent", "coder"], "--agent wants NAME=RUNTIME, got 'coder'"),
      (["--agent", "a=stub", "--agent", "a=claude"], "duplicate agent name 'a'"),
      (["--dir", "/tmp/a b"], "--dir '/tmp/a b'"),
    ] {
      let r = try run(["fleet", "init"] + args)
      XCTAssertEqual(r.status, 64, "\(args)")
      XCTAssertTrue(r.stderr.hasPrefix("mosaic: fleet init: \(message)"), "\(args): \(r.stderr)")
      XCTAssertFalse(FileManager.default.fileExists(atPath: config + "/fleet"), "\(args)")
    }
  }

  // MARK: Help

  func testHelpForTheBuiltIns() throws {
    for (words, usage) in [
      (["help", "run"], "Usage: mosaic run [--timeout S] [--memory MB] FILE [ARGS...]\n"),
      (["run", "--help"], "Usage: mosaic run [--timeout S] [--memory MB] FILE [ARGS...]\n"),
      (["help", "shell"], "Usage: mosaic shell\n"), (["shell", "--help"], "Usage: mosaic shell\n"),
      (["help", "-e"], "Usage: mosaic -e CHUNK [-e CHUNK ...] [FILE [ARGS...]]\n"),
      (["-e", "--help"], "Usage: mosaic -e CHUNK [-e CHUNK ...] [FILE [ARGS...]]\n"),
      (["help", "fleet", "ps"], "Usage: mosaic fleet ps "),
    ] {
      let r = try run(words)
      XCTAssertEqual(r.status, 0, "\(words): \(r.stderr)")
      XCTAssertTrue(r.stdout.hasPrefix(usage), "\(words): \(r.stdout)")
      XCTAssertEqual(r.stderr, "", "\(words)")
    }
    XCTAssertEqual(try run(["help", "run"]).stdout, try run(["run", "--help"]).stdout)
    let top = try run(["help"])
    for command in ["fleet init", "fleet ps", "completion", "manpages"] {
      XCTAssertTrue(top.stdout.contains("\n  \(command) "), "help lacks \(command)")
    }
  }

  func testHelpInTheShellExplainsTheAPIFromTheDocs() throws {
    let doc = try String(contentsOfFile: Self.repoRoot + "/docs/lua-api.md", encoding: .utf8)
    let signatures = doc.split(separator: "\n").filter { $0.hasPrefix("### ") }.map {
      $0.dropFirst(4)
    }
    XCTAssertGreaterThan(signatures.count, 30)
    let index = try run(["shell"], stdin: Array("help()\n".utf8))
    XCTAssertEqual(index.status, 0, index.stderr)
    for s in signatures {
      XCTAssertTrue(index.stdout.contains("\n  \(s) "), "help() lacks \(s)")
    }
    let one = try run(
      ["shell"],
      stdin: Array("help(fleet.ps)\nhelp \"mosaic.lock\"\nhelp(nil == 1)\nhelp 'fleet.pss'\n".utf8))
    XCTAssertEqual(one.status, 0, one.stderr)
    XCTAssertTrue(
      one.stdout.hasPrefix("fleet.ps([opts])\n\nThe whole fleet joined (SPEC 2.4)"), one.stdout)
    XCTAssertTrue(
      one.stdout.contains("for _, a in ipairs(assert(fleet.ps()).agents) do"), one.stdout)
    XCTAssertTrue(one.stdout.contains("\nmosaic.lock(name [, opts])\n"), one.stdout)
    XCTAssertTrue(one.stdout.contains("help: no documentation for this boolean"), one.stdout)
    XCTAssertTrue(
      one.stdout.contains("help: nothing documented as 'fleet.pss' (did you mean 'fleet.ps'?)"),
      one.stdout)
  }

  // MARK: Completion

  /// Asks bash, with bash-completion loaded, for the completions of a command line.
  func bash(_ words: [String]) throws -> [String] {
    let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let script = """
      source /usr/share/bash-completion/bash_completion
      source <(mosaic completion bash)
      COMP_WORDS=(\(quoted.joined(separator: " ")))
      COMP_CWORD=\(words.count - 1)
      COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
      _mosaic
      printf '%s\\n' "${COMPREPLY[@]}"
      """
    let r = try run(["--norc", "--noprofile", "-c", script], executable: "/bin/bash")
    XCTAssertEqual(r.status, 0, r.stderr)
    return r.stdout.split(separator: "\n").map(String.init)
  }

  func testBashCompletesCommandsOptionsChoicesAndAgents() throws {
    try writeRoster()
    XCTAssertEqual(try bash(["mosaic", "fl"]), ["fleet"])
    XCTAssertEqual(try bash(["mosaic", "fleet", ""]), ["check", "export", "init", "ps"])
    XCTAssertEqual(try bash(["mosaic", "fleet", "ps", "--no-h"]), ["--no-headers"])
    XCTAssertEqual(
      try bash(["mosaic", "fleet", "ps", "-o", ""]), ["table", "wide", "json", "name"])
    XCTAssertEqual(try bash(["mosaic", "agent", "send", "co"]), ["coder-1", "coder-2"])
    XCTAssertEqual(try bash(["mosaic", "agent", "send", "coder-1", "co"]), [])
    XCTAssertEqual(try bash(["mosaic", "fleet", "ps", "--json", "rev"]), ["reviewer"])
    XCTAssertEqual(try bash(["mosaic", "fleet", "check", "--agent", "r"]), ["reviewer"])
    XCTAssertEqual(try bash(["mosaic", "completion", ""]), ["bash", "zsh", "fish"])
    XCTAssertEqual(try bash(["mosaic", "help", "ag"]), ["agent"])
    // A file argument completes file names.
    try write("scripts/report.lua", "print(1)\n")
    let files = try bash(["mosaic", "run", dir + "/scripts/rep"])
    XCTAssertEqual(files, [dir + "/scripts/report.lua"])
    // A command dropped in <config>/commands completes too, with its own options.
    try write(
      "config/commands/team/report.lua",
      """
      --- The team's report
      local cli = require "mosaic.cli"
      local parser = cli.parser("mosaic team report", "Report.")
      parser:option("--since", "Since when."):choices { "1h", "1d" }
      parser:argument("agent", "An agent.")
      local opts = cli.parse(parser, { ... })
      print(opts.since)
      """, mode: 0o600)
    XCTAssertEqual(try bash(["mosaic", "team", ""]), ["report"])
    XCTAssertEqual(try bash(["mosaic", "team", "report", "--since", ""]), ["1h", "1d"])
    XCTAssertEqual(try bash(["mosaic", "team", "report", "rev"]), ["reviewer"])
  }

  func testFishCompletes() throws {
    try writeRoster()
    func fish(_ line: String) throws -> [String] {
      let r = try run(
        ["--no-config", "-c", "mosaic completion fish | source; complete -C'\(line)'"],
        executable: "/usr/bin/fish")
      XCTAssertEqual(r.status, 0, r.stderr)
      return r.stdout.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") }
    }
    XCTAssertEqual(try fish("mosaic fleet "), ["check", "export", "init", "ps"])
    XCTAssertEqual(try fish("mosaic agent send co"), ["coder-1", "coder-2"])
    XCTAssertEqual(try fish("mosaic fleet ps --no-h"), ["--no-headers"])
    XCTAssertEqual(try fish("mosaic fleet ps -o ").sorted(), ["json", "name", "table", "wide"])
    XCTAssertEqual(try fish("mosaic completion z"), ["zsh"])
    XCTAssertEqual(try fish("mosaic fleet ps --output=j"), ["--output=json"])
    XCTAssertEqual(try fish("mosaic fleet check --agent=rev"), ["--agent=reviewer"])
    // Descriptions come along (fish shows them beside each candidate).
    let r = try run(
      ["--no-config", "-c", "mosaic completion fish | source; complete -C'mosaic fleet p'"],
      executable: "/usr/bin/fish")
    XCTAssertEqual(r.stdout, "ps\tOne row per agent: systemd, tmux, process and heartbeat joined\n")
  }

  /// Types `line` and Tab into an interactive zsh (on a pseudo-terminal, compinit and the
  /// completion script loaded) and returns the command line after completion.
  func zsh(_ line: String) throws -> String {
    let zdot = try makeDirectory("zdot")
    defer { try? FileManager.default.removeItem(atPath: zdot) }
    let out = zdot + "/buffer"
    try """
    autoload -Uz compinit && compinit -u -d \(zdot)/.zcompdump
    source <(mosaic completion zsh)
    dump() { print -rn -- "$BUFFER" > \(out); }
    zle -N dump
    bindkey '^T' dump
    PS1='$ '
    """.write(toFile: zdot + "/.zshrc", atomically: true, encoding: .utf8)
    let driver = """
      import os, pty, sys, time, select
      line, out = sys.argv[1], sys.argv[2]
      pid, fd = pty.fork()
      if pid == 0:
          os.execvp("zsh", ["zsh", "-i"])
      def drain(t):
          end = time.time() + t
          while time.time() < end:
              r, _, _ = select.select([fd], [], [], 0.05)
              if r:
                  try:
                      os.read(fd, 65536)
                  except OSError:
                      return
      drain(1.5)
      os.write(fd, line.encode() + b"\\t")
      drain(1.5)
      os.write(fd, b"\\x14")
      end = time.time() + 10
      while time.time() < end and not os.path.exists(out):
          drain(0.1)
      os.write(fd, b"\\x03exit\\n")
      drain(0.3)
      os.kill(pid, 9)
      """
    let r = try run(
      ["-c", driver, line, out], env: ["ZDOTDIR": zdot, "TERM": "xterm"],
      executable: "/usr/bin/python3",
      timeout: 30)
    XCTAssertEqual(r.status, 0, r.stderr)
    return (try? String(contentsOfFile: out, encoding: .utf8)) ?? "(zsh wrote no buffer)"
  }

  func testZshCompletesInARealInteractiveShell() throws {
    try writeRoster()
    XCTAssertEqual(try zsh("mosaic fleet p"), "mosaic fleet ps ")
    XCTAssertEqual(try zsh("mosaic agent send rev"), "mosaic agent send reviewer ")
    XCTAssertEqual(try zsh("mosaic fleet ps --no-h"), "mosaic fleet ps --no-headers ")
    XCTAssertEqual(try zsh("mosaic completion z"), "mosaic completion zsh ")
    XCTAssertEqual(try zsh("mosaic agent send co"), "mosaic agent send coder-")
  }

  // MARK: Man pages

  func testManPagesAreGeneratedAndLintClean() throws {
    let out = dir + "/man"
    let r = try run(["manpages", out], env: ["SOURCE_DATE_EPOCH": "1795000000"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let pages = r.stdout.split(separator: "\n").map(String.init)
    for expected in [
      "man1/mosaic.1", "man1/mosaic-fleet.1", "man1/mosaic-agent.1", "man1/mosaic-heartbeat.1",
      "man1/mosaic-completion.1", "man5/mosaic-roster.5", "man7/mosaic-heartbeat.7",
    ] {
      XCTAssertTrue(pages.contains(out + "/" + expected), "no \(expected) in \(pages)")
    }
    for page in pages {
      let lint = try run(["-T", "lint", "-W", "all", page], executable: "/usr/bin/mandoc")
      XCTAssertEqual(lint.status, 0, "\(page): \(lint.stdout)\(lint.stderr)")
      XCTAssertEqual(lint.stdout + lint.stderr, "", page)
      let man = try run(
        ["--warnings", "-l", page],
        env: ["MANWIDTH": "80", "MAN_DISABLE_SECCOMP": "1", "LC_ALL": "C.UTF-8"],
        executable: "/usr/bin/man")
      XCTAssertEqual(man.status, 0, "\(page): \(man.stderr)")
      XCTAssertEqual(man.stderr, "", page)
      XCTAssertGreaterThan(man.stdout.split(separator: "\n").count, 10, page)
    }
    // The pages say what the commands' own definitions say.
    let fleet = try run(
      ["-l", out + "/man1/mosaic-fleet.1"], env: ["MANWIDTH": "200"], executable: "/usr/bin/man")
    for option in [
      "--no-headers", "--probe-timeout", "--ignore", "--unit-dir", "-o, --output FMT",
    ] {
      XCTAssertTrue(fleet.stdout.contains(option), "mosaic-fleet(1) lacks \(option)")
    }
    let roster = try run(
      ["-l", out + "/man5/mosaic-roster.5"], env: ["MANWIDTH": "200"], executable: "/usr/bin/man")
    XCTAssertTrue(roster.stdout.contains("heartbeat_interval"), roster.stdout)
    let heartbeat = try run(
      ["-l", out + "/man7/mosaic-heartbeat.7"], env: ["MANWIDTH": "200"], executable: "/usr/bin/man"
    )
    XCTAssertTrue(
      heartbeat.stdout.contains("ts=2026-11-24T15:00:00.123Z pid=4242 status=ok"), heartbeat.stdout)
    XCTAssertTrue(heartbeat.stdout.contains("2026-11-18"), "SOURCE_DATE_EPOCH sets the date")
  }
}
