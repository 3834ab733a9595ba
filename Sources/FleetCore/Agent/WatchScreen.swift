// The full-screen view of `agent watch`: where the pane goes in the operator's terminal,
// and the bytes that bring the terminal from the last frame to the next one.

/// Which part of the pane the terminal shows.
///
/// The pane is drawn at its own size from the top-left corner; one row at the bottom is
/// the status line. A terminal larger than the pane shows the pane's right and bottom edges
/// as a thin line and blanks the rest. A smaller one crops: the window follows the pane's
/// cursor (where a line agent prints and a TUI keeps its input box), moving only when the
/// cursor would leave it, so the view does not jump around.
struct WatchViewport: Equatable {
  var terminalRows = 24
  var terminalColumns = 80
  var paneWidth = 80
  var paneHeight = 24
  /// First pane row and column shown.
  var top = 0
  var left = 0

  /// Rows available for the pane (the last terminal row is the status line).
  var areaRows: Int { max(0, terminalRows - 1) }
  var visibleRows: Int { min(paneHeight, areaRows) }
  var visibleColumns: Int { min(paneWidth, terminalColumns) }
  var cropped: Bool { paneHeight > areaRows || paneWidth > terminalColumns }

  /// Moves the window so the cursor stays visible; keeps it inside the pane.
  mutating func follow(cursorX: Int, cursorY: Int) {
    top = Self.follow(top, cursorY, visible: visibleRows, total: paneHeight)
    left = Self.follow(left, cursorX, visible: visibleColumns, total: paneWidth)
  }

  private static func follow(_ start: Int, _ cursor: Int, visible: Int, total: Int) -> Int {
    guard visible > 0, total > visible else { return 0 }
    var s = start
    if cursor < s { s = cursor }
    if cursor >= s + visible { s = cursor - visible + 1 }
    return min(max(0, s), total - visible)
  }
}

/// Keeps what the terminal shows and produces the bytes of the next frame: only rows that
/// changed are redrawn (each row positioned absolutely, reset, drawn, erased to its end),
/// wrapped in a synchronized-update request for terminals that support it.
final class WatchScreen {
  private(set) var viewport = WatchViewport()
  /// What each terminal row shows now (nil: unknown, draw it).
  private var rows: [[UInt8]?] = []
  private var cursor: (Int, Int)? = nil
  private var cursorShown = false
  private var placed = false
  /// Whether to use line-drawing characters for the pane's edges.
  let unicode: Bool

  init(unicode: Bool) { self.unicode = unicode }

  /// Forget what the terminal shows (after a resize, a suspend, or at the start).
  func invalidate() {
    rows = []
    placed = false
  }

  /// The bytes that draw `capture` (with escapes) and `status` on a terminal of the given
  /// size; empty when nothing changed.
  func frame(
    _ capture: PaneCapture, status: (PaneCapture, WatchViewport) -> String, terminalRows: Int,
    terminalColumns: Int
  )
    -> [UInt8]
  {
    if rows.count != terminalRows || viewport.terminalColumns != terminalColumns {
      // A new terminal size: every row is drawn again, in full.
      rows = Array(repeating: nil, count: max(0, terminalRows))
      placed = false
    }
    var vp = viewport
    vp.terminalRows = terminalRows
    vp.terminalColumns = terminalColumns
    vp.paneWidth = capture.width
    vp.paneHeight = capture.height
    if !placed {
      // A fresh screen: start with the cursor's row at the bottom of the window (what a
      // line agent printed last is above it), the left edge at the pane's. (Starting from
      // below the pane and following put the cursor's row at the TOP, hiding the rows
      // above it.)
      vp.top = max(0, capture.cursorY - vp.visibleRows + 1)
      vp.left = 0
    }
    vp.follow(cursorX: capture.cursorX, cursorY: capture.cursorY)
    viewport = vp

    var next: [[UInt8]] = []
    next.reserveCapacity(terminalRows)
    let screen = Array(capture.screen)
    var state = SGRState()
    for r in 0..<screen.count {
      let visibleRow = r - vp.top
      if visibleRow < 0 {
        // Not shown, but its colours may carry into the rows that are.
        _ = WatchLine.cut(screen[r], state: &state, left: 0, columns: 0)
        continue
      }
      if visibleRow >= vp.visibleRows { break }
      let cut = WatchLine.cut(screen[r], state: &state, left: vp.left, columns: vp.visibleColumns)
      next.append(row(cut, vp))
    }
    while next.count < vp.areaRows {
      if next.count == vp.visibleRows, vp.paneHeight < vp.areaRows {
        next.append(bottomEdge(vp))
      } else {
        next.append(Self.eraseLine)
      }
    }
    if terminalRows > 0 {
      let text = status(capture, vp)
      var plain = SGRState()
      let cut = WatchLine.cut(Array(text.utf8), state: &plain, left: 0, columns: terminalColumns)
      var line: [UInt8] = Array("\u{1B}[0;7m".utf8) + cut.bytes
      line += [UInt8](repeating: 0x20, count: max(0, terminalColumns - cut.width))
      line += Array("\u{1B}[0m".utf8)
      next.append(line)
    }

    var out: [UInt8] = []
    for (r, bytes) in next.enumerated() where r < rows.count && rows[r] != bytes {
      out += Array("\u{1B}[\(r + 1);1H".utf8)
      out += bytes
      rows[r] = bytes
    }
    placed = true

    var wanted: (Int, Int)? = nil
    let cy = capture.cursorY - vp.top
    let cx = capture.cursorX - vp.left
    if capture.cursorVisible, !capture.dead, cy >= 0, cy < vp.visibleRows, cx >= 0,
      cx < vp.visibleColumns
    {
      wanted = (cy + 1, cx + 1)
    }
    let cursorMoved = wanted.map { w in cursor.map { $0 != w } ?? true } ?? false
    if out.isEmpty, !cursorMoved, cursorShown == (wanted != nil) { return [] }
    var framed: [UInt8] = Array("\u{1B}[?2026h\u{1B}[?25l".utf8) + out
    if let (y, x) = wanted {
      framed += Array("\u{1B}[\(y);\(x)H\u{1B}[?25h".utf8)
    }
    framed += Array("\u{1B}[?2026l".utf8)
    cursor = wanted
    cursorShown = wanted != nil
    return framed
  }

  static let eraseLine: [UInt8] = Array("\u{1B}[0m\u{1B}[K".utf8)

  /// A pane row: its cut text, a reset, the rest of the terminal row erased, and the right
  /// edge when the terminal is wider than the pane.
  private func row(_ cut: CutLine, _ vp: WatchViewport) -> [UInt8] {
    var line = cut.bytes
    line += Array("\u{1B}[0m".utf8)
    // Erasing from the last column would erase the character written there.
    if cut.width < vp.terminalColumns { line += Array("\u{1B}[K".utf8) }
    if vp.paneWidth < vp.terminalColumns {
      line += Array("\u{1B}[\(vp.paneWidth + 1)G\u{1B}[2m".utf8)
      line += Array((unicode ? "\u{2502}" : "|").utf8)
      line += Array("\u{1B}[0m".utf8)
    }
    return line
  }

  private func bottomEdge(_ vp: WatchViewport) -> [UInt8] {
    var line: [UInt8] = Array("\u{1B}[0;2m".utf8)
    let dash = unicode ? "\u{2500}" : "-"
    let corner = unicode ? "\u{2518}" : "+"
    let dashes = min(vp.paneWidth, vp.terminalColumns)
    line += Array(String(repeating: dash, count: dashes).utf8)
    if vp.paneWidth < vp.terminalColumns { line += Array(corner.utf8) }
    line += Array("\u{1B}[0m".utf8)
    if dashes + 1 < vp.terminalColumns { line += Array("\u{1B}[K".utf8) }
    return line
  }
}
