import FleetCore
import MosaicSupport
import XCTest

/// A runner that records every request and answers from a script.
final class TmuxRecordingRunner: CommandRunner, @unchecked Sendable {
  private let lock = NSLock()
  private var recorded: [CommandRequest] = []
  private let answer: @Sendable (CommandRequest) throws(SpawnError) -> CommandResult

  init(answer: @escaping @Sendable (CommandRequest) throws(SpawnError) -> CommandResult) {
    self.answer = answer
  }

  convenience init(_ result: CommandResult) {
    self.init { _ in result }
  }

  var requests: [CommandRequest] { lock.withLock { recorded } }

  func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
    lock.withLock { recorded.append(request) }
    return try answer(request)
  }
}

final class TmuxTests: XCTestCase {
  private let sep = "\u{1f}"

  /// One list-panes line with the fields in the format's order.
  private func line(
    version: String = "3.3a", session: String, window: Int = 0, pane: Int = 0,
    id: String, pid: String = "100", dead: String = "0", deadStatus: String = "",
    deadSignal: String = "", tty: String = "/dev/pts/1", size: (String, String) = ("80", "24"),
    activity: String = "1795534416", inMode: String = "0", mode: String = "",
    inputOff: String = "0", cursor: (String, String) = ("0", "0"), alternate: String = "0",
    command: String = "sleep"
  ) -> String {
    [
      version, session, String(window), String(pane), id, pid, dead, deadStatus, deadSignal,
      tty, size.0, size.1, activity, inMode, mode, inputOff, cursor.0, cursor.1, alternate,
      command,
    ].joined(separator: sep)
  }

  private func client(stdout: String) -> (TmuxClient, TmuxRecordingRunner) {
    let runner = TmuxRecordingRunner(CommandResult(status: 0, stdout: Array(stdout.utf8)))
    return (TmuxClient(socket: "mosaic-factory", runner: runner), runner)
  }

  func testListPanesIsOneCallWithTheWholeFormat() throws {
    let (tmux, runner) = client(stdout: "")
    let listing = try tmux.listPanes().get()
    XCTAssertEqual(listing, TmuxListing(version: nil, panes: []))
    XCTAssertEqual(runner.requests.count, 1)
    let argv = runner.requests[0].argv
    XCTAssertEqual(
      Array(argv.prefix(7)), ["tmux", "-u", "-L", "mosaic-factory", "list-panes", "-a", "-F"])
    XCTAssertEqual(argv.count, 8)
    let command = "#{s/[\u{01}-\u{1f}\u{7f}]/?/:pane_current_command}"
    XCTAssertTrue(argv[7].hasPrefix("#{version}\(sep)#{session_name}\(sep)"), argv[7])
    XCTAssertTrue(argv[7].hasSuffix("#{alternate_on}\(sep)" + command), argv[7])
    XCTAssertEqual(argv[7].components(separatedBy: "#{").count - 1, 20)
    // Only what a row, the agent pane's choice or the screen cache reads: each field costs
    // the tmux server about a microsecond per pane.
    for unread in ["window_width", "window_height", "session_attached"] {
      XCTAssertFalse(argv[7].contains("#{\(unread)}"), unread)
    }
    XCTAssertNotNil(runner.requests[0].timeout)
    XCTAssertEqual(tmux.argv.listPanes(), argv)
  }

  func testParsesEveryField() throws {
    let text =
      line(
        session: "coder-1", window: 1, pane: 2, id: "%7", pid: "4242", dead: "1", deadStatus: "3",
        deadSignal: "", tty: "/dev/pts/9", size: ("100", "30"), activity: "1795534416",
        inMode: "1", mode: "copy-mode", inputOff: "1", cursor: ("5", "6"), alternate: "1",
        command: "node") + "\n"
    let listing = try client(stdout: text).0.listPanes().get()
    XCTAssertEqual(listing.version, "3.3a")
    XCTAssertEqual(
      listing.panes,
      [
        TmuxPane(
          session: "coder-1", paneId: "%7", panePid: 4242, dead: true, deadStatus: 3,
          deadSignal: nil, currentCommand: "node", tty: "/dev/pts/9", width: 100, height: 30,
          windowActivity: 1_795_534_416, inMode: true, mode: "copy-mode", inputOff: true,
          cursorX: 5, cursorY: 6, alternateOn: true, windowIndex: 1, paneIndex: 2)
      ])
  }

  func testEmptyNumbersAreUnknownAndMissingVersionIsNil() throws {
    let text = line(
      version: "", session: "s", id: "%0", pid: "", size: ("", ""), activity: "",
      cursor: ("", ""))
    let listing = try client(stdout: text).0.listPanes().get()
    XCTAssertNil(listing.version)
    let p = listing.panes[0]
    XCTAssertNil(p.panePid)
    XCTAssertNil(p.width)
    XCTAssertNil(p.windowActivity)
    XCTAssertNil(p.cursorX)
    XCTAssertNil(p.mode)
    XCTAssertFalse(p.dead)
  }

  func testACommandHoldingTheSeparatorStaysInTheLastField() throws {
    let text = [
      line(session: "a", id: "%1", command: "evil\(sep)x\(sep)y"),
      line(session: "b", id: "%2", command: ""),
    ].joined(separator: "\n")
    let listing = try client(stdout: text).0.listPanes().get()
    XCTAssertEqual(listing.panes.map(\.currentCommand), ["evil\(sep)x\(sep)y", ""])
    XCTAssertEqual(listing.sessions, ["a", "b"])
  }

  func testAMalformedLineIsAFailure() {
    let result = client(stdout: "garbage\u{7}line\n").0.listPanes()
    XCTAssertEqual(result, .failure(.failed("unexpected list-panes output: garbage?line")))
    let short = client(
      stdout: line(session: "s", id: "%1").replacingOccurrences(of: "%1", with: "1"))
    guard case .failure(.failed) = short.0.listPanes() else {
      return XCTFail("a pane id without % must fail")
    }
  }

  func testServerAbsentAndOtherFailures() {
    func result(_ stderr: String, status: Int32 = 1) -> Result<TmuxListing, TmuxError> {
      let runner = TmuxRecordingRunner(CommandResult(status: status, stderr: Array(stderr.utf8)))
      return TmuxClient(socket: "s", runner: runner).listPanes()
    }
    XCTAssertEqual(result("no server running on /tmp/tmux-1000/s\n"), .failure(.serverAbsent))
    XCTAssertEqual(
      result("error connecting to /nonexistent-mt/tmux-1000/s (No such file or directory)\n"),
      .failure(.serverAbsent))
    // The socket path exists, so this is not "no server" but a real problem.
    XCTAssertEqual(
      result("error connecting to /tmp (Permission denied)\n"),
      .failure(.failed("tmux list-panes: error connecting to /tmp (Permission denied)")))
    XCTAssertEqual(
      result("server exited unexpectedly\n"),
      .failure(.failed("tmux list-panes: server exited unexpectedly")))
    XCTAssertEqual(result("", status: 2), .failure(.failed("tmux list-panes: exit status 2")))
  }

  func testTimeoutAndSpawnFailure() {
    let slow = TmuxRecordingRunner(CommandResult(status: 137, signal: 9, timedOut: true))
    XCTAssertEqual(
      TmuxClient(socket: "s", runner: slow, timeout: 2).listPanes(),
      .failure(.failed("tmux list-panes: no answer within 2 s")))
    XCTAssertEqual(
      TmuxClient(socket: "s", runner: SpawnRunner(), program: "/nonexistent/tmux").listPanes(),
      .failure(.failed("cannot run /nonexistent/tmux: No such file or directory")))
  }

  func testHasSessionUsesAnExactTarget() {
    let yes = TmuxRecordingRunner(CommandResult(status: 0))
    XCTAssertEqual(TmuxClient(socket: "f", runner: yes).hasSession("coder-1"), .success(true))
    XCTAssertEqual(
      yes.requests.map(\.argv), [["tmux", "-u", "-L", "f", "has-session", "-t", "=coder-1"]])
    let no = TmuxRecordingRunner(
      CommandResult(status: 1, stderr: Array("can't find session: coder-1\n".utf8)))
    XCTAssertEqual(TmuxClient(socket: "f", runner: no).hasSession("coder-1"), .success(false))
    let absent = TmuxRecordingRunner(
      CommandResult(status: 1, stderr: Array("no server running on /tmp/tmux-0/f\n".utf8)))
    XCTAssertEqual(
      TmuxClient(socket: "f", runner: absent).hasSession("coder-1"), .failure(.serverAbsent))
  }

  func testAgentPaneIsTheFirstPaneOfTheLowestWindow() throws {
    let text = [
      line(session: "other", window: 0, pane: 0, id: "%9"),
      line(session: "a", window: 3, pane: 0, id: "%4"),
      line(session: "a", window: 1, pane: 2, id: "%3"),
      line(session: "a", window: 1, pane: 1, id: "%2"),
    ].joined(separator: "\n")
    let listing = try client(stdout: text).0.listPanes().get()
    XCTAssertEqual(TmuxClient.agentPane(of: "a", in: listing)?.paneId, "%2")
    XCTAssertEqual(listing.agentPane(of: "other")?.paneId, "%9")
    XCTAssertNil(listing.agentPane(of: "missing"))
    XCTAssertNil(listing.agentPane(of: "oth"))
    XCTAssertEqual(listing.sessions, ["other", "a"])
  }

  func testArgvBuilders() {
    let a = TmuxArgv(socket: "mosaic-factory")
    let base = ["tmux", "-u", "-L", "mosaic-factory"]
    XCTAssertEqual(a.hasSession("coder-1"), base + ["has-session", "-t", "=coder-1"])
    XCTAssertEqual(a.capturePane("%3"), base + ["capture-pane", "-p", "-e", "-t", "%3"])
    XCTAssertEqual(
      a.capturePane("%3", joinWrapped: true, start: .historyTop),
      base + ["capture-pane", "-p", "-e", "-J", "-S", "-", "-t", "%3"])
    XCTAssertEqual(
      a.capturePane("%3", escapes: false, start: .line(-200)),
      base + ["capture-pane", "-p", "-S", "-200", "-t", "%3"])
    XCTAssertEqual(
      a.loadBuffer("mosaic-send-1"), base + ["load-buffer", "-b", "mosaic-send-1", "-"])
    XCTAssertEqual(
      a.pasteBuffer("mosaic-send-1", into: "%3"),
      base + ["paste-buffer", "-d", "-p", "-r", "-b", "mosaic-send-1", "-t", "%3"])
    XCTAssertEqual(a.deleteBuffer("b"), base + ["delete-buffer", "-b", "b"])
    XCTAssertEqual(a.sendKeys("%3", [.enter]), base + ["send-keys", "-t", "%3", "Enter"])
    XCTAssertEqual(
      a.sendKeys("%3", [.ctrlU, .escape]), base + ["send-keys", "-t", "%3", "C-u", "Escape"])
    XCTAssertEqual(
      a.display("%3", format: "#{pane_in_mode}"),
      base + ["display-message", "-p", "-t", "%3", "#{pane_in_mode}"])
    XCTAssertEqual(TmuxArgv.sessionTarget("coder-1"), "=coder-1:")
    XCTAssertEqual(
      TmuxArgv(program: "/usr/bin/tmux", socket: "x").hasSession("y"),
      ["/usr/bin/tmux", "-u", "-L", "x", "has-session", "-t", "=y"])
    XCTAssertEqual(
      TmuxClient(socket: "s", program: "/opt/tmux").argv.hasSession("a")[0], "/opt/tmux")
  }

  func testTargetAndBufferNameChecks() {
    XCTAssertTrue(TmuxArgv.isPaneId("%0"))
    XCTAssertTrue(TmuxArgv.isPaneId("%123"))
    for bad in ["%", "3", "%3;", "%-1", "=a:", "%3 "] {
      XCTAssertFalse(TmuxArgv.isPaneId(bad), bad)
    }
    XCTAssertTrue(TmuxArgv.isBufferName("mosaic-send.1_x"))
    for bad in ["", "-b", "a;", "a b", String(repeating: "a", count: 101)] {
      XCTAssertFalse(TmuxArgv.isBufferName(bad), bad)
    }
    XCTAssertEqual(TmuxKey.allCases.filter { $0.rawValue.hasSuffix(";") }, [])
  }

  func testVersionParsingAndOrder() {
    XCTAssertEqual(TmuxVersion("3.3a"), TmuxVersion(major: 3, minor: 3, letter: 1))
    XCTAssertEqual(TmuxVersion("tmux 3.3a\n"), TmuxVersion(major: 3, minor: 3, letter: 1))
    XCTAssertEqual(TmuxVersion("3.2"), TmuxVersion(major: 3, minor: 2))
    XCTAssertEqual(TmuxVersion("next-3.4"), TmuxVersion(major: 3, minor: 4, prerelease: true))
    XCTAssertEqual(TmuxVersion("3.4-rc2"), TmuxVersion(major: 3, minor: 4, prerelease: true))
    XCTAssertEqual(TmuxVersion("2.9a")?.description, "2.9a")
    for bad in ["", "master", "openbsd-7.4", "3", "3.x", "3.3-beta", "a.b", "3.3aa", ".3"] {
      XCTAssertNil(TmuxVersion(bad), bad)
    }
    let ordered = [
      "2.9a", "3.1c", "3.2-rc", "3.2", "3.2a", "3.3", "3.3a", "next-3.4", "3.4", "3.10",
    ]
    let parsed = ordered.compactMap(TmuxVersion.init)
    XCTAssertEqual(parsed.count, ordered.count)
    XCTAssertEqual(parsed, parsed.sorted())
  }

  func testVersionAtLeast() {
    XCTAssertEqual(tmuxVersionAtLeast("3.2", "3.3a"), true)
    XCTAssertEqual(tmuxVersionAtLeast("3.2", "3.2"), true)
    XCTAssertEqual(tmuxVersionAtLeast("3.2", "next-3.4"), true)
    XCTAssertEqual(tmuxVersionAtLeast("3.2", "3.2-rc3"), false)
    XCTAssertEqual(tmuxVersionAtLeast("3.2", "3.1c"), false)
    XCTAssertEqual(tmuxVersionAtLeast("3.2", "2.9a"), false)
    XCTAssertEqual(tmuxVersionAtLeast("3.4", "next-3.4"), false)
    XCTAssertNil(tmuxVersionAtLeast("3.2", "master"))
    XCTAssertNil(tmuxVersionAtLeast("3.2", nil))
    XCTAssertNil(tmuxVersionAtLeast("bogus", "3.3a"))
  }

  func testErrorDescriptions() {
    XCTAssertEqual(TmuxError.serverAbsent.description, "no tmux server running on the socket")
    XCTAssertEqual(TmuxError.failed("x: y").description, "x: y")
  }
}
