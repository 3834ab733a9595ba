import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The operator's terminal while `agent watch` owns it: raw input (so `q`, Ctrl-C and
/// Ctrl-D arrive as bytes and every other key can be ignored), the alternate screen, no
/// cursor, no autowrap, bracketed paste (so a pasted `q` does not quit). `leave()` puts
/// everything back and is safe to call more than once.
final class WatchTerminal {
  let input: Int32
  let output: Int32
  private var saved: termios? = nil
  private(set) var active = false

  /// Alternate screen, hide cursor, no autowrap, bracketed paste on, clear.
  static let enterSequence =
    "\u{1B}[?1049h\u{1B}[?25l\u{1B}[?7l\u{1B}[?2004h\u{1B}[0m\u{1B}[H\u{1B}[2J"
  /// Reset rendition, bracketed paste off, autowrap on, cursor shown, normal screen.
  static let leaveSequence = "\u{1B}[0m\u{1B}[?2004l\u{1B}[?7h\u{1B}[?25h\u{1B}[?1049l"

  init(input: Int32, output: Int32) {
    self.input = input
    self.output = output
  }

  /// Whether input is a terminal we can put in raw mode.
  var inputIsTerminal: Bool { isatty(input) == 1 }

  func enter() {
    if inputIsTerminal, saved == nil {
      var t = termios()
      if tcgetattr(input, &t) == 0 {
        saved = t
        var raw = t
        cfmakeraw(&raw)
        // cfmakeraw: no echo, no line editing, no signals from keys, reads return at
        // once (VMIN 1). Output processing stays as it was.
        raw.c_oflag = t.c_oflag
        _ = tcsetattr(input, TCSANOW, &raw)
      }
    }
    _ = write(Array(Self.enterSequence.utf8))
    active = true
  }

  func leave() {
    guard active else { return }
    active = false
    _ = write(Array(Self.leaveSequence.utf8))
    if var t = saved {
      _ = tcsetattr(input, TCSADRAIN, &t)
      saved = nil
    }
  }

  /// Rows and columns of the output terminal (nil when it is not one).
  func size() -> (rows: Int, columns: Int)? {
    var ws = winsize()
    guard ioctl(output, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0, ws.ws_col > 0 else {
      return nil
    }
    return (Int(ws.ws_row), Int(ws.ws_col))
  }

  /// Writes all of `bytes`; false when the output is gone (EPIPE, EIO, ...).
  @discardableResult
  func write(_ bytes: [UInt8]) -> Bool {
    WatchTerminal.writeAll(output, bytes)
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
      if n < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN {
          var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
          _ = poll(&p, 1, 100)
          continue
        }
        return false
      }
      off += n
    }
    return true
  }

  /// Whether the locale asks for UTF-8 (for the line-drawing edges).
  static func localeIsUTF8() -> Bool {
    for name in ["LC_ALL", "LC_CTYPE", "LANG"] {
      if let v = Environment.nonEmpty(name) {
        let u = v.uppercased()
        return u.contains("UTF-8") || u.contains("UTF8")
      }
    }
    return false
  }
}

/// Reads the operator's keys: `q`, `Q`, Ctrl-C and Ctrl-D mean quit; everything else,
/// including escape sequences (arrows, mouse, focus reports) and bracketed pastes, is
/// dropped. Nothing read here goes anywhere else.
struct WatchKeys {
  private enum Mode { case normal, escape, csi, ss3, paste }
  private var mode = Mode.normal
  private var csi: [UInt8] = []
  /// The last bytes inside a paste, to find its end marker `ESC [ 2 0 1 ~`.
  private var tail: [UInt8] = []

  /// Feeds bytes read from the terminal; true when they ask to quit.
  mutating func feed(_ bytes: ArraySlice<UInt8>) -> Bool {
    for b in bytes {
      switch mode {
      case .normal:
        switch b {
        case UInt8(ascii: "q"), UInt8(ascii: "Q"), 0x03, 0x04: return true
        case 0x1B: mode = .escape
        default: break
        }
      case .escape:
        switch b {
        case UInt8(ascii: "["):
          mode = .csi
          csi = []
        case UInt8(ascii: "O"): mode = .ss3
        case 0x1B: mode = .escape
        default: mode = .normal  // Alt+key: ignored
        }
      case .ss3:
        mode = .normal
      case .csi:
        if (0x40...0x7E).contains(b) {
          mode = csi == Array("200".utf8) && b == UInt8(ascii: "~") ? .paste : .normal
          tail = []
        } else if csi.count < 32 {
          csi.append(b)
        }
      case .paste:
        tail.append(b)
        if tail.count > 6 { tail.removeFirst(tail.count - 6) }
        if tail == Array("\u{1B}[201~".utf8) { mode = .normal }
      }
    }
    return false
  }

  /// Called after each read: a lone ESC that no sequence followed was the Escape key.
  mutating func endOfRead() {
    if mode == .escape { mode = .normal }
  }
}
