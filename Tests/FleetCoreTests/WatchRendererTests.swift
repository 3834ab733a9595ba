import XCTest

@testable import FleetCore

/// `agent watch`'s renderer without tmux: SGR state, cutting lines, the viewport, the diff
/// between frames, keys, the capture argv. (The real panes are in IntegrationTests'
/// AgentWatchTests.)
final class WatchRendererTests: XCTestCase {
  private func cut(_ s: String, left: Int, columns: Int, state: SGRState = SGRState())
    -> (String, Int, SGRState)
  {
    var st = state
    let c = WatchLine.cut(Array(s.utf8), state: &st, left: left, columns: columns)
    return (String(decoding: c.bytes, as: UTF8.self), c.width, st)
  }

  func testCuttingKeepsTheRenditionInForce() {
    let line = "ab\u{1B}[31mcd\u{1B}[0mef"
    XCTAssertEqual(cut(line, left: 0, columns: 10).0, line)
    XCTAssertEqual(cut(line, left: 3, columns: 2).0, "\u{1B}[0;31md\u{1B}[0me")
    XCTAssertEqual(cut(line, left: 1, columns: 2).0, "b\u{1B}[31mc")
    let (_, width, state) = cut(
      "x\u{1B}[1m\u{1B}[38;5;200m\u{1B}[48;2;1;2;3my", left: 0, columns: 1)
    XCTAssertEqual(width, 1)
    XCTAssertEqual(
      String(decoding: state.sequence(), as: UTF8.self), "\u{1B}[0;1;38;5;200;48;2;1;2;3m")
  }

  func testStateCarriesAcrossLines() {
    var state = SGRState()
    _ = WatchLine.cut(
      Array("\u{1B}[1m\u{1B}[32mbold green".utf8), state: &state, left: 0, columns: 0)
    let next = WatchLine.cut(Array("still".utf8), state: &state, left: 0, columns: 80)
    XCTAssertEqual(String(decoding: next.bytes, as: UTF8.self), "\u{1B}[0;1;32mstill")
    state.apply(Array("0".utf8)[...])
    XCTAssertTrue(state.isDefault)
    state.apply(Array("4:3;58:2::255:0:0;22".utf8)[...])
    XCTAssertEqual(String(decoding: state.sequence(), as: UTF8.self), "\u{1B}[0;4:3;58;2;255;0;0m")
    state.apply([][...])
    XCTAssertTrue(state.isDefault)
  }

  func testWideCharactersAndEdges() {
    XCTAssertEqual(cut("a\u{5BBD}\u{5B57}b", left: 0, columns: 6).1, 6)
    // A wide character cut by the right edge becomes a blank.
    XCTAssertEqual(cut("a\u{5BBD}b", left: 0, columns: 2).0, "a ")
    // ... and by the left edge.
    XCTAssertEqual(cut("a\u{5BBD}b", left: 2, columns: 2).0, " b")
    XCTAssertEqual(cut("e\u{301}x", left: 0, columns: 1).0, "e\u{301}")
    XCTAssertEqual(cut("a\u{07}\u{1B}]8;;http://x\u{1B}\\b", left: 0, columns: 5).0, "ab")
    var state = SGRState()
    let invalid = WatchLine.cut([0xFF, 0x7A], state: &state, left: 0, columns: 5)
    XCTAssertEqual(invalid.bytes, Array("?z".utf8))
  }

  func testViewportFollowsTheCursor() {
    var vp = WatchViewport(
      terminalRows: 11, terminalColumns: 40, paneWidth: 100, paneHeight: 50, top: 0, left: 0)
    vp.follow(cursorX: 5, cursorY: 48)
    XCTAssertEqual(vp.top, 39)
    XCTAssertEqual(vp.left, 0)
    vp.follow(cursorX: 5, cursorY: 45)  // still visible: no jump
    XCTAssertEqual(vp.top, 39)
    vp.follow(cursorX: 70, cursorY: 2)
    XCTAssertEqual(vp.top, 2)
    XCTAssertEqual(vp.left, 31)
    var big = WatchViewport(
      terminalRows: 60, terminalColumns: 300, paneWidth: 100, paneHeight: 50, top: 0, left: 0)
    big.follow(cursorX: 99, cursorY: 49)
    XCTAssertEqual(big.top, 0)
    XCTAssertFalse(big.cropped)
  }

  func testOnlyChangedRowsAreRedrawn() {
    let screen = WatchScreen(unicode: true)
    func capture(_ rows: [String]) -> PaneCapture {
      PaneCapture(
        paneId: "%1", width: 10, height: rows.count, cursorX: 0, cursorY: 0,
        lines: rows.map { Array($0.utf8) })
    }
    let first = screen.frame(
      capture(["aaa", "bbb", "ccc"]), status: { _, _ in "s" }, terminalRows: 5, terminalColumns: 20)
    XCTAssertTrue(String(decoding: first, as: UTF8.self).contains("\u{1B}[1;1Haaa"))
    let second = screen.frame(
      capture(["aaa", "BBB", "ccc"]), status: { _, _ in "s" }, terminalRows: 5, terminalColumns: 20)
    let text = String(decoding: second, as: UTF8.self)
    XCTAssertTrue(text.contains("\u{1B}[2;1HBBB"), text)
    XCTAssertFalse(text.contains("aaa"), text)
    XCTAssertFalse(text.contains("ccc"), text)
    let third = screen.frame(
      capture(["aaa", "BBB", "ccc"]), status: { _, _ in "s" }, terminalRows: 5, terminalColumns: 20)
    XCTAssertEqual(third, [], "nothing changed, nothing written")
  }

  func testKeys() {
    var keys = WatchKeys()
    XCTAssertFalse(keys.feed(Array("abc\r\u{1B}[A\u{1B}OP\u{1B}[<0;1;1M".utf8)[...]))
    XCTAssertFalse(keys.feed(Array("\u{1B}[200~quit q\u{1B}[201~".utf8)[...]))
    XCTAssertTrue(keys.feed(Array("q".utf8)[...]))
    var ctrlC = WatchKeys()
    XCTAssertTrue(ctrlC.feed([0x03][...]))
    var ctrlD = WatchKeys()
    XCTAssertTrue(ctrlD.feed([0x04][...]))
  }

  func testCaptureArgvIsOneInvocation() {
    let argv = TmuxArgv(socket: "s").capture(paneId: "%7", escapes: true, keepTrailingSpaces: true)
    XCTAssertEqual(argv.filter { $0 == ";" }.count, 1)
    XCTAssertEqual(
      Array(argv.prefix(8)), ["tmux", "-u", "-L", "s", "display-message", "-p", "-t", "%7"])
    XCTAssertEqual(Array(argv.suffix(7)), [";", "capture-pane", "-p", "-e", "-N", "-t", "%7"])
    XCTAssertFalse(argv[8].hasSuffix(";"))
  }
}
