import XCTest

@testable import FleetCore

/// The classifier's pieces, without tmux.
final class AgentSendClassifierTests: XCTestCase {
  func screen(_ rows: [String], x: Int, y: Int, history: Int = 0) -> SendScreen {
    SendScreen(cursorX: x, cursorY: y, historySize: history, width: 40, rows: rows)
  }

  func testParsesTheScreenOfOneTmuxCall() {
    let out = Array("6,1,3,1,0,0,40\nstub> hi\nstub> \n\n".utf8)
    let s = SendScreen.parse(out)
    XCTAssertEqual(s?.cursorX, 6)
    XCTAssertEqual(s?.cursorY, 1)
    XCTAssertEqual(s?.historySize, 3)
    XCTAssertEqual(s?.rows, ["stub> hi", "stub> ", ""])
    XCTAssertEqual(s?.cursorRow, "stub>")
    XCTAssertNil(SendScreen.parse(Array("nonsense\n".utf8)))
    XCTAssertEqual(
      TmuxArgv(socket: "s").sendScreen("%3"),
      [
        "tmux", "-u", "-L", "s", "display-message", "-p", "-t", "%3", SendScreen.format, ";",
        "capture-pane", "-p", "-t", "%3",
      ])
  }

  func testTheDraftFragmentIsTheMessagesPrintableTail() {
    XCTAssertEqual(SendDraft.fragment(of: Array("hello world".utf8)), "hello world")
    XCTAssertEqual(
      SendDraft.fragment(of: Array("a long message that ends here  ".utf8)), "e that ends here")
    XCTAssertEqual(SendDraft.fragment(of: Array("two\nlines".utf8)), "lines")
    XCTAssertEqual(SendDraft.fragment(of: Array("ends with newline\n".utf8)), "")
    XCTAssertEqual(SendDraft.fragment(of: [0x41, 0xFF]), "")
  }

  func testJudgeSortsTheClassicCases() {
    let before = screen(["stub> "], x: 6, y: 0)
    let draft = SendDraft(text: Array("hi there".utf8), before: before)
    let pre = screen(["stub> hi there"], x: 14, y: 0)
    XCTAssertTrue(draft.shown(on: pre))
    func judge() -> SendJudge { SendJudge(draft: draft, preEnter: pre, settle: 1, wedgeAfter: 1) }

    // Prompt back, nothing unread: accepted.
    var j = judge()
    let back = screen(["stub> hi there", "ok: 8 bytes", "stub> "], x: 6, y: 2)
    XCTAssertNil(j.observe(.init(t: 0.02, screen: pre, unread: 0, stopped: false, acked: false)))
    XCTAssertEqual(
      j.observe(.init(t: 0.2, screen: back, unread: 0, stopped: false, acked: false))?.0,
      .accepted)

    // The ack wins over everything.
    j = judge()
    XCTAssertEqual(
      j.observe(.init(t: 0.1, screen: pre, unread: 3, stopped: false, acked: true))?.1, "ack")

    // Unread bytes for the wedge time: wedged; a stopped process at once.
    j = judge()
    XCTAssertNil(j.observe(.init(t: 0.1, screen: pre, unread: 9, stopped: false, acked: false)))
    XCTAssertEqual(
      j.observe(.init(t: 1.2, screen: pre, unread: 9, stopped: false, acked: false))?.1, "unread")
    j = judge()
    XCTAssertEqual(
      j.observe(.init(t: 0.1, screen: pre, unread: 0, stopped: true, acked: false))?.0, .wedged)

    // The draft still at the cursor once the line is still: draft, not before.
    j = judge()
    XCTAssertNil(j.observe(.init(t: 0.5, screen: pre, unread: 0, stopped: false, acked: false)))
    XCTAssertEqual(
      j.observe(.init(t: 1.1, screen: pre, unread: 0, stopped: false, acked: false))?.1,
      "draft-at-cursor")

    // A prompt-less program that moved on: unknown.
    let blank = screen([""], x: 0, y: 0)
    let d2 = SendDraft(text: Array("data".utf8), before: blank)
    j = SendJudge(draft: d2, preEnter: screen(["data"], x: 4, y: 0), settle: 1, wedgeAfter: 1)
    let moved = screen(["data", ""], x: 0, y: 1)
    XCTAssertNil(j.observe(.init(t: 0.1, screen: moved, unread: 0, stopped: false, acked: false)))
    XCTAssertEqual(
      j.observe(.init(t: 1.2, screen: moved, unread: 0, stopped: false, acked: false))?.1,
      "no-prompt")
  }

  func testInputBoxNewLineIsADraft() {
    let box = "| >                |"
    let before = screen(["+----------------+", box, "+----------------+"], x: 4, y: 1)
    let draft = SendDraft(text: Array("abc".utf8), before: before)
    let narrower = screen(["+----------------+", "| > abc            |", "|      |"], x: 4, y: 2)
    XCTAssertFalse(draft.shown(on: narrower))
    XCTAssertFalse(draft.insideInputBox(on: narrower), "another frame than the prompt's")
    let same = screen(
      ["+----------------+", "| > abc            |", "|                  |"], x: 4, y: 2)
    XCTAssertTrue(draft.insideInputBox(on: same))
    XCTAssertFalse(draft.insideInputBox(on: screen(["", "", "ok"], x: 0, y: 2)))
  }
}
