// Cutting one line of `capture-pane -e` output to a window of columns, so it can be drawn
// on its own at any place of the operator's terminal.

/// One line, cut to a range of columns, ready to draw.
struct CutLine: Equatable {
  /// Escape sequences and text: the rendition in force where the cut starts, then the
  /// visible part. The caller resets the rendition after it.
  var bytes: [UInt8] = []
  /// How many terminal columns the text fills.
  var width = 0
}

enum WatchLine {
  /// Cuts `line` to the columns `left ..< left + columns`, carrying `state` (the rendition
  /// in force at the line's start) to the line's end. Escape sequences other than SGR (and
  /// C0 controls) are dropped; SGR sequences inside the cut pass through as they are. A
  /// wide character cut in half by an edge becomes spaces; invalid UTF-8 shows as `?`.
  static func cut(_ line: [UInt8], state: inout SGRState, left: Int, columns: Int) -> CutLine {
    var out = CutLine()
    let right = left + columns
    var col = 0
    var emitting = false
    var i = 0
    let n = line.count

    func begin() {
      if !emitting {
        emitting = true
        if !state.isDefault { out.bytes += state.sequence() }
      }
    }

    while i < n {
      let b = line[i]
      if b == 0x1B {
        // ESC: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), or a two-byte escape.
        guard i + 1 < n else { break }
        let kind = line[i + 1]
        if kind == UInt8(ascii: "[") {
          var j = i + 2
          while j < n, !(0x40...0x7E).contains(line[j]) { j += 1 }
          guard j < n else { break }
          if line[j] == UInt8(ascii: "m") {
            state.apply(line[(i + 2)..<j])
            if emitting, col < right { out.bytes += line[i...j] }
          }
          i = j + 1
        } else if kind == UInt8(ascii: "]") {
          var j = i + 2
          while j < n, line[j] != 0x07, !(line[j] == 0x1B && j + 1 < n && line[j + 1] == 0x5C) {
            j += 1
          }
          i = j < n && line[j] == 0x1B ? j + 2 : j + 1
        } else {
          i += 2
        }
        continue
      }
      if b < 0x20 || b == 0x7F {
        i += 1
        continue
      }
      // One character: ASCII, or a UTF-8 sequence.
      var scalar = UInt32(b)
      var length = 1
      var valid = true
      if b >= 0x80 {
        (scalar, length, valid) = decode(line, at: i)
      }
      let w = valid ? columnsOf(scalar) : 1
      if w == 0 {
        // A combining mark belongs to the character before it.
        if emitting, col > left, col <= right { out.bytes += line[i..<(i + length)] }
        i += length
        continue
      }
      let end = col + w
      if col >= left, end <= right {
        begin()
        if valid {
          out.bytes += line[i..<(i + length)]
        } else {
          out.bytes.append(UInt8(ascii: "?"))
        }
        out.width = end - left
      } else if end > left, col < right {
        // A wide character across an edge: show its visible half as blanks.
        begin()
        let visible = min(end, right) - max(col, left)
        out.bytes += [UInt8](repeating: 0x20, count: visible)
        out.width = min(end, right) - left
      }
      col = end
      i += length
    }
    return out
  }

  /// Decodes the UTF-8 sequence at `i`: the scalar, its length, and whether it was valid
  /// (an invalid lead or continuation byte counts as one byte).
  static func decode(_ s: [UInt8], at i: Int) -> (UInt32, Int, Bool) {
    let b = s[i]
    let length: Int
    var v: UInt32
    switch b {
    case 0xC2...0xDF:
      length = 2
      v = UInt32(b & 0x1F)
    case 0xE0...0xEF:
      length = 3
      v = UInt32(b & 0x0F)
    case 0xF0...0xF4:
      length = 4
      v = UInt32(b & 0x07)
    default: return (0xFFFD, 1, false)
    }
    guard i + length <= s.count else { return (0xFFFD, 1, false) }
    for k in 1..<length {
      let c = s[i + k]
      guard c & 0xC0 == 0x80 else { return (0xFFFD, 1, false) }
      v = v << 6 | UInt32(c & 0x3F)
    }
    return (v, length, true)
  }

  /// Terminal columns a character takes: 0 for combining marks and zero-width characters,
  /// 2 for East Asian wide and fullwidth characters and most emoji, 1 otherwise. A compact
  /// table of the main ranges (tmux's own wcwidth may differ on rare characters).
  static func columnsOf(_ c: UInt32) -> Int {
    if c < 0x300 { return 1 }
    for r in zeroWidth where r.contains(c) { return 0 }
    for r in wide where r.contains(c) { return 2 }
    return 1
  }

  private static let zeroWidth: [ClosedRange<UInt32>] = [
    0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x0610...0x061A, 0x064B...0x065F,
    0x0E31...0x0E31, 0x0E34...0x0E3A, 0x0E47...0x0E4E, 0x1AB0...0x1AFF, 0x1DC0...0x1DFF,
    0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2064, 0x20D0...0x20FF, 0xFE00...0xFE0F,
    0xFE20...0xFE2F, 0xFEFF...0xFEFF, 0xE0100...0xE01EF,
  ]

  private static let wide: [ClosedRange<UInt32>] = [
    0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0,
    0x23F3...0x23F3, 0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F,
    0x2693...0x2693, 0x26A1...0x26A1, 0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5,
    0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA, 0x26F2...0x26F3, 0x26F5...0x26F5,
    0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B, 0x2728...0x2728,
    0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
    0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55,
    0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
    0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
    0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4, 0x17000...0x18CFF, 0x1B000...0x1B2FF,
    0x1F004...0x1F004, 0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E, 0x1F191...0x1F19A,
    0x1F200...0x1F251, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C,
    0x1F37E...0x1F393, 0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0,
    0x1F3F4...0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440...0x1F440, 0x1F442...0x1F4FC,
    0x1F4FF...0x1F53D, 0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A...0x1F57A,
    0x1F595...0x1F596, 0x1F5A4...0x1F5A4, 0x1F5FB...0x1F64F, 0x1F680...0x1F6C5,
    0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7, 0x1F6EB...0x1F6EC,
    0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F90C...0x1F93A, 0x1F93C...0x1F945,
    0x1F947...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
  ]
}
