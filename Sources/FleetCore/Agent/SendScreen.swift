import MosaicSupport

/// What `agent send --verify` looks at on the pane, from one tmux invocation: the cursor,
/// the history size, the pane's state and its visible text (`display-message` and
/// `capture-pane` joined with `;` in one argv, so both describe the same moment).
public struct SendScreen: Sendable, Equatable {
  /// `cursor_x`, `cursor_y`: 0-based, in the pane.
  public var cursorX: Int
  public var cursorY: Int
  /// `history_size`: lines scrolled off the top; grows when output scrolls the screen.
  public var historySize: Int
  /// `cursor_flag`: the program shows its cursor (TUIs that draw their own hide it, which
  /// makes "the cursor row" meaningless).
  public var cursorVisible: Bool
  /// `pane_dead`, `pane_in_mode`.
  public var dead: Bool
  public var inMode: Bool
  /// `pane_width`.
  public var width: Int
  /// The visible rows, top to bottom, trailing spaces removed (as `capture-pane -p` prints).
  public var rows: [String]

  public init(
    cursorX: Int, cursorY: Int, historySize: Int = 0, cursorVisible: Bool = true,
    dead: Bool = false, inMode: Bool = false, width: Int = 80, rows: [String]
  ) {
    self.cursorX = cursorX
    self.cursorY = cursorY
    self.historySize = historySize
    self.cursorVisible = cursorVisible
    self.dead = dead
    self.inMode = inMode
    self.width = width
    self.rows = rows
  }

  /// Row `y` without trailing spaces; "" outside the screen.
  public func row(_ y: Int) -> String {
    guard y >= 0, y < rows.count else { return "" }
    return SendScreen.trimRight(rows[y])
  }

  /// The row the cursor is on (the input line of a line-oriented program).
  public var cursorRow: String { row(cursorY) }

  /// The cursor row, preceded by the row above when that one is full (the line wrapped
  /// into the cursor row), so text split by the wrap can still be found.
  public var cursorLine: String {
    let y = cursorY - 1
    guard y >= 0, y < rows.count, rows[y].count >= width else { return cursorRow }
    return rows[y] + cursorRow
  }

  /// What "the input line changed" compares: the cursor and its row.
  public var inputState: InputState {
    InputState(x: cursorX, y: cursorY, history: historySize, text: cursorRow)
  }

  public struct InputState: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var history: Int
    public var text: String
  }

  /// The `display-message` format (fields separated by `,`; every field a number).
  static let format =
    "#{cursor_x},#{cursor_y},#{history_size},#{cursor_flag},#{pane_dead},#{pane_in_mode},"
    + "#{pane_width}"

  /// Parses the output of `TmuxArgv.sendScreen`; nil when it does not have that shape.
  public static func parse(_ bytes: [UInt8]) -> SendScreen? {
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    if lines.last == "" { lines.removeLast() }
    guard let head = lines.first else { return nil }
    return parse(head: head, rows: Array(lines.dropFirst()))
  }

  /// The screen from its `format` line and its rows; nil when the line has another shape.
  public static func parse<S: StringProtocol>(head: S, rows: [String]) -> SendScreen? {
    let f = head.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
    guard f.count == 7, let x = f[0], let y = f[1], let width = f[6] else { return nil }
    return SendScreen(
      cursorX: x, cursorY: y, historySize: f[2] ?? 0, cursorVisible: f[3] != 0,
      dead: f[4] == 1, inMode: (f[5] ?? 0) > 0, width: width, rows: rows)
  }

  static func trimRight(_ s: String) -> String {
    var t = Substring(s)
    while let last = t.last, last == " " || last == "\t" || last == "\r" { t = t.dropLast() }
    return String(t)
  }

  /// The cursor and its row as data (`{"x", "y", "text"}`) for the evidence object.
  public var cursorJSON: JSONValue {
    .object([
      ("x", .int(Int64(cursorX))), ("y", .int(Int64(cursorY))),
      ("history", .int(Int64(historySize))), ("visible", .bool(cursorVisible)),
      ("text", .string(cursorRow)),
    ])
  }
}

extension TmuxArgv {
  /// `tmux -L S display-message -p -t %N <format> ; capture-pane -p -t %N`: the cursor,
  /// history size and pane state, then the visible text, from one process (see
  /// `SendScreen.parse`). Nothing untrusted is in the argv; the `;` argument separates
  /// the two commands.
  public func sendScreen(_ paneId: String) -> [String] {
    base + [
      "display-message", "-p", "-t", paneId, SendScreen.format, ";", "capture-pane", "-p", "-t",
      paneId,
    ]
  }
}

extension TmuxClient {
  /// The screens of many panes (cursor, state and visible text, as `SendScreen`), from ONE
  /// tmux invocation whatever their number: `source-file -` reads, on stdin, per pane a
  /// `display-message` with a marker that carries a random token (screen text cannot forge
  /// it) and a `capture-pane`. Only pane ids (`%N`, checked) and mosaic's own format reach
  /// tmux's parser. Panes that vanished, or a failed call, are missing from the result.
  public func screens(_ paneIds: [String]) -> [String: SendScreen] {
    var out: [String: SendScreen] = [:]
    let ids = paneIds.filter(TmuxArgv.isPaneId)
    guard !ids.isEmpty else { return out }
    let marker = "@mosaic-screen-\(HeartbeatStore.makeNonce())"
    var script = ""
    for id in ids {
      script += "display-message -p -t \(id) \"\(marker) \(id) \(SendScreen.format)\"\n"
      script += "capture-pane -p -t \(id)\n"
    }
    let argv = argv.base + ["source-file", "-"]
    // tmux goes on after a pane that vanished (and then exits 1): keep what it printed.
    let request = CommandRequest(argv, input: Array(script.utf8), timeout: timeout)
    guard let r = try? runner.run(request), !r.timedOut else { return out }
    var current: (id: String, head: Substring)? = nil
    var rows: [String] = []
    func flush() {
      guard let c = current else { return }
      out[c.id] = SendScreen.parse(head: c.head, rows: rows)
    }
    let prefix = Array((marker + " ").utf8)
    for line in r.stdout.split(separator: 0x0A, omittingEmptySubsequences: false) {
      if line.starts(with: prefix) {
        flush()
        let s = String(decoding: line.dropFirst(prefix.count), as: UTF8.self)
        let rest = s.split(separator: " ", maxSplits: 1)
        current = rest.count == 2 ? (String(rest[0]), rest[1]) : nil
        rows = []
        rows.reserveCapacity(64)
      } else {
        rows.append(String(decoding: line, as: UTF8.self))
      }
    }
    if rows.last == "" { rows.removeLast() }
    flush()
    return out
  }
}
