import MosaicSupport

/// One pane as `tmux list-panes -a` reports it. Numbers tmux left empty are nil.
public struct TmuxPane: Sendable, Equatable {
  /// `session_name` (tmux has already replaced `.` and `:` and escaped control characters).
  public var session: String
  /// `pane_id`, `%N`, unique for the server's life: the target for everything after.
  public var paneId: String
  /// `pane_pid`: the process tmux started in the pane. A dead pane keeps its old pid,
  /// which may belong to another process by now.
  public var panePid: Int32?
  /// `pane_dead`: the program exited and the pane remains (`remain-on-exit`).
  public var dead: Bool
  /// `pane_dead_status`: exit status of a dead pane's program, if it exited.
  public var deadStatus: Int?
  /// `pane_dead_signal`: the signal that ended a dead pane's program, if one did.
  public var deadSignal: Int?
  /// `pane_current_command`: argv[0] basename of the tty's foreground process group leader
  /// (control characters replaced by `?`).
  public var currentCommand: String
  /// `pane_tty`, e.g. `/dev/pts/3`.
  public var tty: String
  /// `pane_width` x `pane_height`.
  public var width: Int?
  public var height: Int?
  /// `window_activity`: epoch seconds of the window's last output (1 s resolution).
  public var windowActivity: Int?
  /// `pane_in_mode`: the pane is in a mode (copy mode, ...), which swallows `send-keys`.
  public var inMode: Bool
  /// `pane_mode`: the mode's name (`copy-mode`, ...), nil when not in a mode.
  public var mode: String?
  /// `pane_input_off`: input to the pane is disabled (`select-pane -d`).
  public var inputOff: Bool
  /// `cursor_x`, `cursor_y`: the cursor, 0-based, in the pane.
  public var cursorX: Int?
  public var cursorY: Int?
  /// `alternate_on`: the program is on the alternate screen (full-screen TUI).
  public var alternateOn: Bool
  /// `window_index`, `pane_index`.
  public var windowIndex: Int
  public var paneIndex: Int

  public init(
    session: String, paneId: String, panePid: Int32? = nil, dead: Bool = false,
    deadStatus: Int? = nil, deadSignal: Int? = nil, currentCommand: String = "",
    tty: String = "", width: Int? = nil, height: Int? = nil, windowActivity: Int? = nil,
    inMode: Bool = false, mode: String? = nil, inputOff: Bool = false, cursorX: Int? = nil,
    cursorY: Int? = nil, alternateOn: Bool = false, windowIndex: Int = 0, paneIndex: Int = 0
  ) {
    self.session = session
    self.paneId = paneId
    self.panePid = panePid
    self.dead = dead
    self.deadStatus = deadStatus
    self.deadSignal = deadSignal
    self.currentCommand = currentCommand
    self.tty = tty
    self.width = width
    self.height = height
    self.windowActivity = windowActivity
    self.inMode = inMode
    self.mode = mode
    self.inputOff = inputOff
    self.cursorX = cursorX
    self.cursorY = cursorY
    self.alternateOn = alternateOn
    self.windowIndex = windowIndex
    self.paneIndex = paneIndex
  }
}

/// Every pane on one tmux server, from one `list-panes -a` call.
public struct TmuxListing: Sendable, Equatable {
  /// The server's `#{version}` (`3.3a`, `next-3.4`, ...); nil when the server did not
  /// expand it.
  public var version: String?
  /// Panes in tmux's order (session, window, pane).
  public var panes: [TmuxPane]

  public init(version: String?, panes: [TmuxPane]) {
    self.version = version
    self.panes = panes
  }

  /// Session names, each once, in listing order.
  public var sessions: [String] {
    var seen = Set<String>()
    return panes.compactMap { seen.insert($0.session).inserted ? $0.session : nil }
  }

  /// The pane that represents the agent in `session`: the first pane (lowest pane index)
  /// of the session's lowest-index window. An agent's unit starts one window with one
  /// pane; when an operator splits or adds windows, the original stays the agent's as
  /// long as they keep it first. nil when the session has no pane here (absent).
  public func agentPane(of session: String) -> TmuxPane? {
    panes.filter { $0.session == session }.min {
      ($0.windowIndex, $0.paneIndex) < ($1.windowIndex, $1.paneIndex)
    }
  }

  /// `agentPane(of:)` of every session at once, by session name, in one pass over the
  /// panes (asking `agentPane(of:)` for each of n sessions would read n x n panes).
  public var agentPanes: [String: TmuxPane] {
    var out: [String: TmuxPane] = [:]
    out.reserveCapacity(panes.count)
    for pane in panes {
      if let best = out[pane.session],
        (best.windowIndex, best.paneIndex) <= (pane.windowIndex, pane.paneIndex)
      {
        continue
      }
      out[pane.session] = pane
    }
    return out
  }
}

/// The `list-panes` format and its parser.
///
/// Fields are separated by U+001F (unit separator) and records by newlines. tmux escapes
/// control characters in session names (`\037`, `\n`), and the other fields are numbers,
/// flags, tty paths or mode names, except `pane_current_command`, which is the raw argv[0]
/// of whatever runs in the pane. That one is put last and passed through tmux's
/// `s/[\x01-\x1f\x7f]/?/` substitution, so no program can forge fields or records by
/// naming itself; the parser also splits each line into at most `fieldCount` fields so a
/// server that ignores the substitution still cannot shift the other fields.
enum ListPanesFormat {
  static let separator: Character = "\u{1f}"

  static let variables = [
    "version", "session_name", "window_index", "pane_index", "pane_id", "pane_pid",
    "pane_dead", "pane_dead_status", "pane_dead_signal", "pane_tty", "pane_width",
    "pane_height", "window_activity", "pane_in_mode", "pane_mode", "pane_input_off", "cursor_x",
    "cursor_y", "alternate_on",
  ]

  static var fieldCount: Int { variables.count + 1 }

  /// The `-F` argument. Without the command the last field stays, empty: tmux finds each
  /// pane's foreground program for `pane_current_command`, which is most of the query's
  /// cost with many panes, and callers that read `/proc` anyway can skip it.
  static func format(withCommand: Bool = true) -> String {
    let plain = variables.map { "#{\($0)}" }
    let command = withCommand ? "#{s/[\u{01}-\u{1f}\u{7f}]/?/:pane_current_command}" : ""
    return (plain + [command]).joined(separator: String(separator))
  }

  static var format: String { format() }

  /// Parses `list-panes -a -F format` output; `.failed` naming the offending line when a
  /// line does not have the expected shape.
  static func parse(_ text: String) -> Result<TmuxListing, TmuxError> {
    parse(Array(text.utf8))
  }

  /// The same over tmux's bytes, with a String made only for the fields that are text: this
  /// runs on every `fleet ps`, for every pane on the server.
  static func parse(_ output: [UInt8]) -> Result<TmuxListing, TmuxError> {
    output.withUnsafeBufferPointer { bytes in
      var version: String? = nil
      var panes: [TmuxPane] = []
      var fields = [Range<Int>](repeating: 0..<0, count: fieldCount)
      var start = 0
      while start < bytes.count {
        var end = start
        while end < bytes.count, bytes[end] != 0x0a { end += 1 }
        defer { start = end + 1 }
        if end == start { continue }
        // At most fieldCount fields: the last one (the command) keeps any separator.
        var count = 0
        var from = start
        for i in start..<end where bytes[i] == 0x1f && count < fieldCount - 1 {
          fields[count] = from..<i
          count += 1
          from = i + 1
        }
        fields[count] = from..<end
        count += 1
        func string(_ k: Int) -> String { String(decoding: bytes[fields[k]], as: UTF8.self) }
        func int(_ k: Int) -> Int? { Self.integer(bytes[fields[k]]) }
        func flag(_ k: Int) -> Bool { fields[k].count == 1 && bytes[fields[k].lowerBound] == 0x31 }
        guard count == fieldCount, !fields[4].isEmpty, bytes[fields[4].lowerBound] == 0x25,
          let window = int(2), let pane = int(3)
        else {
          let line = String(decoding: bytes[start..<end], as: UTF8.self)
          return .failure(.failed("unexpected list-panes output: \(printable(line))"))
        }
        if version == nil, !fields[0].isEmpty { version = string(0) }
        panes.append(
          TmuxPane(
            session: string(1), paneId: string(4), panePid: int(5).flatMap { Int32(exactly: $0) },
            dead: flag(6), deadStatus: int(7), deadSignal: int(8), currentCommand: string(19),
            tty: string(9), width: int(10), height: int(11), windowActivity: int(12),
            inMode: (int(13) ?? 0) > 0, mode: fields[14].isEmpty ? nil : string(14),
            inputOff: flag(15), cursorX: int(16), cursorY: int(17), alternateOn: flag(18),
            windowIndex: window, paneIndex: pane))
      }
      return .success(TmuxListing(version: version, panes: panes))
    }
  }

  /// A decimal integer (an optional `-` and digits, as `Int(String)` reads it), nil otherwise.
  static func integer(_ digits: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
    var i = digits.startIndex
    let negative = i < digits.endIndex && digits[i] == 0x2d
    if negative || (i < digits.endIndex && digits[i] == 0x2b) { i += 1 }
    guard i < digits.endIndex, digits.endIndex - i <= 18 else {
      return i < digits.endIndex ? Int(String(decoding: digits, as: UTF8.self)) : nil
    }
    var value = 0
    while i < digits.endIndex {
      let d = Int(digits[i]) - 0x30
      guard d >= 0, d <= 9 else { return nil }
      value = value * 10 + d
      i += 1
    }
    return negative ? -value : value
  }

  /// A line for an error message: control characters shown as `?`, at most 120 characters.
  static func printable(_ s: String) -> String {
    let clean = String(
      s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
    return clean.count > 120 ? String(clean.prefix(120)) + "..." : clean
  }
}
