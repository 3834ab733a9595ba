import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// Screen verdicts kept between `fleet ps` runs (`ScreenVerdictCache`): what makes a verdict
/// reusable and the file (on a real tmux server: IntegrationTests' ScreenVerdictTmuxTests).
final class ScreenVerdictCacheTests: XCTestCase {
  var dir = ""

  override func setUpWithError() throws {
    dir = NSTemporaryDirectory() + "mosaic-verdicts-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    chmod(dir, 0o700)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

  let profile = RuntimeProfile(
    name: "claude",
    screen: [
      .init(find: "Do you trust", state: .waiting, waitingFor: "folder trust dialog"),
      .init(find: "esc to interrupt", state: .working),
    ], prompt: "^> ")

  func key(activity: Int = 1000, cursorY: Int = 3) -> ScreenVerdictCache.Key {
    ScreenVerdictCache.Key(
      pane: TmuxPane(
        session: "a", paneId: "%7", panePid: 42, width: 80, height: 24, windowActivity: activity,
        cursorX: 2, cursorY: cursorY),
      fingerprint: ScreenVerdictCache.fingerprint(profile))!
  }

  func testAVerdictIsReusedOnlyForTheSameScreenAndProfile() throws {
    var cache = ScreenVerdictCache(socket: "s one")
    cache.keep(.rule(0), for: key())
    let path = dir + "/screens.cache"
    cache.save(path: path)

    let loaded = ScreenVerdictCache.load(path: path, socket: "s one")
    XCTAssertEqual(loaded.verdict(for: key()), .rule(0))
    XCTAssertNil(loaded.verdict(for: key(activity: 1001)), "output since: look again")
    XCTAssertNil(loaded.verdict(for: key(cursorY: 4)))
    XCTAssertTrue(ScreenVerdictCache.load(path: path, socket: "other").entries.isEmpty)

    var changed = profile
    changed.screen[0].waitingFor = "another dialog"
    XCTAssertNotEqual(
      ScreenVerdictCache.fingerprint(changed), ScreenVerdictCache.fingerprint(profile))
    var other = key()
    other.profile = ScreenVerdictCache.fingerprint(changed)
    XCTAssertNil(loaded.verdict(for: other), "a changed profile judges the screen anew")

    XCTAssertEqual(
      ScreenVerdict.rule(0).activity(profile: profile),
      Activity(state: .waiting, waitingFor: "folder trust dialog", source: "screen"))
    XCTAssertEqual(
      ScreenVerdict.prompt(ready: true).activity(profile: profile),
      Activity(state: .idle, source: "screen"))
    XCTAssertNil(ScreenVerdict.none.activity(profile: profile))
  }

  func testAFileThatIsNotTrustedOrNotACacheIsAnEmptyCache() throws {
    let path = dir + "/screens.cache"
    var cache = ScreenVerdictCache(socket: "s")
    cache.keep(.prompt(ready: false), for: key())
    cache.save(path: path)
    XCTAssertEqual(
      ScreenVerdictCache.load(path: path, socket: "s").verdict(for: key()), .prompt(ready: false))
    chmod(path, 0o666)
    XCTAssertTrue(ScreenVerdictCache.load(path: path, socket: "s").entries.isEmpty)
    try "garbage\n%7 x\n".write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, 0o600)
    XCTAssertTrue(ScreenVerdictCache.load(path: path, socket: "s").entries.isEmpty)
    XCTAssertTrue(ScreenVerdictCache.load(path: dir + "/missing", socket: "s").entries.isEmpty)
  }

  func testOnlyACaptureAWholeSecondAfterTheLastOutputIsKept() {
    let k = key(activity: 1000)
    let screen = SendScreen(cursorX: 2, cursorY: 3, width: 80, rows: ["x"])
    XCTAssertFalse(
      k.keeps(screen, capturedFrom: 1000.9), "output later in second 1000 is invisible")
    XCTAssertTrue(k.keeps(screen, capturedFrom: 1001.0))
    XCTAssertFalse(
      k.keeps(SendScreen(cursorX: 2, cursorY: 4, width: 80, rows: ["x"]), capturedFrom: 1002),
      "the screen moved between the listing and the capture")
  }

  func testAgentPanesAreAgentPaneOfEverySession() {
    let listing = TmuxListing(
      version: "3.3a",
      panes: [
        TmuxPane(session: "a", paneId: "%3", windowIndex: 1, paneIndex: 0),
        TmuxPane(session: "b", paneId: "%4", windowIndex: 0, paneIndex: 1),
        TmuxPane(session: "a", paneId: "%1", windowIndex: 0, paneIndex: 1),
        TmuxPane(session: "a", paneId: "%2", windowIndex: 0, paneIndex: 1),
        TmuxPane(session: "b", paneId: "%5", windowIndex: 0, paneIndex: 0),
      ])
    let all = listing.agentPanes
    XCTAssertEqual(all.count, 2)
    for session in ["a", "b"] { XCTAssertEqual(all[session], listing.agentPane(of: session)) }
    XCTAssertEqual(all["a"]?.paneId, "%1")
    XCTAssertEqual(all["b"]?.paneId, "%5")
  }
}
