import MosaicSupport

/// One look at a pane: its rows as `capture-pane -p` prints them (with or without the
/// colour escapes) and the cursor, size and state `display-message` reports for the same
/// moment. Taken by one tmux invocation that attaches no client (`TmuxClient.capture`).
public struct PaneCapture: Sendable, Equatable {
  /// `%N`.
  public var paneId: String
  public var width: Int
  public var height: Int
  /// The cursor, 0-based, in the visible pane.
  public var cursorX: Int
  public var cursorY: Int
  /// `cursor_flag`: the program shows its cursor.
  public var cursorVisible: Bool
  /// `alternate_on`: the program is on the alternate screen (a full-screen TUI).
  public var alternateOn: Bool
  /// `pane_dead`: the program exited and the pane remains.
  public var dead: Bool
  /// `pane_dead_status`, when the pane is dead and its program exited.
  public var deadStatus: Int?
  /// `pane_in_mode`: copy mode or another mode is on (the capture still shows the program's
  /// screen).
  public var inMode: Bool
  /// `history_size`: lines of scrollback the pane holds.
  public var historySize: Int
  /// Whether `lines` carry `capture-pane -e` escape sequences (SGR colours and attributes,
  /// which carry over from one line to the next).
  public var escapes: Bool
  /// The captured lines without their newlines: `lines.count - height` lines of history
  /// (oldest first) when history was asked for, then one line per visible row.
  public var lines: [[UInt8]]

  public init(
    paneId: String, width: Int, height: Int, cursorX: Int, cursorY: Int,
    cursorVisible: Bool = true, alternateOn: Bool = false, dead: Bool = false,
    deadStatus: Int? = nil, inMode: Bool = false, historySize: Int = 0, escapes: Bool = false,
    lines: [[UInt8]]
  ) {
    self.paneId = paneId
    self.width = width
    self.height = height
    self.cursorX = cursorX
    self.cursorY = cursorY
    self.cursorVisible = cursorVisible
    self.alternateOn = alternateOn
    self.dead = dead
    self.deadStatus = deadStatus
    self.inMode = inMode
    self.historySize = historySize
    self.escapes = escapes
    self.lines = lines
  }

  /// The visible rows (the last `height` lines).
  public var screen: ArraySlice<[UInt8]> { lines.suffix(height) }

  /// The lines joined, each ending in a newline (what `capture-pane -p` printed).
  public var text: [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
    for line in lines {
      out += line
      out.append(0x0A)
    }
    return out
  }
}

/// Why a pane could not be captured.
public enum PaneCaptureError: Error, Sendable, Equatable, CustomStringConvertible {
  /// tmux does not know the pane (its session ended, or it was killed).
  case paneGone(String)
  /// No tmux server runs on the socket.
  case serverAbsent(String)
  /// tmux failed or did not answer in time; the capture may work next time.
  case failed(String)

  public var description: String {
    switch self {
    case .paneGone(let pane): return "pane \(pane) is gone (its session ended or was killed)"
    case .serverAbsent(let socket): return "no tmux server is running on socket \(socket)"
    case .failed(let message): return message
    }
  }
}

extension PaneCapture {
  /// Parses the output of `TmuxArgv.capture`: the meta line, then the captured lines.
  static func parse(_ out: [UInt8], paneId: String, escapes: Bool) -> Result<
    PaneCapture, PaneCaptureError
  > {
    guard let nl = out.firstIndex(of: 0x0A) else {
      return .failure(.failed("tmux capture-pane: unexpected output (no pane description)"))
    }
    let meta = String(decoding: out[..<nl], as: UTF8.self)
    let f = meta.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard f.count == 11, f[0] == TmuxArgv.captureTag, let width = Int(f[1]), let height = Int(f[2]),
      width > 0, height > 0
    else {
      if meta == TmuxArgv.captureTag + "::::::::::" { return .failure(.paneGone(paneId)) }
      return .failure(
        .failed("tmux capture-pane: unexpected output: \(ListPanesFormat.printable(meta))"))
    }
    var lines: [[UInt8]] = []
    lines.reserveCapacity(height)
    var start = nl + 1
    var i = start
    while i < out.count {
      if out[i] == 0x0A {
        lines.append(Array(out[start..<i]))
        start = i + 1
      }
      i += 1
    }
    if start < out.count { lines.append(Array(out[start...])) }
    // A pane always has `height` rows; pad if tmux printed fewer (it never should).
    while lines.count < height { lines.append([]) }
    return .success(
      PaneCapture(
        paneId: paneId, width: width, height: height, cursorX: Int(f[3]) ?? 0,
        cursorY: Int(f[4]) ?? 0, cursorVisible: f[5] != "0", alternateOn: f[6] == "1",
        dead: f[7] == "1", deadStatus: Int(f[8]), inMode: (Int(f[9]) ?? 0) > 0,
        historySize: Int(f[10]) ?? 0, escapes: escapes, lines: lines))
  }
}
