import XCTest

@testable import FleetCore

/// `agent watch` in a terminal smaller (or larger) than the pane (issue 11): the first frame
/// puts the cursor's row as low as the window allows, so everything printed above it shows,
/// and the pane's top row stays visible whenever the cursor is within the first screenful.
final class WatchCropTests: XCTestCase {
  func capture(width: Int, height: Int, cursorX: Int, cursorY: Int) -> PaneCapture {
    PaneCapture(
      paneId: "%1", width: width, height: height, cursorX: cursorX, cursorY: cursorY,
      lines: (0..<height).map { Array("row \($0)".utf8) })
  }

  func testTheFirstFrameKeepsTheCursorVisibleAndTheTopRowWhenItCan() {
    let terminals = [(80, 24), (40, 10), (200, 60), (80, 3), (20, 2)]
    let panes = [(160, 40), (80, 24), (100, 50), (20, 5), (300, 1)]
    var cases = 0
    for (columns, rows) in terminals {
      for (width, height) in panes {
        for cursorY in Set([0, 1, 2, height / 2, height - 1]) where cursorY < height {
          for cursorX in Set([0, width / 2, width - 1]) {
            cases += 1
            let screen = WatchScreen(unicode: true)
            let bytes = screen.frame(
              capture(width: width, height: height, cursorX: cursorX, cursorY: cursorY),
              status: { _, _ in "status" }, terminalRows: rows, terminalColumns: columns)
            let vp = screen.viewport
            let what =
              "terminal \(columns)x\(rows), pane \(width)x\(height), cursor \(cursorX),\(cursorY)"
            let visible = vp.visibleRows
            guard visible > 0 else { continue }
            XCTAssertTrue(vp.top <= cursorY && cursorY < vp.top + visible, "\(what): top \(vp.top)")
            XCTAssertTrue(
              vp.left <= cursorX && cursorX < vp.left + vp.visibleColumns,
              "\(what): left \(vp.left)")
            // The cursor's row as low as it can go: what was printed above it is shown.
            XCTAssertEqual(vp.top, max(0, min(cursorY - visible + 1, height - visible)), what)
            if cursorY < visible {
              XCTAssertEqual(vp.top, 0, "\(what): the pane's top row must show")
              if vp.left == 0 {
                XCTAssertTrue(String(decoding: bytes, as: UTF8.self).contains("row 0"), what)
              }
            }
          }
        }
      }
    }
    XCTAssertGreaterThan(cases, 200)
  }

  /// The held-out case: a 160x40 pane watched from 80x24, a program that printed one line.
  func testOneLineInABigPaneShowsThatLine() {
    let screen = WatchScreen(unicode: true)
    let bytes = screen.frame(
      capture(width: 160, height: 40, cursorX: 0, cursorY: 1), status: { _, _ in "s" },
      terminalRows: 24, terminalColumns: 80)
    XCTAssertEqual(screen.viewport.top, 0)
    XCTAssertTrue(String(decoding: bytes, as: UTF8.self).contains("\u{1B}[1;1Hrow 0"))
  }
}
