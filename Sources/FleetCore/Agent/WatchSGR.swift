// Select Graphic Rendition state, so a line cut out of `capture-pane -e` output (where
// colours and attributes carry over from one line to the next) can be drawn on its own.

/// A colour as SGR sets it: none (the terminal's default), a basic code (30-37, 90-97 for
/// the foreground and their background twins), a 256-colour index, or RGB.
enum SGRColor: Equatable {
  case none
  case basic(Int)
  case indexed(Int)
  case rgb(Int, Int, Int)
}

/// The rendition a stream of `ESC [ ... m` sequences leaves behind.
struct SGRState: Equatable {
  struct Attributes: OptionSet, Equatable {
    let rawValue: UInt16
    static let bold = Attributes(rawValue: 1 << 0)
    static let dim = Attributes(rawValue: 1 << 1)
    static let italic = Attributes(rawValue: 1 << 2)
    static let blink = Attributes(rawValue: 1 << 3)
    static let reverse = Attributes(rawValue: 1 << 4)
    static let hidden = Attributes(rawValue: 1 << 5)
    static let strike = Attributes(rawValue: 1 << 6)
    static let overline = Attributes(rawValue: 1 << 7)
  }

  var attributes: Attributes = []
  /// 0 none; 1 single, 2 double, 3 curly, 4 dotted, 5 dashed (`4:N`).
  var underline = 0
  var foreground = SGRColor.none
  var background = SGRColor.none
  var underlineColor = SGRColor.none

  var isDefault: Bool { self == SGRState() }

  /// One sequence that sets this state from any other: `ESC[0;...m`.
  func sequence() -> [UInt8] {
    var s: [UInt8] = [0x1B, 0x5B, 0x30]
    func add(_ n: Int) {
      s.append(0x3B)
      s += Array(String(n).utf8)
    }
    let codes: [(Attributes, Int)] = [
      (.bold, 1), (.dim, 2), (.italic, 3), (.blink, 5), (.reverse, 7), (.hidden, 8),
      (.strike, 9), (.overline, 53),
    ]
    for (a, code) in codes where attributes.contains(a) { add(code) }
    if underline == 1 {
      add(4)
    } else if underline > 1 {
      s += Array(";4:\(underline)".utf8)
    }
    func color(_ c: SGRColor, base: Int) {
      switch c {
      case .none: break
      case .basic(let code): add(code)
      case .indexed(let n):
        add(base)
        add(5)
        add(n)
      case .rgb(let r, let g, let b):
        add(base)
        add(2)
        add(r)
        add(g)
        add(b)
      }
    }
    color(foreground, base: 38)
    color(background, base: 48)
    color(underlineColor, base: 58)
    s.append(UInt8(ascii: "m"))
    return s
  }

  /// Applies the parameters of one `ESC [ params m` (the bytes between `[` and `m`).
  mutating func apply(_ params: ArraySlice<UInt8>) {
    let p = SGRParams(params)
    if p.count == 0 {
      self = SGRState()
      return
    }
    var i = 0
    while i < p.count {
      let code = p.value(i) ?? 0
      switch code {
      case 0: self = SGRState()
      case 1: attributes.insert(.bold)
      case 2: attributes.insert(.dim)
      case 3: attributes.insert(.italic)
      case 4:
        if p.hasSub(i) {
          underline = p.sub(i, 1) ?? 1
        } else {
          underline = 1
        }
      case 5, 6: attributes.insert(.blink)
      case 7: attributes.insert(.reverse)
      case 8: attributes.insert(.hidden)
      case 9: attributes.insert(.strike)
      case 21: underline = 2
      case 22: attributes.subtract([.bold, .dim])
      case 23: attributes.remove(.italic)
      case 24: underline = 0
      case 25: attributes.remove(.blink)
      case 27: attributes.remove(.reverse)
      case 28: attributes.remove(.hidden)
      case 29: attributes.remove(.strike)
      case 30...37, 90...97: foreground = .basic(code)
      case 39: foreground = .none
      case 40...47, 100...107: background = .basic(code)
      case 49: background = .none
      case 53: attributes.insert(.overline)
      case 55: attributes.remove(.overline)
      case 59: underlineColor = .none
      case 38, 48, 58:
        let (color, used) = p.extendedColor(at: i)
        guard let color else { return }  // malformed: ignore the rest, as terminals do
        switch code {
        case 38: foreground = color
        case 48: background = color
        default: underlineColor = color
        }
        i += used
      default: break
      }
      i += 1
    }
  }
}

/// The parameters of one SGR sequence: `;`-separated, each with optional `:` sub-parameters.
struct SGRParams {
  /// Every number in order (-1 for an empty one) and the parameter it belongs to.
  private var numbers: [Int] = []
  private var groups: [Int] = []
  /// Parameters (`;`-separated groups).
  private(set) var count = 0

  init(_ bytes: ArraySlice<UInt8>) {
    if bytes.isEmpty { return }
    var current = -1
    var group = 0
    for b in bytes {
      switch b {
      case 0x30...0x39:
        current = min(max(current, 0), 100_000) * 10 + Int(b - 0x30)
      case 0x3A, 0x3B:  // ':' separates sub-parameters, ';' parameters
        numbers.append(current)
        groups.append(group)
        current = -1
        if b == 0x3B { group += 1 }
      default:
        break
      }
    }
    numbers.append(current)
    groups.append(group)
    count = group + 1
  }

  /// Index of the first number of parameter `g`, or nil.
  private func first(_ g: Int) -> Int? { groups.firstIndex(of: g) }

  /// Parameter `g`'s main value (nil when empty or absent).
  func value(_ g: Int) -> Int? {
    guard let k = first(g), numbers[k] >= 0 else { return nil }
    return numbers[k]
  }

  /// Whether parameter `g` has `:` sub-parameters.
  func hasSub(_ g: Int) -> Bool { subCount(g) > 0 }

  /// Sub-parameter `n` (1-based, after the main value) of parameter `g`.
  func sub(_ g: Int, _ n: Int) -> Int? {
    guard let k = first(g), k + n < numbers.count, groups[k + n] == g, numbers[k + n] >= 0
    else { return nil }
    return numbers[k + n]
  }

  private func subCount(_ g: Int) -> Int {
    guard let k = first(g) else { return 0 }
    var n = 0
    while k + n + 1 < numbers.count, groups[k + n + 1] == g { n += 1 }
    return n
  }

  /// The colour of a 38/48/58 parameter at `g`, in the `:` form (`38:5:N`, `38:2::R:G:B`,
  /// `38:2:R:G:B`) or the `;` form (`38;5;N`, `38;2;R;G;B`), and how many following
  /// parameters the `;` form used.
  func extendedColor(at g: Int) -> (SGRColor?, Int) {
    func clamp(_ v: Int?) -> Int { min(255, max(0, v ?? 0)) }
    if hasSub(g) {
      switch sub(g, 1) {
      case 5?: return (.indexed(clamp(sub(g, 2))), 0)
      case 2?:
        // 38:2:CS:R:G:B (with a colour space id, often empty) or 38:2:R:G:B.
        let o = subCount(g) >= 5 ? 3 : 2
        return (.rgb(clamp(sub(g, o)), clamp(sub(g, o + 1)), clamp(sub(g, o + 2))), 0)
      default: return (nil, 0)
      }
    }
    switch value(g + 1) {
    case 5?:
      guard g + 2 < count else { return (nil, 0) }
      return (.indexed(clamp(value(g + 2))), 2)
    case 2?:
      guard g + 4 < count else { return (nil, 0) }
      return (.rgb(clamp(value(g + 2)), clamp(value(g + 3)), clamp(value(g + 4))), 4)
    default: return (nil, 0)
    }
  }
}
