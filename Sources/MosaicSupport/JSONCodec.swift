/// A strict JSON reader and a compact or indented writer for `JSONValue`.
///
/// Hand-written so the binary does not load all of Foundation: startup time and resident
/// memory are product goals (SPEC 2.4 and the foundation issue).
public enum JSONCodec {
  public struct DecodeError: Error, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
  }

  // MARK: Encoding

  /// Encodes `value`. With `indent` > 0, objects and arrays are spread over lines.
  public static func encode(_ value: JSONValue, indent: Int = 0) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(1024)
    write(value, into: &out, indent: indent, level: 0)
    return String(decoding: out, as: UTF8.self)
  }

  private static func append(_ s: StaticString, _ out: inout [UInt8]) {
    s.withUTF8Buffer { out.append(contentsOf: $0) }
  }

  /// Appends `value` to `out`, as the member of a document nested `level` deep (its lines
  /// indented to match): how a caller builds one large document from parts.
  public static func write(_ value: JSONValue, into out: inout [UInt8], indent: Int, level: Int) {
    switch value {
    case .null: append("null", &out)
    case .bool(let b): b ? append("true", &out) : append("false", &out)
    case .int(let i): out.append(contentsOf: String(i).utf8)
    case .double(let d): out.append(contentsOf: formatDouble(d).utf8)
    case .string(let s): writeString(s, into: &out)
    case .array(let items):
      if items.isEmpty {
        append("[]", &out)
        return
      }
      out.append(UInt8(ascii: "["))
      for (n, item) in items.enumerated() {
        if n > 0 { out.append(UInt8(ascii: ",")) }
        newline(&out, indent: indent, level: level + 1)
        write(item, into: &out, indent: indent, level: level + 1)
      }
      newline(&out, indent: indent, level: level)
      out.append(UInt8(ascii: "]"))
    case .object(let pairs):
      if pairs.isEmpty {
        append("{}", &out)
        return
      }
      out.append(UInt8(ascii: "{"))
      for (n, (key, item)) in pairs.enumerated() {
        if n > 0 { out.append(UInt8(ascii: ",")) }
        newline(&out, indent: indent, level: level + 1)
        writeString(key, into: &out)
        out.append(UInt8(ascii: ":"))
        if indent > 0 { out.append(UInt8(ascii: " ")) }
        write(item, into: &out, indent: indent, level: level + 1)
      }
      newline(&out, indent: indent, level: level)
      out.append(UInt8(ascii: "}"))
    }
  }

  /// The break before a member at `level` (nothing when `indent` is 0).
  public static func newline(_ out: inout [UInt8], indent: Int, level: Int) {
    guard indent > 0 else { return }
    out.append(0x0A)
    out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * level))
  }

  /// Numbers: integral values print without a fraction, others with enough digits to
  /// round-trip; NaN and infinities (not JSON) print as null.
  public static func formatDouble(_ d: Double) -> String {
    guard d.isFinite else { return "null" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
  }

  public static func writeString(_ s: String, into out: inout String) {
    var bytes: [UInt8] = []
    writeString(s, into: &bytes)
    out += String(decoding: bytes, as: UTF8.self)
  }

  /// A JSON string literal: quotes, backslashes and control characters escaped; other
  /// UTF-8 bytes (the string is valid UTF-8) copied as they are.
  public static func writeString(_ s: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    var s = s
    s.withUTF8 { bytes in
      var start = 0
      for (i, b) in bytes.enumerated() where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F {
        out.append(contentsOf: bytes[start..<i])
        start = i + 1
        switch b {
        case 0x22: append("\\\"", &out)
        case 0x5C: append("\\\\", &out)
        case 0x0A: append("\\n", &out)
        case 0x0D: append("\\r", &out)
        case 0x09: append("\\t", &out)
        case 0x08: append("\\b", &out)
        case 0x0C: append("\\f", &out)
        default:
          let hex = Array("0123456789abcdef".utf8)
          append("\\u00", &out)
          out.append(hex[Int(b >> 4)])
          out.append(hex[Int(b & 0xF)])
        }
      }
      out.append(contentsOf: bytes[start..<bytes.count])
    }
    out.append(UInt8(ascii: "\""))
  }

  // MARK: Decoding

  public static func decode(_ text: String) throws(DecodeError) -> JSONValue {
    try decode(Array(text.utf8))
  }

  public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> JSONValue {
    var parser = Parser(bytes: bytes)
    parser.skipSpace()
    let value = try parser.parseValue(depth: 0)
    parser.skipSpace()
    guard parser.pos == bytes.count else {
      throw DecodeError(message: "unexpected trailing characters", offset: parser.pos)
    }
    return value
  }

  private struct Parser {
    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpace() {
      while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    func fail(_ message: String) -> DecodeError { DecodeError(message: message, offset: pos) }

    mutating func expect(_ literal: String, _ value: JSONValue) throws(DecodeError) -> JSONValue {
      let lit = Array(literal.utf8)
      guard pos + lit.count <= bytes.count, Array(bytes[pos..<pos + lit.count]) == lit else {
        throw fail("invalid literal")
      }
      pos += lit.count
      return value
    }

    mutating func parseValue(depth: Int) throws(DecodeError) -> JSONValue {
      guard depth < 512 else { throw fail("nesting too deep") }
      guard pos < bytes.count else { throw fail("unexpected end of input") }
      switch bytes[pos] {
      case UInt8(ascii: "{"): return try parseObject(depth: depth)
      case UInt8(ascii: "["): return try parseArray(depth: depth)
      case UInt8(ascii: "\""): return .string(try parseString())
      case UInt8(ascii: "t"): return try expect("true", .bool(true))
      case UInt8(ascii: "f"): return try expect("false", .bool(false))
      case UInt8(ascii: "n"): return try expect("null", .null)
      default: return try parseNumber()
      }
    }

    mutating func parseObject(depth: Int) throws(DecodeError) -> JSONValue {
      pos += 1
      var pairs: [(String, JSONValue)] = []
      skipSpace()
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
        pos += 1
        return .object(pairs)
      }
      while true {
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
          throw fail("expected a string key")
        }
        let key = try parseString()
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        pos += 1
        skipSpace()
        let value = try parseValue(depth: depth + 1)
        if let i = pairs.firstIndex(where: { $0.0 == key }) {
          pairs[i].1 = value
        } else {
          pairs.append((key, value))
        }
        skipSpace()
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        if bytes[pos] == UInt8(ascii: ",") {
          pos += 1
          continue
        }
        guard bytes[pos] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
        pos += 1
        return .object(pairs)
      }
    }

    mutating func parseArray(depth: Int) throws(DecodeError) -> JSONValue {
      pos += 1
      var items: [JSONValue] = []
      skipSpace()
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
        pos += 1
        return .array(items)
      }
      while true {
        skipSpace()
        items.append(try parseValue(depth: depth + 1))
        skipSpace()
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        if bytes[pos] == UInt8(ascii: ",") {
          pos += 1
          continue
        }
        guard bytes[pos] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
        pos += 1
        return .array(items)
      }
    }

    mutating func parseHex4() throws(DecodeError) -> UInt32 {
      guard pos + 4 <= bytes.count else { throw fail("short \\u escape") }
      var v: UInt32 = 0
      for _ in 0..<4 {
        let c = bytes[pos]
        let d: UInt32
        switch c {
        case 0x30...0x39: d = UInt32(c - 0x30)
        case 0x41...0x46: d = UInt32(c - 0x41 + 10)
        case 0x61...0x66: d = UInt32(c - 0x61 + 10)
        default: throw fail("bad hex digit in \\u escape")
        }
        v = v * 16 + d
        pos += 1
      }
      return v
    }

    mutating func parseString() throws(DecodeError) -> String {
      pos += 1
      var out: [UInt8] = []
      while true {
        guard pos < bytes.count else { throw fail("unterminated string") }
        let c = bytes[pos]
        pos += 1
        if c == UInt8(ascii: "\"") { break }
        if c < 0x20 { throw fail("control character in string") }
        if c != UInt8(ascii: "\\") {
          out.append(c)
          continue
        }
        guard pos < bytes.count else { throw fail("unterminated escape") }
        let e = bytes[pos]
        pos += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
          var code = try parseHex4()
          if (0xD800..<0xDC00).contains(code), pos + 1 < bytes.count,
            bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
          {
            pos += 2
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw fail("bad surrogate pair") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          }
          let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
          out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: throw fail("bad escape")
        }
      }
      guard let s = String(validating: out, as: UTF8.self) else {
        throw fail("invalid UTF-8 in string")
      }
      return s
    }

    mutating func parseNumber() throws(DecodeError) -> JSONValue {
      let start = pos
      var isInt = true
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
      let digitsStart = pos
      while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
      guard pos > digitsStart else { throw fail("unexpected character") }
      if bytes[digitsStart] == 0x30, pos - digitsStart > 1 { throw fail("leading zero") }
      if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
        isInt = false
        pos += 1
        let f = pos
        while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
        guard pos > f else { throw fail("digit expected after '.'") }
      }
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
        isInt = false
        pos += 1
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") {
          pos += 1
        }
        let e = pos
        while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
        guard pos > e else { throw fail("digit expected in exponent") }
      }
      let text = String(decoding: bytes[start..<pos], as: UTF8.self)
      if isInt, let i = Int64(text) { return .int(i) }
      guard let d = Double(text) else { throw fail("bad number") }
      return .double(d)
    }
  }
}
