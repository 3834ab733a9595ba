import Foundation
import MosaicSupport
import XCTest

/// `mosaic doctor` (SPEC 2.13) against real situations: each broken one is built for real (a
/// tmux server started inside an agent unit's cgroup under the real user manager, a
/// Type=forking unit, a Claude HOME without onboarding, key approval or trust, a Codex home
/// with an untrusted project and untrusted hooks, lingering off, a loose run dir), the
/// finding is checked, the remedy the finding names is applied, and the report comes back
/// clean.
final class DoctorTests: XCTestCase {
  var tag = ""
  var home = ""
  var work = ""
  var unitDir = ""
  var usedSystemd = false
  var mosaic = Mosaic(home: "/nonexistent")

  static let tmux: String = {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"]
    where FileManager.default.isExecutableFile(atPath: dir + "/tmux") {
      return dir + "/tmux"
    }
    return "/usr/bin/tmux"
  }()

  override func setUpWithError() throws {
    tag = Harness.uniqueName("doc")
    home = try Harness.makeTempDir("doc-home")
    work = try Harness.makeTempDir("doc-work")
    mosaic = Mosaic(home: home)
    let env = ProcessInfo.processInfo.environment
    let userHome = env["HOME"] ?? NSHomeDirectory()
    unitDir = (env["XDG_CONFIG_HOME"] ?? userHome + "/.config") + "/systemd/user"
  }

  override func tearDown() {
    if usedSystemd {
      _ = try? SpawnRunner().run(
        CommandRequest(["systemctl", "--user", "stop", "--", "\(tag)-*"], timeout: 30))
      let fm = FileManager.default
      for entry in (try? fm.contentsOfDirectory(atPath: unitDir)) ?? [] where entry.hasPrefix(tag) {
        try? fm.removeItem(atPath: unitDir + "/" + entry)
      }
      _ = try? SpawnRunner().run(CommandRequest(["systemctl", "--user", "daemon-reload"]))
      _ = try? SpawnRunner().run(
        CommandRequest(["systemctl", "--user", "reset-failed", "--", "\(tag)-*"]))
    }
    _ = try? SpawnRunner().run(CommandRequest([Self.tmux, "-L", tag, "kill-server"]))
    let tmpdir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
    try? FileManager.default.removeItem(atPath: "\(tmpdir)/tmux-\(getuid())/\(tag)")
    try? FileManager.default.removeItem(atPath: home)
    try? FileManager.default.removeItem(atPath: work)
    super.tearDown()
  }

  // MARK: helpers

  struct Report {
    var status: Int32
    var json: JSONValue
    var stdout: String
    var findings: [JSONValue] { json["findings"]?.arrayValue ?? [] }
    var codes: [String] { findings.compactMap { $0["code"]?.stringValue } }
    func finding(_ code: String, agent: String? = nil) -> JSONValue? {
      findings.first {
        $0["code"]?.stringValue == code && (agent == nil || $0["agent"]?.stringValue == agent)
      }
    }
  }

  func doctor(_ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws
    -> Report
  {
    let r = try mosaic.run(["doctor", "--json"] + extra)
    XCTAssertTrue(
      r.stderrText.isEmpty, "doctor wrote to stderr: \(r.stderrText)", file: file, line: line)
    let json = try JSONCodec.decode(r.stdout)
    XCTAssertEqual(json["schema"]?.stringValue, "mosaic.doctor/v1", file: file, line: line)
    XCTAssertEqual(json["exit"]?.intValue, Int64(r.status), file: file, line: line)
    for f in json["findings"]?.arrayValue ?? [] {
      for key in ["code", "severity", "message", "remedy"] {
        XCTAssertFalse(
          (f[key]?.stringValue ?? "").isEmpty, "finding without \(key): \(f)", file: file,
          line: line)
      }
      XCTAssertTrue(
        ["warning", "error"].contains(f["severity"]?.stringValue ?? ""), "\(f)", file: file,
        line: line)
    }
    return Report(status: r.status, json: json, stdout: r.stdoutText)
  }

  func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
  }

  func systemctl(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    try sh(["systemctl", "--user"] + args, file: file, line: line)
  }

  /// Runs the lines of a remedy that start with one of `prefixes` (the exact commands the
  /// finding tells the operator to type), through bash as an operator would.
  func apply(
    _ remedy: String?, _ prefixes: [String], file: StaticString = #filePath, line: UInt = #line
  )
    throws
  {
    let remedy = try XCTUnwrap(remedy, "no remedy", file: file, line: line)
    let commands = remedy.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { l in prefixes.contains { l.hasPrefix($0) } }
    XCTAssertFalse(
      commands.isEmpty, "no command starting with \(prefixes) in: \(remedy)", file: file, line: line
    )
    for c in commands {
      try sh(["bash", "-c", c], file: file, line: line)
    }
  }

  /// A roster (mode 0600) at the default path of this test's MOSAIC_HOME.
  func roster(_ agents: [(name: String, runtime: String)]) throws {
    var text = "return {\n  socket = \"\(tag)\",\n  heartbeat_interval = 1,\n  agents = {\n"
    for a in agents {
      text +=
        "    { name = \"\(a.name)\", runtime = \"\(a.runtime)\", unit = \"\(unit(a.name))\" },\n"
    }
    text += "  },\n}\n"
    try write(home + "/fleet/roster.lua", text, mode: 0o600)
  }

  func unit(_ agent: String) -> String { "\(tag)-agent@\(agent).service" }

  /// A unit of its own for the tmux server (the shape docs/guide.md recommends).
  func serverUnit() throws {
    try write(work + "/tmux.conf", "set -g exit-empty off\n")
    try write(
      unitDir + "/\(tag)-tmux.service",
      """
      [Service]
      Type=forking
      ExecStart=\(Self.tmux) -L \(tag) -f \(work)/tmux.conf start-server
      ExecStop=\(Self.tmux) -L \(tag) kill-server

      """)
  }

  /// The agent template: `service` holds the [Service] lines besides ExecStart/ExecStop.
  func agentTemplate(
    service: [String], newSession: [String], command: String, server: Bool, execStop: Bool = true
  ) throws {
    var lines = ["[Unit]"]
    if server {
      lines += ["Requires=\(tag)-tmux.service", "After=\(tag)-tmux.service"]
    }
    lines.append("[Service]")
    lines += service
    lines.append(
      "ExecStart=\(Self.tmux) -L \(tag) new-session -d -s %i -x 120 -y 40 "
        + (newSession + ["-e", "MOSAIC_HOME=\(home)", "--", command]).joined(separator: " "))
    if execStop {
      lines.append("ExecStop=\(Self.tmux) -L \(tag) kill-session -t =%i")
    }
    try write(unitDir + "/\(tag)-agent@.service", lines.joined(separator: "\n") + "\n")
  }

  func startManager() throws {
    _ = try Harness.userManager()
    usedSystemd = true
  }

  func hasSession(_ session: String) throws -> Bool {
    try SpawnRunner().run(
      CommandRequest([Self.tmux, "-L", tag, "has-session", "-t", "=" + session])
    )
    .status == 0
  }

  /// Polls `fleet ps` until every agent's heartbeat is healthy (10 s at most).
  func waitHealthy(_ agents: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    let deadline = Date().addingTimeInterval(10)
    var last = ""
    while Date() < deadline {
      let r = try mosaic.run(["fleet", "ps", "--json"])
      let rows = (try? JSONCodec.decode(r.stdout))?["agents"]?.arrayValue ?? []
      let healthy = rows.filter { $0["heartbeat"]?["health"]?.stringValue == "healthy" }
        .compactMap { $0["name"]?.stringValue }
      if agents.allSatisfy(healthy.contains) { return }
      last = r.stdoutText
      Thread.sleep(forTimeInterval: 0.2)
    }
    XCTFail("agents \(agents) not healthy within 10 s: \(last)", file: file, line: line)
  }

  var stub: String { "\(Harness.mosaicBinary) agent stub %i --interval 1" }

  // MARK: the tmux server in an agent unit's cgroup

  func testTmuxServerStartedInsideAnAgentUnitIsFoundAndKillModeProcessFixesIt() throws {
    try startManager()
    // No server unit: the first agent unit's `tmux new-session` forks the server into its cgroup.
    try agentTemplate(
      service: ["Type=oneshot", "RemainAfterExit=yes"], newSession: [], command: stub, server: false
    )
    try roster([("a1", "stub"), ("a2", "stub")])
    try systemctl(["daemon-reload"])
    try systemctl(["start", unit("a1")])
    try systemctl(["start", unit("a2")])
    try waitHealthy(["a1", "a2"])

    let broken = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(broken.status, 2, broken.stdout)
    let f = try XCTUnwrap(broken.finding("tmux-server-in-agent-unit"), broken.stdout)
    XCTAssertEqual(f["severity"]?.stringValue, "error")
    XCTAssertEqual(f["agent"]?.stringValue, "a1")
    let message = f["message"]?.stringValue ?? ""
    XCTAssertTrue(message.contains("KillMode=control-group"), message)
    XCTAssertTrue(message.contains(unit("a1")), message)
    let remedy = f["remedy"]?.stringValue ?? ""
    XCTAssertTrue(remedy.contains("KillMode=process"), remedy)
    XCTAssertEqual(broken.codes, ["tmux-server-in-agent-unit"], broken.stdout)

    // What the finding warns about, for real: restarting a1 takes a2 down with the server.
    try systemctl(["restart", unit("a1")])
    XCTAssertFalse(try hasSession("a2"), "a2 survived the restart of a1: the trap is not real")

    // The remedy, typed as given (a drop-in for the template, daemon-reload).
    try apply(remedy, ["mkdir -p", "systemctl --user daemon-reload"])
    try systemctl(["restart", unit("a2")])
    try waitHealthy(["a1", "a2"])
    let fixed = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(fixed.status, 0, fixed.stdout)
    XCTAssertEqual(fixed.codes, [], fixed.stdout)
    // And the restart that killed every agent now touches only a1.
    try systemctl(["restart", unit("a1")])
    XCTAssertTrue(try hasSession("a2"), "a2 died with a1's restart after the remedy")
  }

  // MARK: a unit type that deactivates at once

  func testForkingUnitRunningTmuxDetachedIsFoundAndOneshotFixesIt() throws {
    try startManager()
    try serverUnit()
    // No ExecStop= (with one, systemd runs it as the unit deactivates and the agent dies at once).
    try agentTemplate(
      service: ["Type=forking", "KillMode=process"], newSession: [], command: stub, server: true,
      execStop: false)
    try roster([("f1", "stub")])
    try systemctl(["daemon-reload"])
    try systemctl(["start", unit("f1")])
    try waitHealthy(["f1"])
    // systemd lets the unit go at once while its session lives on.
    var state = ""
    for _ in 0..<50 {
      state = try sh(["systemctl", "--user", "show", "-p", "ActiveState", "--value", unit("f1")])
      if state != "active" && state != "activating" { break }
      Thread.sleep(forTimeInterval: 0.1)
    }
    XCTAssertEqual(state, "inactive", "the Type=forking unit did not deactivate")
    XCTAssertTrue(try hasSession("f1"))

    let broken = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(broken.status, 2, broken.stdout)
    let type = try XCTUnwrap(broken.finding("unit-deactivates", agent: "f1"), broken.stdout)
    XCTAssertTrue((type["message"]?.stringValue ?? "").contains("Type=forking"))
    let remedy = type["remedy"]?.stringValue ?? ""
    XCTAssertTrue(remedy.contains("Type=oneshot") && remedy.contains("RemainAfterExit=yes"), remedy)
    let inactive = try XCTUnwrap(
      broken.finding("unit-inactive-pane-alive", agent: "f1"), broken.stdout)
    XCTAssertEqual(inactive["severity"]?.stringValue, "warning")
    XCTAssertEqual(
      Set(broken.codes), ["unit-deactivates", "unit-inactive-pane-alive"], broken.stdout)

    try apply(remedy, ["mkdir -p", "systemctl --user daemon-reload", "tmux -L"])
    try waitHealthy(["f1"])
    XCTAssertEqual(
      try sh(["systemctl", "--user", "show", "-p", "ActiveState", "--value", unit("f1")]), "active")
    let fixed = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(fixed.status, 0, fixed.stdout)
    XCTAssertEqual(fixed.codes, [], fixed.stdout)
  }

  func testForkingUnitThatStartedTheServerOwnsItAsMainProcessWhateverKillMode() throws {
    try startManager()
    // No server unit and Type=forking: the first agent's `tmux new-session -d` forks the server,
    // and systemd adopts it as that unit's main process (KillMode=process does not help).
    try agentTemplate(
      service: ["Type=forking", "KillMode=process"], newSession: [], command: stub, server: false,
      execStop: false)
    try roster([("m1", "stub"), ("m2", "stub")])
    try systemctl(["daemon-reload"])
    try systemctl(["start", unit("m1")])
    try systemctl(["start", unit("m2")])
    try waitHealthy(["m1", "m2"])

    let broken = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(broken.status, 2, broken.stdout)
    let f = try XCTUnwrap(broken.finding("tmux-server-in-agent-unit", agent: "m1"), broken.stdout)
    XCTAssertTrue((f["message"]?.stringValue ?? "").contains("main process"), "\(f)")
    XCTAssertNotNil(broken.finding("unit-deactivates", agent: "m1"), broken.stdout)
    XCTAssertNotNil(broken.finding("unit-deactivates", agent: "m2"), broken.stdout)
    XCTAssertNotNil(broken.finding("unit-inactive-pane-alive", agent: "m2"), broken.stdout)
    XCTAssertNil(broken.finding("unit-inactive-pane-alive", agent: "m1"), "m1 holds the server")

    // For real: restarting m1 takes m2 down with the server.
    try systemctl(["restart", unit("m1")])
    XCTAssertFalse(try hasSession("m2"), "m2 survived the restart of m1: the trap is not real")

    // The remedy (a drop-in: oneshot, RemainAfterExit, KillMode=process), then the fleet anew.
    try apply(f["remedy"]?.stringValue, ["mkdir -p", "systemctl --user daemon-reload"])
    try systemctl(["stop", unit("m1")])
    _ = try? SpawnRunner().run(CommandRequest([Self.tmux, "-L", tag, "kill-server"]))
    try systemctl(["start", unit("m1")])
    try systemctl(["start", unit("m2")])
    try waitHealthy(["m1", "m2"])
    let fixed = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(fixed.status, 0, fixed.stdout)
    XCTAssertEqual(fixed.codes, [], fixed.stdout)
    // (No ExecStop= in this template: end m1's session first, or its new-session fails.)
    try sh([Self.tmux, "-L", tag, "kill-session", "-t", "=m1"])
    try systemctl(["restart", unit("m1")])
    XCTAssertTrue(try hasSession("m1"))
    XCTAssertTrue(try hasSession("m2"), "m2 died with m1's restart after the remedy")
  }

  // MARK: heartbeat writers

  func testAgentWithoutOrWithAFrozenHeartbeatWriterIsFound() throws {
    try startManager()
    // A name of its own: the writer is found by its command line below.
    let a = "hb-" + tag.suffix(8)
    try serverUnit()
    try agentTemplate(
      service: ["Type=oneshot", "RemainAfterExit=yes", "KillMode=process"], newSession: [],
      command: "/bin/sleep 1000", server: true)
    try roster([(a, "stub")])
    try systemctl(["daemon-reload"])
    try systemctl(["start", unit(a)])
    let missing = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(missing.status, 1, missing.stdout)
    XCTAssertEqual(missing.codes, ["heartbeat-missing"], missing.stdout)
    let remedy = missing.finding("heartbeat-missing")?["remedy"]?.stringValue ?? ""
    XCTAssertTrue(remedy.contains("mosaic heartbeat \(a) -- "), remedy)

    // The remedy: the same program under `mosaic heartbeat`, here beside it in the pane's shell
    // (a grandchild of the pane, so a SIGSTOP below sticks: tmux resumes only its direct child).
    try systemctl(["stop", unit(a)])
    try agentTemplate(
      service: ["Type=oneshot", "RemainAfterExit=yes", "KillMode=process"], newSession: [],
      command:
        "/bin/sh -c \"\(Harness.mosaicBinary) heartbeat \(a) --interval 1 & exec /bin/sleep 1000\"",
      server: true)
    try systemctl(["daemon-reload"])
    try systemctl(["start", unit(a)])
    try waitHealthy([a])
    let fixed = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(fixed.status, 0, fixed.stdout)
    XCTAssertEqual(fixed.codes, [], fixed.stdout)

    // A writer that stops beating while the agent lives: stale after 3 intervals.
    let hb = try String(contentsOfFile: home + "/fleet/run/\(a).hb", encoding: .utf8)
    let pidText = try XCTUnwrap(hb.firstMatch(of: /pid=(\d+)/)?.1, hb)
    // The heartbeat's pid is the agent's; the writer is the mosaic process of the pane's group.
    let writers = try sh(["pgrep", "-f", "heartbeat \(a) --interval 1"])
      .split(separator: "\n").map(String.init)
    XCTAssertEqual(writers.count, 1, "writers: \(writers), agent pid \(pidText)")
    let writer = try XCTUnwrap(writers.first)
    try sh(["kill", "-STOP", writer])
    defer { _ = try? SpawnRunner().run(CommandRequest(["kill", "-CONT", writer])) }
    var stale: Report?
    for _ in 0..<40 {
      let r = try doctor(["--ignore", "linger-disabled"])
      if r.finding("heartbeat-stale") != nil {
        stale = r
        break
      }
      Thread.sleep(forTimeInterval: 0.25)
    }
    let r = try XCTUnwrap(stale, "no heartbeat-stale finding within 10 s of stopping the writer")
    XCTAssertEqual(r.status, 2, r.stdout)
    XCTAssertEqual(r.codes, ["heartbeat-stale"], r.stdout)
    try sh(["kill", "-CONT", writer])
    try waitHealthy([a])
    XCTAssertEqual(try doctor(["--ignore", "linger-disabled"]).codes, [])
  }

  // MARK: Claude's first-run state

  func testClaudeHomeWithoutOnboardingKeyApprovalOrTrustIsFoundThenFixed() throws {
    try startManager()
    try serverUnit()
    let bin = work + "/bin"
    let claudeHome = work + "/claude-home"
    let project = work + "/project"
    for dir in [bin, claudeHome, project] {
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    // A program named claude (the config-file checks need no real Claude).
    try FileManager.default.createSymbolicLink(
      atPath: bin + "/claude", withDestinationPath: "/bin/sleep")
    let key = "sk-ant-test-" + String(UInt64.random(in: 0..<UInt64.max), radix: 16) + "ABCDEFGHIJ"
    try agentTemplate(
      service: [
        "Type=oneshot", "RemainAfterExit=yes", "KillMode=process",
        "Environment=ANTHROPIC_API_KEY=\(key)",
      ],
      newSession: [
        "-c", project, "-e", "HOME=\(claudeHome)", "-e", "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY}",
      ],
      command: "\(Harness.mosaicBinary) heartbeat %i --interval 1 -- \(bin)/claude 1000",
      server: true)
    try roster([("c1", "claude")])
    try systemctl(["daemon-reload"])
    let claudeJSON = claudeHome + "/.claude.json"
    try write(
      claudeJSON, #"{"theme": "dark", "customApiKeyResponses": {"approved": [], "rejected": []}}"#)

    // Not running yet: HOME, the project and the key come from the unit itself.
    let before = try doctor(["--ignore", "linger-disabled"])
    for code in ["claude-onboarding", "claude-api-key", "claude-trust", "hooks-missing"] {
      XCTAssertNotNil(before.finding(code, agent: "c1"), "\(code) missing from: \(before.stdout)")
    }
    XCTAssertNotNil(before.finding("tmux-server-absent"), before.stdout)

    try systemctl(["start", unit("c1")])
    try waitHealthy(["c1"])
    let broken = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(broken.status, 2, broken.stdout)
    XCTAssertEqual(
      Set(broken.codes),
      ["claude-onboarding", "claude-api-key", "claude-trust", "hooks-missing", "focus-events-off"],
      broken.stdout)
    let keyFinding = try XCTUnwrap(broken.finding("claude-api-key"))
    XCTAssertTrue((keyFinding["remedy"]?.stringValue ?? "").contains(String(key.suffix(20))))
    XCTAssertFalse(
      (keyFinding["remedy"]?.stringValue ?? "").contains(key), "the whole API key is printed")
    let trust = try XCTUnwrap(broken.finding("claude-trust"))
    XCTAssertTrue((trust["remedy"]?.stringValue ?? "").contains(project), "\(trust)")

    // A rejected key is named as such.
    try write(
      claudeJSON,
      #"{"hasCompletedOnboarding": true, "customApiKeyResponses": {"approved": [], "rejected": [""#
        + String(key.suffix(20)) + #""]}}"#)
    let rejected = try doctor(["--ignore", "linger-disabled"])
    XCTAssertTrue(
      (rejected.finding("claude-api-key")?["message"]?.stringValue ?? "").contains("REJECTED"),
      rejected.stdout)
    XCTAssertNil(rejected.finding("claude-onboarding"), rejected.stdout)

    // The remedies: the fields the findings name, a hook that runs mosaic, focus-events on.
    try write(
      claudeJSON,
      """
      {"hasCompletedOnboarding": true, "theme": "dark",
       "customApiKeyResponses": {"approved": ["\(key.suffix(20))"], "rejected": []},
       "projects": {"\(project)": {"hasTrustDialogAccepted": true, "allowedTools": []}}}
      """)
    try write(
      claudeHome + "/.claude/settings.json",
      #"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "mosaic hooks event c1"}]}]}}"#
    )
    try apply(broken.finding("focus-events-off")?["remedy"]?.stringValue, ["tmux -L"])
    let fixed = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(fixed.status, 0, fixed.stdout)
    XCTAssertEqual(fixed.codes, [], fixed.stdout)
  }

  // MARK: Codex's first-run state

  func testCodexHomeWithUntrustedProjectAndHooksIsFoundThenFixed() throws {
    try startManager()
    try serverUnit()
    let bin = work + "/bin"
    let codexHome = work + "/codex-home"
    let project = work + "/repo"
    for dir in [bin, codexHome, project + "/.git"] {
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    try FileManager.default.createSymbolicLink(
      atPath: bin + "/codex", withDestinationPath: "/bin/sleep")
    try agentTemplate(
      service: ["Type=oneshot", "RemainAfterExit=yes", "KillMode=process"],
      newSession: ["-c", project, "-e", "CODEX_HOME=\(codexHome)"],
      command: "\(Harness.mosaicBinary) heartbeat %i --interval 1 -- \(bin)/codex 1000",
      server: true)
    try roster([("x1", "codex")])
    try systemctl(["daemon-reload"])
    let config = "model = \"gpt-5.2-codex\"\napproval_policy = \"on-request\"\n"
    try write(codexHome + "/config.toml", config)
    let hooksPath = codexHome + "/hooks.json"
    try write(
      hooksPath,
      #"{"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "mosaic hooks event x1"}]}],"#
        + #" "Stop": [{"hooks": [{"type": "command", "command": "mosaic hooks event x1"}]}]}}"#)
    try systemctl(["start", unit("x1")])
    try waitHealthy(["x1"])

    let broken = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(broken.status, 2, broken.stdout)
    XCTAssertEqual(Set(broken.codes), ["codex-trust", "codex-hooks-untrusted"], broken.stdout)
    let trust = try XCTUnwrap(broken.finding("codex-trust", agent: "x1"))
    XCTAssertEqual(trust["severity"]?.stringValue, "error", "a git project: Codex asks")
    let trustRemedy = trust["remedy"]?.stringValue ?? ""
    XCTAssertTrue(trustRemedy.contains("[projects.\"\(project)\"]"), trustRemedy)
    XCTAssertTrue(trustRemedy.contains("trust_level = \"trusted\""), trustRemedy)
    let hooks = try XCTUnwrap(broken.finding("codex-hooks-untrusted", agent: "x1"))
    XCTAssertTrue((hooks["message"]?.stringValue ?? "").contains("2 hooks"), "\(hooks)")

    // One hook trusted, one not: still found.
    let trustedStop =
      "\n[hooks.state.\"\(hooksPath):stop:0:0\"]\ntrusted_hash = \"sha256:8f023d873a2e3cdbff613beb92b13d68\"\n"
    try write(codexHome + "/config.toml", config + trustedStop)
    let half = try doctor(["--ignore", "linger-disabled"])
    XCTAssertTrue(
      (half.finding("codex-hooks-untrusted")?["message"]?.stringValue ?? "").contains("1 hook is"),
      half.stdout)

    // The remedies: the trust lines the finding gives, and the hook trust entries Codex 0.163
    // writes when "Trust all and continue" is chosen (key <hooks.json>:<event>:<group>:<handler>).
    let lines = trustRemedy.split(separator: "\n").dropFirst().map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    let trustedPrompt =
      "\n[hooks.state.\"\(hooksPath):user_prompt_submit:0:0\"]\ntrusted_hash = \"sha256:44cd9f58f552fffa2b\"\n"
    try write(
      codexHome + "/config.toml",
      config + lines.joined(separator: "\n") + "\n" + trustedStop + trustedPrompt)
    let fixed = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(fixed.status, 0, fixed.stdout)
    XCTAssertEqual(fixed.codes, [], fixed.stdout)

    // Outside a git repository Codex 0.163 does not ask (checked with the real program).
    try FileManager.default.removeItem(atPath: project + "/.git")
    try write(codexHome + "/config.toml", config + trustedStop + trustedPrompt)
    let noGit = try doctor(["--ignore", "linger-disabled"])
    XCTAssertEqual(noGit.codes, [], noGit.stdout)
  }

  // MARK: lingering

  func testLingeringOffIsFoundAndEnablingItClearsIt() throws {
    let lingerDir = "/var/lib/systemd/linger"
    guard getuid() == 0 else {
      // Not root: the current user's own state, whichever it is, must be reported truly.
      let user = String(cString: getpwuid(getuid()).pointee.pw_name)
      let on = FileManager.default.fileExists(atPath: "\(lingerDir)/\(user)")
      let r = try doctor(["--roster", work + "/none.lua"])
      XCTAssertEqual(r.finding("linger-disabled") == nil, on, r.stdout)
      return
    }
    // As root, a user of its own, so the machine's other users (and parallel tests) are untouched.
    let user = "mtdoc" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
    try sh(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user])
    defer { _ = try? SpawnRunner().run(CommandRequest(["userdel", user])) }
    let uid = try sh(["id", "-u", user])
    try sh(["chown", "-R", "\(uid)", home])
    let createdDir = !FileManager.default.fileExists(atPath: lingerDir)
    defer {
      try? FileManager.default.removeItem(atPath: "\(lingerDir)/\(user)")
      if createdDir { try? FileManager.default.removeItem(atPath: lingerDir) }
    }
    func asUser() throws -> Report {
      let r = try SpawnRunner().run(
        CommandRequest(
          [
            "setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "env", "HOME=\(home)",
            "MOSAIC_HOME=\(home)", "XDG_STATE_HOME=\(home)/state", Harness.mosaicBinary, "doctor",
            "--json",
          ], timeout: 60))
      let json = try JSONCodec.decode(r.stdout)
      return Report(status: r.status, json: json, stdout: r.stdoutText + r.stderrText)
    }
    let off = try asUser()
    let f = try XCTUnwrap(off.finding("linger-disabled"), off.stdout)
    XCTAssertEqual(f["severity"]?.stringValue, "warning")
    XCTAssertEqual(f["remedy"]?.stringValue, "loginctl enable-linger \(user)")
    XCTAssertTrue((f["message"]?.stringValue ?? "").contains(user))

    // `loginctl enable-linger` needs logind (PID 1 systemd); where it runs, use it, else make
    // the record it makes.
    if (try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8))?.hasPrefix("systemd") == true
    {
      try sh(["loginctl", "enable-linger", user])
    } else {
      try FileManager.default.createDirectory(atPath: lingerDir, withIntermediateDirectories: true)
      try write("\(lingerDir)/\(user)", "")
    }
    let on = try asUser()
    XCTAssertNil(on.finding("linger-disabled"), on.stdout)
    XCTAssertEqual(on.codes, ["roster-missing"], on.stdout)
  }

  // MARK: the run dir

  func testLooseRunDirIsFoundThenFixed() throws {
    let run = home + "/fleet/run"
    let clean = ["--ignore", "roster-missing", "--ignore", "linger-disabled"]
    XCTAssertEqual(try doctor(clean).codes, [], "a run dir not made yet is fine (mosaic makes it)")

    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: run)
    let loose = try doctor(clean)
    XCTAssertEqual(loose.status, 2, loose.stdout)
    let f = try XCTUnwrap(loose.finding("run-dir-unsafe"), loose.stdout)
    XCTAssertTrue((f["message"]?.stringValue ?? "").contains("writable"), "\(f)")
    XCTAssertEqual(f["remedy"]?.stringValue, "chmod 700 \(run)")
    try apply(f["remedy"]?.stringValue, ["chmod"])
    let fixed = try doctor(clean)
    XCTAssertEqual(fixed.status, 0, fixed.stdout)

    // A symlink is refused, whatever it points at.
    try FileManager.default.removeItem(atPath: run)
    try FileManager.default.createDirectory(
      atPath: work + "/elsewhere", withIntermediateDirectories: true)
    try FileManager.default.setAttributes(
      [.posixPermissions: 0o700], ofItemAtPath: work + "/elsewhere")
    try FileManager.default.createSymbolicLink(
      atPath: run, withDestinationPath: work + "/elsewhere")
    let link = try doctor(clean)
    let l = try XCTUnwrap(link.finding("run-dir-unsafe"), link.stdout)
    XCTAssertTrue((l["message"]?.stringValue ?? "").contains("symbolic link"), "\(l)")
    try apply(l["remedy"]?.stringValue, ["rm "])
    XCTAssertEqual(try doctor(clean).codes, [])
    var st = stat()
    XCTAssertEqual(lstat(run, &st), 0)
    XCTAssertEqual(Int(st.st_mode) & 0o170000, 0o040000, "not a directory")
    XCTAssertEqual(Int(st.st_mode) & 0o777, 0o700)
  }

  // MARK: a healthy fleet is clean

  func testDogfoodFleetIsClean() throws {
    let fleet = try DogfoodFleet.up()
    defer { fleet.down() }
    let r = try fleet.mosaic.run(["doctor", "--json", "--ignore", "linger-disabled"])
    XCTAssertEqual(r.status, 0, r.stdoutText + r.stderrText)
    let json = try JSONCodec.decode(r.stdout)
    XCTAssertEqual(json["findings"]?.arrayValue, [], r.stdoutText)
    XCTAssertEqual(
      json["summary"]?["ignored"]?.intValue, Int64(FleetCheckTests.lingerEnabled ? 0 : 1))
    // From cron (no XDG_RUNTIME_DIR): the user's /run/user/<uid>, as fleet ps does.
    if getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }) == "/run/user/\(getuid())" {
      var cron = fleet.mosaic
      cron.environment["XDG_RUNTIME_DIR"] = ""
      let c = try cron.run(["doctor", "--json", "--ignore", "linger-disabled"])
      XCTAssertEqual(c.status, 0, c.stdoutText + c.stderrText)
    }
    // Without --ignore: clean, or exactly the one warning this machine deserves.
    let text = try fleet.mosaic.run(["doctor"])
    if FleetCheckTests.lingerEnabled {
      XCTAssertEqual(text.status, 0, text.stdoutText)
      XCTAssertEqual(text.stdoutText, "mosaic doctor: no problems found\n")
    } else {
      XCTAssertEqual(text.status, 1, text.stdoutText)
      XCTAssertTrue(text.stdoutText.hasPrefix("WARNING linger-disabled: "), text.stdoutText)
      XCTAssertTrue(text.stdoutText.contains("  fix: loginctl enable-linger "), text.stdoutText)
      XCTAssertTrue(
        text.stdoutText.hasSuffix("mosaic doctor: 0 errors, 1 warning\n"), text.stdoutText)
    }
  }

  // MARK: bad input and the pure rules

  func testBadArgumentsAndBrokenRosters() throws {
    let bad = try mosaic.run(["doctor", "--ignore", "no-such-code"])
    XCTAssertEqual(bad.status, 64)
    XCTAssertEqual(
      bad.stderrText.split(separator: "\n").first.map(String.init),
      "mosaic: doctor: --ignore: unknown finding code 'no-such-code'")
    XCTAssertTrue(bad.stdoutText.isEmpty)

    let missing = try doctor(["--roster", work + "/absent.lua", "--ignore", "linger-disabled"])
    XCTAssertEqual(missing.status, 2)
    XCTAssertEqual(missing.codes, ["roster-missing"], missing.stdout)

    try write(
      work + "/broken.lua", "return { agents = { { name = \"a\", runtim = \"stub\" } } }\n",
      mode: 0o600)
    let broken = try doctor(["--roster", work + "/broken.lua", "--ignore", "linger-disabled"])
    XCTAssertEqual(broken.codes, ["roster-invalid"], broken.stdout)
    XCTAssertTrue(
      (broken.finding("roster-invalid")?["message"]?.stringValue ?? "").contains("runtime"),
      broken.stdout)
  }

  func testEveryCodeIsInTheGuideAndTheHelp() throws {
    let r = try mosaic.run([
      "-e",
      "local c = {} for k, v in pairs(require('mosaic.doctor').CODES) do c[#c + 1] = k .. ' ' .. v end "
        + "table.sort(c) print(table.concat(c, '\\n'))",
    ])
    XCTAssertEqual(r.status, 0, r.stderrText)
    let codes = r.stdoutText.split(separator: "\n").map {
      $0.split(separator: " ").map(String.init)
    }
    XCTAssertGreaterThan(codes.count, 20)
    let guide = try String(contentsOfFile: Harness.repoRoot + "/docs/guide.md", encoding: .utf8)
    let help = try mosaic.run(["doctor", "--help"])
    XCTAssertEqual(help.status, 0)
    for c in codes {
      XCTAssertTrue(guide.contains("| `\(c[0])` | \(c[1])"), "docs/guide.md has no row for \(c)")
      XCTAssertTrue(help.stdoutText.contains("\(c[0]) (\(c[1]))"), "--help does not list \(c)")
    }
  }
}
