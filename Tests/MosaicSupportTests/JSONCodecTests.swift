import MosaicSupport
import XCTest

/// The hand-written JSON codec at its edges: what it must refuse (with the byte offset), what
/// it must keep exactly, and that whatever it writes reads back the same.
final class JSONCodecTests: XCTestCase {
  func decodeError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line)
    -> JSONCodec.DecodeError?
  {
    do {
      let v = try JSONCodec.decode(bytes)
      XCTFail(
        "decoded a \(v.arrayValue != nil ? "array" : "value") from \(bytes.count) bytes",
        file: file, line: line)
      return nil
    } catch {
      return error
    }
  }

  func decodeError(_ text: String, file: StaticString = #filePath, line: UInt = #line)
    -> JSONCodec.DecodeError?
  {
    decodeError(Array(text.utf8), file: file, line: line)
  }

  func testScalarsAndOrder() throws {
    let v = try JSONCodec.decode(
      #" { "b" : [1, -2, 3.5, -0.25e2, true, false, null, "x"], "a": {}, "c": [] } "#)
    guard case .object(let pairs) = v else { return XCTFail("\(v)") }
    XCTAssertEqual(pairs.map(\.0), ["b", "a", "c"], "key order is kept")
    XCTAssertEqual(
      v["b"],
      .array([
        .int(1), .int(-2), .double(3.5), .double(-25), .bool(true), .bool(false), .null,
        .string("x"),
      ]))
    XCTAssertEqual(JSONCodec.encode(v), #"{"b":[1,-2,3.5,-25,true,false,null,"x"],"a":{},"c":[]}"#)
    // A duplicate key: the last value, at the first key's place (as Lua tables would keep it).
    let dup = try JSONCodec.decode(#"{"k":1,"j":2,"k":3}"#)
    XCTAssertEqual(JSONCodec.encode(dup), #"{"k":3,"j":2}"#)
  }

  func testInvalidUTF8IsRefusedInStringsAndAnywhereElse() {
    // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate encoded in
    // UTF-8, a code point past U+10FFFF: all inside a string.
    for bad: [UInt8] in [
      [0x80], [0xE2, 0x82], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF],
    ] {
      let e = decodeError([0x22] + bad + [0x22])
      XCTAssertEqual(e?.message, "invalid UTF-8 in string", "\(bad)")
    }
    // Outside a string, a stray byte is no value.
    XCTAssertEqual(decodeError([0xFF])?.message, "unexpected character")
    XCTAssertEqual(decodeError([0x5B, 0x31, 0x2C, 0xFE, 0x5D])?.offset, 3)
    // Valid multi-byte text passes through unchanged, also as a key.
    let text = "h\u{E9}llo \u{4E16}\u{754C} \u{1F600}"
    let v = try? JSONCodec.decode("{\"\(text)\": \"\(text)\"}")
    XCTAssertEqual(v?[text]?.stringValue, text)
    XCTAssertEqual(JSONCodec.encode(.string(text)), "\"\(text)\"", "not escaped on output")
  }

  func testEscapesAndSurrogates() throws {
    let v = try JSONCodec.decode(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u4e16\ud83d\ude00""#)
    XCTAssertEqual(v.stringValue, "\"\\/\u{08}\u{0C}\n\r\tA\u{E9}\u{4E16}\u{1F600}")
    // A lone surrogate cannot be a scalar: it becomes U+FFFD, the string stays valid.
    XCTAssertEqual(try JSONCodec.decode(#""\ud800x""#).stringValue, "\u{FFFD}x")
    XCTAssertEqual(try JSONCodec.decode(#""\udc00""#).stringValue, "\u{FFFD}")
    XCTAssertEqual(decodeError(#""\ud800\u0041""#)?.message, "bad surrogate pair")
    XCTAssertEqual(decodeError(#""\u12""#)?.message, #"short \u escape"#)
    XCTAssertEqual(decodeError(#""\u12G4""#)?.message, #"bad hex digit in \u escape"#)
    XCTAssertEqual(decodeError(#""\x""#)?.message, "bad escape")
    XCTAssertEqual(decodeError("\"a\nb\"")?.message, "control character in string")
    XCTAssertEqual(decodeError("\"abc")?.message, "unterminated string")
    XCTAssertEqual(decodeError("\"abc\\")?.message, "unterminated escape")
    // Every control character and DEL are escaped on output and read back.
    let controls = String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7F}\"\\"
    let encoded = JSONCodec.encode(.string(controls))
    XCTAssertFalse(encoded.utf8.dropFirst().dropLast().contains { $0 < 0x20 || $0 == 0x7F })
    XCTAssertTrue(encoded.contains("\\u0000") && encoded.contains("\\u007f"), encoded)
    XCTAssertEqual(try JSONCodec.decode(encoded).stringValue, controls)
  }

  func testDeepNestingIsRefusedNotACrash() {
    // 512 levels read; 513 are refused, and 100 000 do not overflow the stack.
    let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
    XCTAssertNoThrow(try JSONCodec.decode(ok))
    let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
    XCTAssertEqual(decodeError(deep)?.message, "nesting too deep")
    XCTAssertEqual(decodeError(deep)?.offset, 512)
    let huge =
      String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000)
    XCTAssertEqual(decodeError(huge)?.message, "nesting too deep")
    // Deep but legal values encode and read back.
    var v = JSONValue.int(7)
    for i in 0..<500 { v = i % 2 == 0 ? .array([v]) : .object([("k", v)]) }
    XCTAssertEqual(try JSONCodec.decode(JSONCodec.encode(v)), v)
    XCTAssertEqual(try JSONCodec.decode(JSONCodec.encode(v, indent: 2)), v)
  }

  func testHugeAndOddNumbers() throws {
    XCTAssertEqual(try JSONCodec.decode("9223372036854775807"), .int(Int64.max))
    XCTAssertEqual(try JSONCodec.decode("-9223372036854775808"), .int(Int64.min))
    // Past Int64: a double, never a wrapped integer or a trap.
    let big = try JSONCodec.decode("9223372036854775808")
    guard case .double(let d) = big else { return XCTFail("\(big)") }
    XCTAssertEqual(d, 9_223_372_036_854_775_808.0)
    XCTAssertNil(big.intValue, "9.2e18 does not fit an Int64 conversion")
    XCTAssertEqual(
      try JSONCodec.decode("123456789012345678901234567890").doubleValue, 1.2345678901234568e29)
    // Out of double's range: infinity, which is written back as null (never invalid JSON).
    let inf = try JSONCodec.decode("1e400")
    XCTAssertEqual(inf.doubleValue, .infinity)
    XCTAssertEqual(
      JSONCodec.encode(.array([inf, .double(-.infinity), .double(.nan)])), "[null,null,null]")
    XCTAssertEqual(try JSONCodec.decode("1e-400").doubleValue, 0)
    XCTAssertEqual(try JSONCodec.decode("-0"), .int(0))
    XCTAssertEqual(try JSONCodec.decode("1E+2"), .double(100))
    // Integral doubles print without a fraction below 1e15, exactly above.
    XCTAssertEqual(JSONCodec.encode(.double(3)), "3")
    XCTAssertEqual(JSONCodec.encode(.double(1e15)), "1000000000000000.0")
    XCTAssertEqual(JSONCodec.encode(.double(1e16)), "1e+16")
    XCTAssertEqual(try JSONCodec.decode(JSONCodec.encode(.double(0.1))).doubleValue, 0.1)
    XCTAssertEqual(try JSONCodec.decode(JSONCodec.encode(.double(1e300))).doubleValue, 1e300)
    let tiny = Double.leastNonzeroMagnitude
    XCTAssertEqual(try JSONCodec.decode(JSONCodec.encode(.double(tiny))).doubleValue, tiny)
    for bad in [
      "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "--1", "1.2.3",
    ] {
      XCTAssertNotNil(decodeError(bad), bad)
    }
    XCTAssertEqual(decodeError("01")?.message, "leading zero")
  }

  func testStructureErrorsNameTheByte() {
    XCTAssertEqual(decodeError("")?.message, "unexpected end of input")
    XCTAssertEqual(decodeError("   ")?.offset, 3)
    XCTAssertEqual(decodeError("[1 2]")?.message, "expected ',' or ']'")
    XCTAssertEqual(decodeError("[1 2]")?.offset, 3)
    XCTAssertEqual(decodeError("[1,]")?.message, "unexpected character")
    XCTAssertEqual(decodeError("{\"a\" 1}")?.message, "expected ':'")
    XCTAssertEqual(decodeError("{1:2}")?.message, "expected a string key")
    XCTAssertEqual(decodeError("{\"a\":1,}")?.message, "expected a string key")
    XCTAssertEqual(decodeError("{\"a\":1")?.message, "unexpected end of input")
    XCTAssertEqual(decodeError("[1] x")?.message, "unexpected trailing characters")
    XCTAssertEqual(decodeError("[1] x")?.offset, 4)
    XCTAssertEqual(decodeError("tru")?.message, "invalid literal")
    XCTAssertEqual(decodeError("nul")?.message, "invalid literal")
    XCTAssertEqual(decodeError("[1] x")?.description, "unexpected trailing characters at byte 4")
    // A NUL byte is no whitespace.
    XCTAssertNotNil(decodeError([0x31, 0x00]))
  }

  func testIndentedOutput() throws {
    let v = JSONValue.object([("a", .array([.int(1), .object([])])), ("b", .array([]))])
    XCTAssertEqual(
      JSONCodec.encode(v, indent: 2),
      """
      {
        "a": [
          1,
          {}
        ],
        "b": []
      }
      """)
  }

  func testAccessors() {
    let v = JSONValue.object([("n", .double(3)), ("s", .string("x")), ("z", .null)])
    XCTAssertEqual(v["n"]?.intValue, 3, "an integral double reads as an int")
    XCTAssertNil(JSONValue.double(3.5).intValue)
    XCTAssertNil(JSONValue.double(1e19).intValue, "out of Int64's range: nil, not a trap")
    XCTAssertEqual(JSONValue.int(2).doubleValue, 2)
    XCTAssertEqual(JSONValue.int(2), .double(2))
    XCTAssertTrue(v["z"]?.isNull == true)
    XCTAssertNil(v["missing"])
    XCTAssertNil(JSONValue.array([])["a"])
    XCTAssertEqual(JSONValue.from(nil as String?), .null)
    XCTAssertEqual(JSONValue.from(4 as Int?), .int(4))
  }
}
