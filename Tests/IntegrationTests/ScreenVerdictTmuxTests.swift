import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// Screen verdicts kept between `fleet ps` runs, on a real tmux server: output on a pane
/// makes `fleet ps` look at its screen again, while an unchanged screen is not captured
/// twice (the file and the key's rules: FleetCoreTests' ScreenVerdictCacheTests).
final class ScreenVerdictTmuxTests: XCTestCase {
  /// A dialog rule and a prompt, as a runtime's profile has them.
  let profile = RuntimeProfile(
    name: "dialogs",
    screen: [.init(find: "Do you trust", state: .waiting, waitingFor: "folder trust dialog")],
    prompt: "^> ")

  final class Counting: CommandRunner, @unchecked Sendable {
    var screenCalls = 0
    func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
      if request.argv.contains("source-file") { screenCalls += 1 }
      return try SpawnRunner().run(request)
    }
  }

  /// On a real server: the first look captures, the next reuses the verdict, and output on
  /// the pane (here the dialog appearing) is seen at once.
  func testOutputOnAPaneIsSeenAndAnUnchangedScreenIsNotCapturedAgain() throws {
    let dir = NSTemporaryDirectory() + "mosaic-verdicts-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let server = TmuxTestServer()
    defer { server.stop() }
    let flag = dir + "/go"
    server.newSession(
      "a",
      "echo starting; while [ ! -e \(flag) ]; do sleep 0.05; done; echo 'Do you trust the files'; sleep 60"
    )
    let counting = Counting()
    let tmux = TmuxClient(socket: server.socket, runner: counting)
    XCTAssertTrue(
      waitUntil {
        server.tmux(["capture-pane", "-p", "-t", "=a:"]).stdoutText.contains("starting")
      })
    usleep(1_100_000)  // a whole second after the output, so the verdict may be kept

    let reader = ActivityReader(matcher: { row, pattern in
      pattern.hasPrefix("^") ? row.hasPrefix(pattern.dropFirst()) : row.contains(pattern)
    })
    func look() throws -> Activity?? {
      let pane = try XCTUnwrap(tmux.listPanes().get().agentPane(of: "a"))
      let me = try XCTUnwrap(ProcPlane.read(pid: getpid()))
      let context = RowContext(
        now: Clock.now(),
        planes: FleetPlanes(runner: counting, systemd: NoSystemd(), matcher: reader.matcher),
        probed: false, foregrounds: [:], profiles: ["dialogs": profile], reader: reader,
        tmux: tmux, screenCache: dir + "/screens.cache")
      let found = RowContext.Found(
        pane: pane, group: ForegroundGroup(leader: me, members: []), process: me, matched: true,
        runtime: "dialogs")
      return context.screenVerdicts([found])[pane.paneId]
    }

    XCTAssertEqual(try look(), .some(nil), "no rule holds")
    XCTAssertEqual(counting.screenCalls, 1)
    XCTAssertEqual(try look(), .some(nil))
    XCTAssertEqual(counting.screenCalls, 1, "the same screen is not captured again")

    XCTAssertTrue(FileManager.default.createFile(atPath: flag, contents: nil))
    XCTAssertTrue(
      waitUntil { server.tmux(["capture-pane", "-p", "-t", "=a:"]).stdoutText.contains("trust") })
    XCTAssertEqual(
      try look(),
      .some(Activity(state: .waiting, waitingFor: "folder trust dialog", source: "screen")))
    XCTAssertEqual(counting.screenCalls, 2, "output on the pane: captured again")
  }

  struct NoSystemd: SystemdQuerying {
    func status(of units: [String]) -> Result<[String: UnitStatus], SystemdError> { .success([:]) }
    func lingerEnabled() -> Bool? { nil }
  }
}
