import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// Two real tmux servers on sockets of their own: the agent's (`agentSocket`, a 200x50
/// session running Fixtures/watch_target.py, and a roster in a temporary MOSAIC_HOME pointing at
/// it) and the operator's (`viewerSocket`, a 100x30 session standing for the operator's
/// terminal, in which the built `mosaic` runs).
final class PaneRig {
  let home: String
  let agentSocket = Harness.uniqueName("wa")
  let viewerSocket = Harness.uniqueName("wv")
  let agent: String
  let marker = "MARKER-" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
  let log: String
  /// Tests/IntegrationTests/Fixtures/watch_target.py: logs every byte and SIGWINCH it gets.
  let fixture = Harness.repoRoot + "/Tests/IntegrationTests/Fixtures/watch_target.py"

  init(agent: String = "wt") throws {
    self.agent = agent
    home = try Harness.makeTempDir("watch")
    log = home + "/pane.log"
    try FileManager.default.createDirectory(
      atPath: home + "/fleet", withIntermediateDirectories: true)
    let roster = """
      return {
        socket = "\(agentSocket)",
        heartbeat_interval = 5,
        agents = { { name = "\(agent)", runtime = "stub", match = "watch_target" } },
      }
      """
    try roster.write(toFile: home + "/fleet/roster.lua", atomically: true, encoding: .utf8)
  }

  /// The environment the viewer's panes and `mosaic` runs get.
  var environment: [String: String] {
    [
      "MOSAIC_HOME": home, "MOSAIC_ROSTER": home + "/fleet/roster.lua",
      "XDG_STATE_HOME": home + "/state", "LANG": "C.UTF-8",
    ]
  }

  var mosaic: Mosaic { Mosaic(home: home, extra: ["MOSAIC_ROSTER": home + "/fleet/roster.lua"]) }

  @discardableResult
  func tmux(_ socket: String, _ args: [String], input: String? = nil) -> CommandResult {
    do {
      return try SpawnRunner().run(
        CommandRequest(
          ["tmux", "-L", socket, "-f", "/dev/null"] + args, input: input.map { Array($0.utf8) },
          timeout: 10))
    } catch {
      return CommandResult(status: 127, stderr: Array(error.description.utf8))
    }
  }

  func display(_ socket: String, _ target: String, _ format: String) -> String {
    tmux(socket, ["display-message", "-p", "-t", target, format]).stdoutText
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Starts the agent's session (200x50 unless told) running the fixture; waits for it to
  /// have set up its terminal.
  func startAgent(mode: String = "tick", width: Int = 200, height: Int = 50) throws {
    let r = tmux(
      agentSocket,
      [
        "new-session", "-d", "-s", agent, "-x", String(width), "-y", String(height),
        "/usr/bin/python3", fixture, log, marker, mode,
      ])
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertTrue(waitFor { self.logLines().contains { $0.hasPrefix("START ") } }, "fixture start")
  }

  var agentPane: String { display(agentSocket, "=\(agent):", "#{pane_id}") }

  var agentWindowSize: String {
    display(agentSocket, "=\(agent):", "#{window_width}x#{window_height}")
  }

  /// Starts the viewer session running `script` under sh, with `$1` the mosaic binary.
  func startViewer(_ script: String, width: Int = 100, height: Int = 30) {
    var args = ["new-session", "-d", "-s", "v", "-x", String(width), "-y", String(height)]
    for (k, v) in environment.sorted(by: { $0.key < $1.key }) { args += ["-e", "\(k)=\(v)"] }
    args += ["/bin/sh", "-c", script, "sh", Harness.mosaicBinary]
    let r = tmux(viewerSocket, args)
    XCTAssertEqual(r.status, 0, r.stderrText)
  }

  var viewerScreen: String { tmux(viewerSocket, ["capture-pane", "-p", "-t", "v:"]).stdoutText }

  /// The viewer script has printed everything after the watcher ended: its exit status and
  /// then the terminal's `icanon` setting (checking only `EXIT=` raced the `stty` line).
  var viewerFinished: Bool {
    let lines = viewerScreen.split(separator: "\n")
    return lines.contains { $0.hasPrefix("EXIT=") }
      && lines.contains { $0 == "icanon" || $0 == "-icanon" }
  }

  func viewer(_ format: String) -> String { display(viewerSocket, "v:", format) }

  /// The pid of the viewer shell's child (the mosaic process).
  func viewerChild() -> Int32? {
    guard let sh = Int32(viewer("#{pane_pid}")) else { return nil }
    let text =
      (try? String(contentsOfFile: "/proc/\(sh)/task/\(sh)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").first.flatMap { Int32($0) }
  }

  func logLines() -> [String] {
    ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(
      String.init)
  }

  /// Log lines other than START: any byte or SIGWINCH that reached the agent.
  func intrusions() -> [String] { logLines().filter { !$0.hasPrefix("START ") } }

  func waitFor(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if condition() { return true }
      usleep(50_000)
    }
    return condition()
  }

  func stop() {
    for socket in [agentSocket, viewerSocket] {
      tmux(socket, ["kill-server"])
      let dir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
      unlink("\(dir)/tmux-\(getuid())/\(socket)")
    }
    try? FileManager.default.removeItem(atPath: home)
  }
}

/// `mosaic agent watch` (SPEC 2.5, PRD FR-3): a live view that cannot type into the pane,
/// never changes its size, sends it no focus events, and gives the terminal back.
final class AgentWatchTests: XCTestCase {
  var rig: PaneRig!

  override func setUpWithError() throws {
    rig = try PaneRig()
  }

  override func tearDown() {
    rig?.stop()
  }

  /// The watcher's shell script: run watch, then report its status and whether the
  /// terminal is back in canonical mode.
  static let viewerScript =
    "\"$1\" agent watch wt 2>\"$MOSAIC_HOME/watch.err\"; echo \"EXIT=$?\"; "
    + "stty -a | tr ' ;' '\\n\\n' | grep -x -- '-*icanon'; exec sleep 300"

  /// The PRD's acceptance test: keys, pastes, clicks, focus changes and a resize of the
  /// operator's terminal reach nothing; the agent's window keeps its size before, during and
  /// after; the agent's screen is shown; Ctrl-C leaves and the terminal is restored.
  func testWatchShowsThePaneAndNothingReachesTheAgent() throws {
    try rig.startAgent()
    let pane = rig.agentPane
    XCTAssertEqual(rig.agentWindowSize, "200x50")
    rig.startViewer(Self.viewerScript)

    // The watcher shows the agent's screen: the fixture's last line (the cursor's row,
    // which the cropped view follows) with its marker, and the status line.
    XCTAssertTrue(
      rig.waitFor { self.rig.viewerScreen.contains("last line: \(self.rig.marker)") },
      "the agent's screen in the watcher:\n\(rig.viewerScreen)")
    XCTAssertEqual(rig.viewer("#{alternate_on}"), "1")
    let status = rig.viewerScreen.split(separator: "\n").last.map(String.init) ?? ""
    XCTAssertTrue(status.contains("wt"), status)
    XCTAssertTrue(status.contains("READ-ONLY"), status)
    XCTAssertTrue(status.contains("q quit"), status)
    XCTAssertTrue(status.contains("200x50"), status)
    XCTAssertTrue(status.contains("cropped"), status)
    XCTAssertTrue(status.contains("heartbeat"), status)

    // No client on the agent's server, nothing resized.
    XCTAssertEqual(rig.tmux(rig.agentSocket, ["list-clients"]).stdoutText, "")
    XCTAssertEqual(rig.display(rig.agentSocket, "=wt:", "#{session_attached}"), "0")
    XCTAssertEqual(rig.agentWindowSize, "200x50")

    // Everything an operator's terminal can send, into the watcher.
    let v = rig.viewerSocket
    rig.tmux(v, ["send-keys", "-t", "v:", "hello", "Enter", "Up", "Down", "Tab", "Escape", "x"])
    rig.tmux(v, ["send-keys", "-t", "v:", "-l", "rm -rf / # typed\r"])
    rig.tmux(v, ["send-keys", "-t", "v:", "-l", "\u{1B}[I"])  // focus in
    rig.tmux(v, ["send-keys", "-t", "v:", "-l", "\u{1B}[O"])  // focus out
    rig.tmux(v, ["send-keys", "-t", "v:", "-l", "\u{1B}[<0;10;5M\u{1B}[<0;10;5m"])  // SGR click
    rig.tmux(v, ["send-keys", "-t", "v:", "-l", "\u{1B}[M !!\u{1B}[M#!!"])  // X10 click
    rig.tmux(v, ["set-buffer", "-b", "mt", "pasted text, with a q in it"])
    rig.tmux(v, ["paste-buffer", "-p", "-b", "mt", "-t", "v:"])  // bracketed: the q is ignored
    rig.tmux(v, ["send-keys", "-t", "v:", "-l", "plain paste\n"])
    // The operator's terminal changes size: the watcher redraws, the agent does not notice.
    rig.tmux(v, ["resize-window", "-t", "v:", "-x", "90", "-y", "25"])
    usleep(1_500_000)

    XCTAssertEqual(rig.viewer("#{alternate_on}"), "1", "still watching:\n\(rig.viewerScreen)")
    XCTAssertTrue(
      rig.waitFor { self.rig.viewerScreen.contains("last line: \(self.rig.marker)") },
      "redrawn after the resize:\n\(rig.viewerScreen)")
    XCTAssertEqual(rig.agentWindowSize, "200x50")

    // Ctrl-C leaves; the terminal is back: normal screen, canonical mode, status 0.
    rig.tmux(v, ["send-keys", "-t", "v:", "C-c"])
    XCTAssertTrue(
      rig.waitFor { self.rig.viewerFinished }, "watcher exit:\n\(rig.viewerScreen)")
    let after = rig.viewerScreen
    XCTAssertTrue(after.contains("EXIT=0"), after)
    XCTAssertTrue(after.split(separator: "\n").contains("icanon"), "termios restored:\n\(after)")
    XCTAssertFalse(after.contains(rig.marker), "the normal screen is back:\n\(after)")
    XCTAssertEqual(rig.viewer("#{alternate_on}"), "0")
    XCTAssertEqual(rig.viewer("#{cursor_flag}"), "1", "cursor shown again")

    // The agent received nothing at all, and its size never changed.
    usleep(300_000)
    XCTAssertEqual(rig.intrusions(), [], "bytes or SIGWINCH reached the agent")
    XCTAssertEqual(rig.agentWindowSize, "200x50")
    XCTAssertEqual(rig.display(rig.agentSocket, pane, "#{pane_width}x#{pane_height}"), "200x50")

    // Positive controls: the fixture does log what reaches it.
    rig.tmux(rig.agentSocket, ["send-keys", "-t", pane, "z"])
    rig.tmux(rig.agentSocket, ["resize-window", "-t", "=wt:", "-x", "190", "-y", "45"])
    XCTAssertTrue(
      rig.waitFor {
        let lines = self.rig.intrusions()
        return lines.contains("INPUT 7a") && lines.contains { $0.hasPrefix("WINCH ") }
      }, "the fixture logs input and SIGWINCH: \(rig.intrusions())")
  }

  /// SIGTERM (and the other ending signals) restore the terminal and exit 128 + signal.
  func testSIGTERMRestoresTheTerminal() throws {
    try rig.startAgent()
    rig.startViewer(Self.viewerScript)
    XCTAssertTrue(rig.waitFor { self.rig.viewer("#{alternate_on}") == "1" })
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains(self.rig.marker) })
    let pid = try XCTUnwrap(rig.viewerChild())
    kill(pid, SIGTERM)
    XCTAssertTrue(rig.waitFor { self.rig.viewerFinished }, rig.viewerScreen)
    let after = rig.viewerScreen
    XCTAssertTrue(after.contains("EXIT=143"), after)
    XCTAssertTrue(after.split(separator: "\n").contains("icanon"), after)
    XCTAssertEqual(rig.viewer("#{alternate_on}"), "0")
    XCTAssertEqual(rig.intrusions(), [])
  }

  /// The agent's session ending while watched: message, status 1, terminal restored.
  func testPaneDisappearingEndsTheWatchWithStatus1() throws {
    try rig.startAgent()
    rig.startViewer(Self.viewerScript)
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains(self.rig.marker) })
    rig.tmux(rig.agentSocket, ["kill-session", "-t", "=wt"])
    XCTAssertTrue(rig.waitFor { self.rig.viewerFinished }, rig.viewerScreen)
    XCTAssertTrue(rig.viewerScreen.contains("EXIT=1"), rig.viewerScreen)
    XCTAssertEqual(rig.viewer("#{alternate_on}"), "0")
    let err = (try? String(contentsOfFile: rig.home + "/watch.err", encoding: .utf8)) ?? ""
    XCTAssertTrue(err.hasPrefix("mosaic: agent watch: wt: "), err)
    XCTAssertTrue(err.contains("gone") || err.contains("no tmux server"), err)
  }

  /// A terminal larger than the pane shows the pane at its size with its edges drawn.
  func testALargerTerminalShowsThePaneAtItsOwnSize() throws {
    try rig.startAgent(mode: "static", width: 60, height: 12)
    rig.startViewer(Self.viewerScript)
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains(self.rig.marker) }, rig.viewerScreen)
    let rows = rig.viewerScreen.split(separator: "\n", omittingEmptySubsequences: false)
      .map(String.init)
    // Pane rows end at column 60 with the right edge at column 61; the row after the pane
    // is the bottom edge.
    XCTAssertTrue(rows[0].hasSuffix("\u{2502}"), rows[0])
    XCTAssertEqual(rows[0].count, 61, rows[0])
    XCTAssertTrue(rows[12].hasPrefix("\u{2500}\u{2500}\u{2500}"), rows[12])
    XCTAssertTrue(rows[12].hasSuffix("\u{2518}"), rows[12])
    XCTAssertFalse(rig.viewerScreen.contains("cropped"))
    XCTAssertEqual(rig.agentWindowSize, "60x12")
    rig.tmux(rig.viewerSocket, ["send-keys", "-t", "v:", "q"])
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains("EXIT=0") }, rig.viewerScreen)
    XCTAssertEqual(rig.intrusions(), [])
  }

  /// `--once` into a pipe prints exactly the agent's screen text (capture-pane -p).
  func testOnceOutputEqualsTheScreenText() throws {
    try rig.startAgent(mode: "static")
    let pane = rig.agentPane
    let expected = rig.tmux(rig.agentSocket, ["capture-pane", "-p", "-t", pane]).stdoutText
    let r = try rig.mosaic.run(["agent", "watch", "wt", "--once"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertEqual(r.stdoutText, expected)
    XCTAssertFalse(r.stdout.contains(0x1B), "plain text when not on a terminal")
    XCTAssertTrue(r.stdoutText.hasPrefix(rig.marker + "\n"))
    XCTAssertEqual(r.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).count, 51)
    XCTAssertEqual(rig.intrusions(), [])
  }

  /// Without `--once`, a pipe gets a plain-text snapshot each time the screen changes.
  func testNonTerminalOutputStreamsPlainSnapshots() throws {
    try rig.startAgent(mode: "tick")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Harness.mosaicBinary)
    process.arguments = ["agent", "watch", "wt", "--interval", "0.2"]
    process.environment = ProcessInfo.processInfo.environment.merging(rig.environment) { $1 }
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    usleep(1_500_000)
    process.terminate()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 143)
    let text = String(decoding: data, as: UTF8.self)
    XCTAssertFalse(data.contains(0x1B), "no escapes")
    let headers = text.split(separator: "\n").filter {
      $0.hasPrefix("--- wt ") && $0.hasSuffix(" 200x50 ---")
    }
    XCTAssertGreaterThanOrEqual(headers.count, 2, text)
    XCTAssertTrue(text.contains(rig.marker))
    XCTAssertEqual(rig.intrusions(), [])
  }

  /// `agent capture` and `agent.capture`: the screen for scripts.
  func testCaptureForScripts() throws {
    try rig.startAgent(mode: "static")
    let pane = rig.agentPane
    let expected = rig.tmux(rig.agentSocket, ["capture-pane", "-p", "-t", pane]).stdoutText
    let plain = try rig.mosaic.run(["agent", "capture", "wt"])
    XCTAssertEqual(plain.status, 0, plain.stderrText)
    XCTAssertEqual(plain.stdoutText, expected)
    let colored = try rig.mosaic.run(["agent", "capture", "wt", "--escapes"])
    XCTAssertTrue(colored.stdoutText.contains("\u{1B}[31mred"), colored.stdoutText)

    let json = try rig.mosaic.json(["agent", "capture", "wt", "--json"])
    XCTAssertEqual(json["schema"]?.stringValue, "mosaic.agent.capture/v1")
    XCTAssertEqual(json["name"]?.stringValue, "wt")
    XCTAssertEqual(json["tenant_id"]?.stringValue, "default")
    XCTAssertEqual(json["host"]?.stringValue, shortHostName())
    XCTAssertEqual(json["pane"]?.stringValue, pane)
    XCTAssertEqual(json["width"]?.intValue, 200)
    XCTAssertEqual(json["height"]?.intValue, 50)
    XCTAssertEqual(json["cursor_y"]?.intValue, 48)
    XCTAssertEqual(json["lines"]?.arrayValue?.count, 50)
    XCTAssertEqual(json["lines"]?.arrayValue?.first?.stringValue, rig.marker)

    let lua = try rig.mosaic.run([
      "-e",
      """
      local c = assert(agent.capture("wt", { escapes = true }))
      print(#c.lines, c.width, c.height, c.cursor_x, c.cursor_y, c.alternate_on, c.dead)
      print(c.lines[2]:find("\\27%[31mred") ~= nil)
      print(agent.capture("nope"))
      print(agent.watch("nope"))
      print(pcall(agent.capture, 42))
      """,
    ])
    XCTAssertEqual(lua.status, 0, lua.stderrText)
    let lines = lua.stdoutText.split(separator: "\n").map(String.init)
    let cursorX = "last line: ".count + rig.marker.count
    XCTAssertEqual(lines.first, "50\t200\t50\t\(cursorX)\t48\tfalse\tfalse")
    XCTAssertEqual(lines.dropFirst().first, "true")
    XCTAssertTrue(
      lines.contains {
        $0.hasPrefix("nil\tnope: no such agent in the roster") && $0.hasSuffix("\tno-such-agent")
      }, lua.stdoutText)
    XCTAssertTrue(
      lines.contains {
        $0.hasPrefix("nil\tnope: no such agent in the roster") && $0.hasSuffix("\t1\tno-such-agent")
      }, lua.stdoutText)
    XCTAssertTrue(lines.contains { $0.contains("bad argument #1 to 'capture'") }, lua.stdoutText)
    XCTAssertEqual(rig.intrusions(), [])
  }

  /// Refusals are one line and exit 1; usage errors exit 64.
  func testRefusals() throws {
    // The rostered agent has no session yet.
    rig.tmux(rig.agentSocket, ["new-session", "-d", "-s", "other", "sleep", "300"])
    let absent = try rig.mosaic.run(["agent", "watch", "wt"])
    XCTAssertEqual(absent.status, 1)
    XCTAssertEqual(
      absent.stderrText,
      "mosaic: agent watch: wt: no session 'wt' on socket \(rig.agentSocket)\n")
    let unknown = try rig.mosaic.run(["agent", "capture", "nope"])
    XCTAssertEqual(unknown.status, 1)
    XCTAssertTrue(
      unknown.stderrText.hasPrefix("mosaic: agent capture: nope: no such agent in the roster"),
      unknown.stderrText)
    let usage = try rig.mosaic.run(["agent", "watch", "wt", "--interval", "0.001"])
    XCTAssertEqual(usage.status, 64)
    // An unrostered session can be watched by its name.
    let other = try rig.mosaic.run(["agent", "watch", "other", "--once"])
    XCTAssertEqual(other.status, 0, other.stderrText)
  }
}
