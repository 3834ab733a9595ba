import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// `mosaic agent send` (SPEC 2.7) end to end: the built `mosaic` binary against real
/// programs in a real tmux server on a socket of its own, with a roster and run directory
/// in a temporary MOSAIC_HOME. Each case asserts the verdict and the exit status, and the
/// refusals assert that the pane received nothing.
final class AgentSendTests: XCTestCase {
  var socket = ""
  var home = ""
  var runDir = ""
  var rosterPath = ""

  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path

  /// `$MOSAIC_BIN`, else the `mosaic` built next to this test bundle.
  static let mosaic: String = {
    if let bin = ProcessInfo.processInfo.environment["MOSAIC_BIN"], !bin.isEmpty { return bin }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // macOS-style bundles nest the executable; Linux runs the .xctest file itself.
    while dir.path.contains(".xctest") { dir.deleteLastPathComponent() }
    return dir.appendingPathComponent("mosaic").path
  }()

  override func setUpWithError() throws {
    try XCTSkipUnless(
      FileManager.default.isExecutableFile(atPath: Self.mosaic),
      "no mosaic binary at \(Self.mosaic); build it or set MOSAIC_BIN")
    let tag = "mt-\(UInt32.random(in: 0...UInt32.max))-\(getpid())"
    socket = tag
    home = NSTemporaryDirectory() + tag
    runDir = home + "/fleet/run"
    rosterPath = home + "/fleet/roster.lua"
    try FileManager.default.createDirectory(
      atPath: runDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try writeRoster(agents: [])
  }

  override func tearDown() {
    tmux(["kill-server"])
    let dir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
    unlink("\(dir)/tmux-\(getuid())/\(socket)")
    try? FileManager.default.removeItem(atPath: home)
  }

  // MARK: helpers

  func writeRoster(agents: [(name: String, runtime: String)]) throws {
    let lines = agents.map { "    { name = \"\($0.name)\", runtime = \"\($0.runtime)\" }," }
    let text =
      "return {\n  tenant = \"acme\",\n  socket = \"\(socket)\",\n  heartbeat_interval = 2,\n"
      + "  agents = {\n" + lines.joined(separator: "\n") + "\n  },\n}\n"
    try text.write(toFile: rosterPath, atomically: true, encoding: .utf8)
  }

  @discardableResult
  func tmux(_ args: [String]) -> CommandResult {
    do {
      return try SpawnRunner().run(["tmux", "-L", socket] + args, timeout: 10)
    } catch {
      return CommandResult(status: 127, stderr: Array(error.description.utf8))
    }
  }

  /// Starts a detached 100x20 session running `command` (tmux runs it with `sh -c`), with
  /// this test's MOSAIC_HOME, and returns its pane id.
  @discardableResult
  func session(_ name: String, _ command: String) throws -> String {
    let r = tmux([
      "new-session", "-d", "-s", name, "-x", "100", "-y", "20", "-e", "MOSAIC_HOME=\(home)",
      "-e", "PYTHONSTARTUP=", "-P", "-F", "#{pane_id}", command,
    ])
    tmux(["set-option", "-t", "=\(name):", "remain-on-exit", "on"])
    XCTAssertEqual(r.status, 0, "new-session \(name): \(r.stderrText)")
    let pane = r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertTrue(pane.hasPrefix("%"), pane)
    return pane
  }

  func screen(_ pane: String) -> String {
    tmux(["capture-pane", "-p", "-t", pane]).stdoutText
  }

  func waitForScreen(_ pane: String, _ text: String, timeout: Double = 10) {
    XCTAssertTrue(
      waitFor(timeout) { self.screen(pane).contains(text) },
      "pane \(pane) never showed \(text.debugDescription):\n\(screen(pane))\n"
        + tmux([
          "list-panes", "-a", "-F", "#{pane_id} dead=#{pane_dead} status=#{pane_dead_status}",
        ]).stdoutText)
  }

  func waitFor(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Clock.monotonic() + timeout
    while Clock.monotonic() < deadline {
      if condition() { return true }
      usleep(20_000)
    }
    return condition()
  }

  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
    var json: [String: Any]
    var evidence: [String: Any] { json["evidence"] as? [String: Any] ?? [:] }
  }

  /// Runs `mosaic agent send ARGS` (with `--json` unless `json` is false).
  @discardableResult
  func send(_ args: [String], stdin: [UInt8]? = nil, json: Bool = true) throws -> Run {
    let argv = [Self.mosaic, "agent", "send"] + (json ? ["--json"] : []) + args
    let r = try SpawnRunner().run(
      CommandRequest(
        argv, input: stdin,
        environment: ["MOSAIC_HOME": home, "MOSAIC_ROSTER": rosterPath, "NO_COLOR": "1"],
        timeout: 60))
    var object: [String: Any] = [:]
    if json, !r.stdout.isEmpty {
      let parsed = try? JSONSerialization.jsonObject(with: Data(r.stdout))
      object = try XCTUnwrap(parsed as? [String: Any], "not JSON: \(r.stdoutText)")
    }
    return Run(status: r.status, stdout: r.stdoutText, stderr: r.stderrText, json: object)
  }

  func fixture(_ name: String) -> String { "\(Self.fixtures)/\(name)" }

  func bytes(_ path: String) -> [UInt8] {
    (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
  }

  /// A pane running the byte logger (raw mode, every byte read appended to `log`).
  @discardableResult
  func byteLogger(_ name: String, log: String) throws -> String {
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let pane = try session(name, "python3 \(fixture("send_bytelog.py")) \(log)")
    waitForScreen(pane, "bytelog ready")
    return pane
  }

  func assertRefused(
    _ run: Run, _ reason: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(run.status, 3, run.stderr, file: file, line: line)
    XCTAssertEqual(run.json["exit"] as? Int, 3, file: file, line: line)
    XCTAssertEqual(run.json["delivered"] as? Bool, false, file: file, line: line)
    XCTAssertTrue(run.json["verdict"] is NSNull, file: file, line: line)
    let refused = run.json["refused"] as? String ?? ""
    XCTAssertTrue(refused.contains(reason), "refused: \(refused)", file: file, line: line)
    let lines = run.stderr.split(separator: "\n")
    XCTAssertEqual(lines.count, 1, run.stderr, file: file, line: line)
    XCTAssertTrue(
      run.stderr.hasPrefix("mosaic: agent send: \(run.json["agent"] as? String ?? "?"): "),
      run.stderr, file: file, line: line)
  }

  // MARK: accepted

  func testAcceptedByTheStubAgentsAcknowledgement() throws {
    try writeRoster(agents: [("stub1", "stub")])
    let pane = try session("stub1", "\(Self.mosaic) agent stub stub1 --interval 2")
    waitForScreen(pane, "stub>")

    let r = try send(["stub1", "--verify", "please do it [m:ack-1234]"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.json["schema"] as? String, "mosaic.agent.send/v1")
    XCTAssertEqual(r.json["verdict"] as? String, "accepted")
    XCTAssertEqual(r.json["basis"] as? String, "ack")
    XCTAssertEqual(r.json["exit"] as? Int, 0)
    XCTAssertEqual(r.json["delivered"] as? Bool, true)
    XCTAssertEqual(r.json["tenant_id"] as? String, "acme")
    XCTAssertEqual(r.json["host"] as? String, shortHostName())
    XCTAssertEqual(r.json["pane"] as? String, pane)
    XCTAssertTrue(r.json["refused"] is NSNull)
    XCTAssertEqual(r.evidence["nonce"] as? String, "ack-1234")
    XCTAssertEqual(r.evidence["ack"] as? String, "ack-1234")
    waitForScreen(pane, "ACK ack-1234")

    // --nonce appends a fresh marker; the same proof.
    let n = try send(["stub1", "--verify", "--nonce", "again"])
    XCTAssertEqual(n.status, 0, n.stderr)
    XCTAssertEqual(n.json["basis"] as? String, "ack")
    let nonce = try XCTUnwrap(n.evidence["nonce"] as? String)
    waitForScreen(pane, "ACK \(nonce)")
    XCTAssertEqual(n.json["bytes"] as? Int, "again [m:\(nonce)]".utf8.count)

    // Without a nonce, the prompt coming back is the proof; human output on stdout.
    let p = try send(["stub1", "--verify", "plain", "words"], json: false)
    XCTAssertEqual(p.status, 0, p.stderr)
    XCTAssertTrue(p.stdout.hasPrefix("stub1: accepted: the input line returned"), p.stdout)
    waitForScreen(pane, "ok: 11 bytes")
  }

  func testAcceptedByAPythonREPLWhosePromptReturns() throws {
    let pane = try session("py", "python3 -q -i")
    waitForScreen(pane, ">>>")
    // A decoy whose name starts like the target's: nothing may reach it.
    let decoyLog = home + "/decoy.log"
    _ = try byteLogger("python", log: decoyLog)

    let r = try send(["py", "--verify", "print(6 * 7)"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "accepted")
    XCTAssertEqual(r.json["basis"] as? String, "prompt")
    XCTAssertTrue(r.json["tenant_id"] is NSNull, "unrostered session: no tenant")
    XCTAssertEqual(r.json["host"] as? String, shortHostName())
    XCTAssertEqual(r.evidence["prompt"] as? String, ">>>")
    XCTAssertEqual(r.evidence["draft_seen"] as? Bool, true)
    XCTAssertEqual(r.evidence["unread_bytes"] as? Int, 0)
    XCTAssertTrue(screen(pane).contains("\n42\n"), screen(pane))
    XCTAssertEqual(bytes(decoyLog), [])
  }

  func testAcceptedByACursesInputBoxThatSubmits() throws {
    let log = home + "/box.log"
    let pane = try session("box", "python3 \(fixture("send_inputbox.py")) accept \(log)")
    waitForScreen(pane, "| > ")
    let r = try send(["box", "--verify", "ship it"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "accepted")
    XCTAssertEqual(r.json["basis"] as? String, "prompt")
    XCTAssertTrue(screen(pane).contains("sent: ship it"))
  }

  // MARK: draft

  func testDraftWhenTheInputBoxIgnoresEnter() throws {
    let log = home + "/box.log"
    let pane = try session("box", "python3 \(fixture("send_inputbox.py")) ignore \(log)")
    waitForScreen(pane, "| > ")
    let r = try send(["box", "--verify", "half written"])
    XCTAssertEqual(r.status, 1, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "draft")
    XCTAssertEqual(r.json["basis"] as? String, "draft-at-cursor")
    XCTAssertEqual(r.json["exit"] as? Int, 1)
    XCTAssertEqual(r.json["delivered"] as? Bool, true)
    XCTAssertTrue(r.stderr.hasPrefix("mosaic: agent send: box: draft: "), r.stderr)
    XCTAssertTrue(screen(pane).contains("| > half written"))
    let logged = String(decoding: bytes(log), as: UTF8.self)
    XCTAssertTrue(logged.hasSuffix("\n10\n"), "Enter reached the program last: \(logged)")
    XCTAssertFalse(logged.contains("SUBMIT"))
  }

  func testDraftWhenEnterInsertsANewLine() throws {
    let log = home + "/box.log"
    let pane = try session("box", "python3 \(fixture("send_inputbox.py")) newline \(log)")
    waitForScreen(pane, "| > ")
    let r = try send(["box", "--verify", "first line"])
    XCTAssertEqual(r.status, 1, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "draft")
    XCTAssertEqual(r.json["basis"] as? String, "input-box")
    XCTAssertTrue(screen(pane).contains("| > first line"))
  }

  // MARK: unknown and timeout

  func testUnknownWhenTheREPLIsBusyWithTheLine() throws {
    let pane = try session("py", "python3 -q -i")
    waitForScreen(pane, ">>>")
    let r = try send(["py", "--verify", "--timeout", "3", "import time; time.sleep(5)"])
    XCTAssertEqual(r.status, 1, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "unknown")
    XCTAssertEqual(r.json["basis"] as? String, "no-evidence")
    XCTAssertEqual(r.evidence["unread_bytes"] as? Int, 0)
  }

  func testTimesOutWhileTheInputLineKeepsChanging() throws {
    let pane = try session("spinner", "python3 \(fixture("send_spinner.py"))")
    waitForScreen(pane, "working")
    let r = try send(["spinner", "--verify", "--timeout", "1.5", "hello"])
    XCTAssertEqual(r.status, 2, r.stderr)
    XCTAssertEqual(r.json["timed_out"] as? Bool, true)
    XCTAssertTrue(r.json["verdict"] is NSNull)
    XCTAssertEqual(r.json["exit"] as? Int, 2)
    XCTAssertTrue(r.stderr.contains("verification timed out after 1.5 s"), r.stderr)
    let elapsed = r.evidence["elapsed_ms"] as? Int ?? 0
    XCTAssertTrue((1500..<2500).contains(elapsed), "bounded by --timeout: \(elapsed) ms")
  }

  // MARK: wedged

  func testWedgedWhenNothingReadsTheInput() throws {
    let pane = try session("sleeper", "sleep 1000")
    usleep(200_000)
    let r = try send(["sleeper", "--verify", "anyone there?"])
    XCTAssertEqual(r.status, 2, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "wedged")
    XCTAssertEqual(r.json["basis"] as? String, "unread")
    XCTAssertEqual(r.json["exit"] as? Int, 2)
    XCTAssertEqual(r.evidence["unread_bytes"] as? Int, "anyone there?\n".utf8.count)
    XCTAssertTrue(r.stderr.contains("wedged: 14 bytes stay unread"), r.stderr)
    _ = pane
  }

  func testWedgedWhenTheReaderStopsItself() throws {
    let log = home + "/stopper.log"
    // `; :` keeps the shell as the pane's process, so python is a grandchild, which tmux
    // does not continue when it stops.
    let pane = try session("stopper", "python3 \(fixture("send_stopper.py")) \(log); :")
    waitForScreen(pane, "stopper>")
    let r = try send(["stopper", "--verify", "hello"])
    XCTAssertEqual(r.status, 2, r.stderr)
    XCTAssertEqual(r.json["verdict"] as? String, "wedged")
    XCTAssertEqual(r.json["basis"] as? String, "stopped")
    XCTAssertEqual(String(decoding: bytes(log), as: UTF8.self), "h")

    // Now the foreground process is stopped before anything is sent: refused.
    let again = try send(["stopper", "hello again"])
    assertRefused(again, "is stopped")
  }

  // MARK: refusals (nothing delivered)

  func testRefusedWhenTheForegroundProcessIsStopped() throws {
    let pane = try session(
      "stopped", "python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGSTOP)'; :")
    let panePid = Int32(
      tmux(["display", "-p", "-t", pane, "#{pane_pid}"]).stdoutText.filter(\.isNumber))!
    XCTAssertTrue(
      waitFor { ProcPlane.hasStoppedProcessInForeground(ofPanePid: panePid) == true })
    let tty = tmux(["display", "-p", "-t", pane, "#{pane_tty}"]).stdoutText
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let r = try send(["stopped", "--verify", "hello"])
    assertRefused(r, "is stopped")
    XCTAssertEqual(SendTTY.unreadBytes(tty), 0, "no line was queued")
    XCTAssertFalse(screen(pane).contains("hello"), screen(pane))
  }

  func testRefusedWhenThePaneIsDead() throws {
    try session("keep", "sleep 1000")
    XCTAssertTrue(tmux(["set-option", "-g", "remain-on-exit", "on"]).ok)
    let pane = try session("gone", "exit 7")
    XCTAssertTrue(
      waitFor {
        self.tmux(["display", "-p", "-t", pane, "#{pane_dead}"]).stdoutText.hasPrefix("1")
      })
    let r = try send(["gone", "hello"])
    // tmux 3.3a may show the pane dead before it has recorded the exit status, so the
    // status is in the message only when tmux already knows it.
    assertRefused(r, "is dead (its program exited")
    let refused = r.json["refused"] as? String ?? ""
    XCTAssertTrue(
      refused.hasSuffix("exited)") || refused.hasSuffix("exited with status 7)"), refused)
    XCTAssertEqual(r.json["pane"] as? String, pane)
  }

  func testRefusedWhenThePaneIsInCopyMode() throws {
    let log = home + "/log"
    let pane = try byteLogger("logger", log: log)
    XCTAssertTrue(tmux(["copy-mode", "-t", pane]).ok)
    let r = try send(["logger", "--verify", "hello"])
    assertRefused(r, "copy-mode")
    XCTAssertTrue(tmux(["copy-mode", "-q", "-t", pane]).ok)
    XCTAssertTrue(tmux(["select-pane", "-d", "-t", pane]).ok)
    assertRefused(try send(["logger", "hello"]), "input disabled")
    XCTAssertTrue(tmux(["select-pane", "-e", "-t", pane]).ok)
    usleep(200_000)
    XCTAssertEqual(bytes(log), [], "nothing reached the program")
  }

  func testRefusedForAMissingAgentOrSession() throws {
    try writeRoster(agents: [("ghost", "stub")])
    try session("other", "sleep 1000")
    let missing = try send(["nosuch", "hello"])
    assertRefused(missing, "no such agent")
    XCTAssertTrue(missing.json["tenant_id"] is NSNull)
    XCTAssertNotNil(missing.json["host"] as? String)
    let ghost = try send(["ghost", "hello"])
    assertRefused(ghost, "no session 'ghost' on socket \(socket)")
    XCTAssertEqual(ghost.json["tenant_id"] as? String, "acme")

    // Human form: exactly one line, exit 3.
    let plain = try send(["nosuch", "hello"], json: false)
    XCTAssertEqual(plain.status, 3)
    XCTAssertEqual(plain.stdout, "")
    XCTAssertTrue(plain.stderr.hasPrefix("mosaic: agent send: nosuch: no such agent"), plain.stderr)
    XCTAssertEqual(plain.stderr.split(separator: "\n").count, 1)
  }

  func testRefusedWhileLeasedUnlessForced() throws {
    try writeRoster(agents: [("logger", "stub")])
    let log = home + "/log"
    try byteLogger("logger", log: log)
    let lease =
      "{\"holder\":\"op@host pts/9\",\"since\":\"2026-01-01T00:00:00Z\",\"pid\":\(getpid())}"
    let leasePath = runDir + "/logger.lease"
    _ = FileManager.default.createFile(
      atPath: leasePath, contents: Data(lease.utf8), attributes: [.posixPermissions: 0o600])
    assertRefused(try send(["logger", "hello"]), "leased by op@host pts/9")
    usleep(200_000)
    XCTAssertEqual(bytes(log), [])

    let forced = try send(["logger", "--force", "hello"])
    XCTAssertEqual(forced.status, 0, forced.stderr)
    XCTAssertNotNil(forced.evidence["lease_overridden"] as? [String: Any])
    XCTAssertTrue(waitFor { self.bytes(log) == Array("hello\r".utf8) }, "\(bytes(log))")
  }

  // MARK: delivery

  func testBytesArriveExactly() throws {
    let log = home + "/log"
    try byteLogger("logger", log: log)
    var expected: [UInt8] = []

    // TEXT words: tmux command syntax and a leading dash are just text.
    let words = ["-lead", ";", "\\;", "a;", "#{pane_id}", "$HOME", "'q'"]
    let w = try send(["logger", "--"] + words)
    XCTAssertEqual(w.status, 0, w.stderr)
    expected += Array(words.joined(separator: " ").utf8) + [0x0D]

    // A file: newlines, invalid UTF-8, every byte value.
    let file = home + "/msg.bin"
    let fileBytes: [UInt8] =
      Array("line one;\nline two \\;\n".utf8) + [0xFF, 0xFE] + Array(0...255)
    _ = FileManager.default.createFile(atPath: file, contents: Data(fileBytes))
    let refused = try send(["logger", "--file", file])
    XCTAssertEqual(refused.status, 3, "control bytes need --raw (SPEC 2.7)")
    let f = try send(["logger", "--raw", "--file", file])
    XCTAssertEqual(f.status, 0, f.stderr)
    XCTAssertEqual(f.json["bytes"] as? Int, fileBytes.count)
    expected += fileBytes + [0x0D]

    // 100 KB on standard input.
    var rng = SystemRandomNumberGenerator()
    let big = (0..<(100 * 1024)).map { i -> UInt8 in
      i % 97 == 96 ? 0x0A : UInt8.random(in: 0...255, using: &rng)
    }
    let s = try send(["logger", "--raw", "-"], stdin: big)
    XCTAssertEqual(s.status, 0, s.stderr)
    XCTAssertEqual(s.json["bytes"] as? Int, big.count)
    expected += big + [0x0D]

    XCTAssertTrue(waitFor(15) { self.bytes(log).count >= expected.count })
    let got = bytes(log)
    XCTAssertEqual(got.count, expected.count)
    if got != expected {
      let at = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
      XCTFail("bytes differ, first at offset \(at ?? -1)")
    }
  }

  func testConcurrentSendsArriveWholeOneAfterTheOther() throws {
    let log = home + "/log"
    try byteLogger("logger", log: log)
    let a = String(repeating: "A", count: 60_000)
    let b = String(repeating: "B", count: 60_000)
    let fa = home + "/a.txt"
    let fb = home + "/b.txt"
    try a.write(toFile: fa, atomically: true, encoding: .utf8)
    try b.write(toFile: fb, atomically: true, encoding: .utf8)
    // Two mosaic processes started together, each with its own output files.
    var processes: [Process] = []
    for (i, file) in [fa, fb].enumerated() {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: Self.mosaic)
      // --verify holds the lock until the verdict (here `unknown` after the settle time:
      // the logger shows no prompt), so the second send must wait for the first.
      p.arguments = [
        "agent", "send", "--json", "--verify", "--timeout", "2", "logger", "--file", file,
      ]
      var env = ProcessInfo.processInfo.environment
      env["MOSAIC_HOME"] = home
      env["MOSAIC_ROSTER"] = rosterPath
      p.environment = env
      _ = FileManager.default.createFile(atPath: "\(home)/out\(i)", contents: nil)
      p.standardOutput = FileHandle(forWritingAtPath: "\(home)/out\(i)")
      p.standardError = FileHandle.standardError
      processes.append(p)
    }
    for p in processes { try p.run() }
    for p in processes { p.waitUntilExit() }
    var runs: [[String: Any]] = []
    for (i, p) in processes.enumerated() {
      XCTAssertEqual(p.terminationStatus, 1, "unknown: no prompt to compare with")
      let out = bytes("\(home)/out\(i)")
      runs.append((try? JSONSerialization.jsonObject(with: Data(out))) as? [String: Any] ?? [:])
    }
    let total = a.utf8.count + b.utf8.count + 2
    XCTAssertTrue(waitFor(15) { self.bytes(log).count >= total })
    let got = String(decoding: bytes(log), as: UTF8.self)
    XCTAssertTrue(
      got == a + "\r" + b + "\r" || got == b + "\r" + a + "\r", "interleaved: \(got.count) bytes")
    let waits = runs.compactMap { ($0["evidence"] as? [String: Any])?["lock_wait_ms"] as? Int }
    XCTAssertEqual(waits.count, 2)
    XCTAssertGreaterThan(waits.max() ?? 0, 500, "one send waited for the other: \(waits)")
    for r in runs { XCTAssertEqual(r["verdict"] as? String, "unknown") }
  }

  func testUsageErrors() throws {
    try session("other", "sleep 1000")
    for args in [
      ["other"], ["other", "-", "x"], ["other", "--file", home + "/nope"],
      ["other", "--timeout", "0", "x"], ["other", "-x"],
    ] {
      let r = try send(args, json: false)
      XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
      XCTAssertTrue(r.stderr.hasPrefix("mosaic: "), r.stderr)
    }
  }

  func testLuaAPI() throws {
    let pane = try session("py", "python3 -q -i")
    waitForScreen(pane, ">>>")
    let script = """
      local r = assert(agent.send("py", "x = 41 + 1", { verify = true, timeout = 3 }))
      print(r.verdict, r.exit, r.delivered, r.evidence.prompt)
      local none, msg, refused = agent.send("nosuch", "hi")
      print(none, msg, refused.exit, refused.delivered, refused.refused ~= nil)
      local ok, err = pcall(agent.send, "py", 42)
      print(ok, err)
      ok, err = pcall(agent.send, "py", "x", { verfy = true })
      print(ok, err)
      """
    let r = try SpawnRunner().run(
      CommandRequest(
        [Self.mosaic, "-e", script],
        environment: ["MOSAIC_HOME": home, "MOSAIC_ROSTER": rosterPath], timeout: 30))
    let lines = r.stdoutText.split(separator: "\n").map(String.init)
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertEqual(lines.first, "accepted\t0\ttrue\t>>>")
    XCTAssertEqual(lines.count, 4, r.stdoutText)
    guard lines.count == 4 else { return }
    XCTAssertTrue(lines[1].hasPrefix("nil\tnosuch: no such agent"), lines[1])
    XCTAssertTrue(lines[1].hasSuffix("\t3\tfalse\ttrue"), lines[1])
    XCTAssertTrue(
      lines[2].contains("bad argument #2 to 'send' (string expected, got number)"), lines[2])
    XCTAssertTrue(lines[3].contains("unknown option 'verfy' (did you mean 'verify'?)"), lines[3])
    XCTAssertFalse(lines[3].contains("agent.lua"), "raised at the caller: \(lines[3])")
  }
}
