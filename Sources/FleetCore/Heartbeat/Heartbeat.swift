import MosaicSupport

// Heartbeat protocol v1 (SPEC 2.3): the one-line file format, its parser and its renderer.
#if canImport(Glibc)
  import Glibc
#endif

/// One heartbeat line: `ts=<ISO 8601 UTC> pid=<pid> status=<ok|busy>[ key=value ...]`.
///
/// `ts`, `pid` and `status` are required. The reserved optional keys are `seq`, `interval`,
/// `probe`, `ack` and `progress`; any other `key=value` lands in `extra`, in file order, and
/// is otherwise ignored.
public struct Heartbeat: Sendable, Equatable, CustomStringConvertible {
  /// When the writer wrote the line, seconds since the epoch. Setting it also sets `tsText`.
  public var ts: Double {
    didSet { tsText = ISO8601.format(ts, fractional: true) }
  }
  /// The timestamp exactly as written in the file (what `render()` writes back).
  public private(set) var tsText: String
  /// The process the heartbeat speaks for.
  public var pid: Int32
  /// `ok` or `busy`.
  public var status: String
  /// Increments with each write.
  public var seq: Int64?
  /// The writer's own beat interval in seconds. Informational only: health is judged against
  /// the roster's interval (see `HeartbeatHealth`).
  public var interval: Double?
  /// The nonce of the last probe answered.
  public var probe: String?
  /// The nonce of the last input accepted.
  public var ack: String?
  /// An opaque token that changes when the agent makes progress.
  public var progress: String?
  /// Keys this version does not know, in file order.
  public var extra: [(String, String)]

  /// The keys with a meaning in v1, in the order `render()` writes them.
  public static let reservedKeys = [
    "ts", "pid", "status", "seq", "interval", "probe", "ack", "progress",
  ]

  /// A heartbeat stamped `ts` (the text form gets millisecond precision).
  public init(
    ts: Double, pid: Int32, status: String = "ok", seq: Int64? = nil, interval: Double? = nil,
    probe: String? = nil, ack: String? = nil, progress: String? = nil,
    extra: [(String, String)] = []
  ) {
    self.init(
      ts: ts, tsText: ISO8601.format(ts, fractional: true), pid: pid, status: status, seq: seq,
      interval: interval, probe: probe, ack: ack, progress: progress, extra: extra)
  }

  init(
    ts: Double, tsText: String, pid: Int32, status: String, seq: Int64?, interval: Double?,
    probe: String?, ack: String?, progress: String?, extra: [(String, String)]
  ) {
    self.ts = ts
    self.tsText = tsText
    self.pid = pid
    self.status = status
    self.seq = seq
    self.interval = interval
    self.probe = probe
    self.ack = ack
    self.progress = progress
    self.extra = extra
  }

  public static func == (a: Heartbeat, b: Heartbeat) -> Bool {
    a.ts == b.ts && a.tsText == b.tsText && a.pid == b.pid && a.status == b.status
      && a.seq == b.seq && a.interval == b.interval && a.probe == b.probe && a.ack == b.ack
      && a.progress == b.progress && a.extra.count == b.extra.count
      && zip(a.extra, b.extra).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
  }

  /// All `key=value` pairs in canonical order: ts pid status seq interval probe ack progress,
  /// then the extras.
  public var fields: [(String, String)] {
    var out: [(String, String)] = [("ts", tsText), ("pid", String(pid)), ("status", status)]
    if let seq { out.append(("seq", String(seq))) }
    if let interval { out.append(("interval", HeartbeatParser.formatSeconds(interval))) }
    if let probe { out.append(("probe", probe)) }
    if let ack { out.append(("ack", ack)) }
    if let progress { out.append(("progress", progress)) }
    out.append(contentsOf: extra)
    return out
  }

  /// The value under `key` (reserved or extra), as it would be written.
  public func value(forKey key: String) -> String? {
    fields.first { $0.0 == key }?.1
  }

  /// The canonical line, without the trailing newline (the store adds it). Call `validate()`
  /// first: `render()` does not check that values are free of spaces and newlines.
  public func render() -> String {
    fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
  }

  public var description: String { render() }

  /// Checks that `render()` produces a line every v1 reader accepts and that reads back as
  /// this heartbeat: keys well formed and unique (extras may not reuse reserved keys),
  /// values without spaces, newlines or control characters, reserved values well formed,
  /// the whole line (with its newline) at most `HeartbeatParser.maxBytes`.
  public func validate() throws(HeartbeatParseError) {
    for (key, _) in extra where Heartbeat.reservedKeys.contains(key) {
      throw HeartbeatParseError.reservedKey(key)
    }
    for (key, value) in fields {
      for b in value.utf8 where b <= 0x20 || b == 0x7F {
        throw HeartbeatParseError.badValue(key: key, value: HeartbeatParser.snippet(value))
      }
    }
    if let i = interval, !(i.isFinite && i > 0) {
      throw HeartbeatParseError.badValue(key: "interval", value: String(i))
    }
    if let s = seq, s < 0 { throw HeartbeatParseError.badValue(key: "seq", value: String(s)) }
    let line = Array((render() + "\n").utf8)
    switch HeartbeatParser.parse(line) {
    case .failure(let e): throw e
    case .success: break
    }
  }
}

/// Why a heartbeat line was refused. `description` is one line for humans.
public enum HeartbeatParseError: Error, Sendable, Equatable, CustomStringConvertible {
  case empty
  case tooLarge(Int)
  case multipleLines
  case controlCharacter(UInt8)
  case invalidUTF8
  case tokenWithoutEquals(String)
  case badKey(String)
  case duplicateKey(String)
  /// Only when writing: an extra field that uses a reserved key.
  case reservedKey(String)
  case missingKey(String)
  case badTimestamp(String)
  case badPid(String)
  case badStatus(String)
  case badValue(key: String, value: String)

  public var description: String {
    switch self {
    case .empty: return "empty heartbeat"
    case .tooLarge(let n): return "larger than \(n) bytes"
    case .multipleLines: return "more than one line"
    case .controlCharacter(let b):
      return "control character 0x\(b < 16 ? "0" : "")\(String(b, radix: 16))"
    case .invalidUTF8: return "not valid UTF-8"
    case .tokenWithoutEquals(let t): return "token without '=': \"\(t)\""
    case .badKey(let k): return "bad key \"\(k)\""
    case .duplicateKey(let k): return "duplicate key \(k)"
    case .reservedKey(let k): return "extra field uses the reserved key \(k)"
    case .missingKey(let k): return "missing key \(k)"
    case .badTimestamp(let t): return "bad timestamp \"\(t)\" (want ISO 8601 UTC)"
    case .badPid(let p): return "bad pid \"\(p)\""
    case .badStatus(let s): return "bad status \"\(s)\" (want ok, busy or waiting)"
    case .badValue(let k, let v): return "bad value for \(k): \"\(v)\""
    }
  }
}

/// Reads heartbeat lines. Strict about the framing (one line, printable UTF-8, `key=value`
/// tokens, unique keys, the required keys well formed) and lenient about the rest: tokens
/// may be separated by more than one space, unknown keys are kept in `extra`, and the
/// timestamp may carry a numeric UTC offset (`+00:00`) instead of `Z`.
public enum HeartbeatParser {
  /// The largest heartbeat file accepted, trailing newline included (SPEC 2.3: 4 KiB).
  public static let maxBytes = 4096

  public static func parse(_ bytes: [UInt8]) -> Result<Heartbeat, HeartbeatParseError> {
    guard bytes.count <= maxBytes else { return .failure(.tooLarge(maxBytes)) }
    var body = bytes[...]
    if body.last == 0x0A { body = body.dropLast() }
    guard !body.isEmpty else { return .failure(.empty) }
    if body.contains(0x0A) { return .failure(.multipleLines) }
    if let c = body.first(where: { $0 < 0x20 || $0 == 0x7F }) {
      return .failure(.controlCharacter(c))
    }
    guard String(validating: body, as: UTF8.self) != nil else {
      return .failure(.invalidUTF8)
    }
    // Tokens and their `=` are found by byte (space and `=` are ASCII, so each part of valid
    // UTF-8 stays valid): this runs for every agent on every `fleet ps`.
    var pairs: [(String, String)] = []
    for token in body.split(separator: 0x20, omittingEmptySubsequences: true) {
      guard let eq = token.firstIndex(of: UInt8(ascii: "=")) else {
        return .failure(.tokenWithoutEquals(snippet(String(decoding: token, as: UTF8.self))))
      }
      let key = String(decoding: token[..<eq], as: UTF8.self)
      let value = String(decoding: token[(eq + 1)...], as: UTF8.self)
      guard isKey(key) else { return .failure(.badKey(snippet(key))) }
      if pairs.contains(where: { $0.0 == key }) { return .failure(.duplicateKey(key)) }
      pairs.append((key, value))
    }
    func take(_ key: String) -> String? { pairs.first { $0.0 == key }?.1 }

    guard let tsText = take("ts") else { return .failure(.missingKey("ts")) }
    guard let pidText = take("pid") else { return .failure(.missingKey("pid")) }
    guard let status = take("status") else { return .failure(.missingKey("status")) }
    guard let ts = ISO8601.parse(tsText) else { return .failure(.badTimestamp(snippet(tsText))) }
    guard isDigits(pidText), let pid = Int32(pidText), pid > 0 else {
      return .failure(.badPid(snippet(pidText)))
    }
    guard ["ok", "busy", "waiting"].contains(status) else {
      return .failure(.badStatus(snippet(status)))
    }

    var seq: Int64?
    if let s = take("seq") {
      guard isDigits(s), let v = Int64(s) else {
        return .failure(.badValue(key: "seq", value: snippet(s)))
      }
      seq = v
    }
    var interval: Double?
    if let s = take("interval") {
      guard let v = parseSeconds(s) else {
        return .failure(.badValue(key: "interval", value: snippet(s)))
      }
      interval = v
    }
    for key in ["probe", "ack", "progress"] {
      if let v = take(key), v.isEmpty { return .failure(.badValue(key: key, value: "")) }
    }
    let extra = pairs.filter { !Heartbeat.reservedKeys.contains($0.0) }
    return .success(
      Heartbeat(
        ts: ts, tsText: tsText, pid: pid, status: status, seq: seq, interval: interval,
        probe: take("probe"), ack: take("ack"), progress: take("progress"), extra: extra))
  }

  public static func parse(_ text: String) -> Result<Heartbeat, HeartbeatParseError> {
    parse(Array(text.utf8))
  }

  /// Whether `s` is a nonce as probes and message acks use them: `[A-Za-z0-9_-]{1,64}`.
  public static func isNonce<S: StringProtocol>(_ s: S) -> Bool {
    let b = s.utf8
    return !b.isEmpty && b.count <= 64 && b.allSatisfy(isNonceByte)
  }

  static func isNonceByte(_ c: UInt8) -> Bool {
    switch c {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "_"), UInt8(ascii: "-"): return true
    default: return false
    }
  }

  /// Keys: 1 to 64 of `[A-Za-z0-9_.-]`.
  static func isKey(_ s: String) -> Bool {
    let b = s.utf8
    return !b.isEmpty && b.count <= 64 && b.allSatisfy { isNonceByte($0) || $0 == 0x2E }
  }

  static func isDigits(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 20 && s.utf8.allSatisfy { (0x30...0x39).contains($0) }
  }

  /// A positive, finite number of seconds (`15`, `0.2`, `1e-3`); nil for anything else
  /// (signs, `inf`, `nan`, hex).
  static func parseSeconds(_ s: String) -> Double? {
    guard !s.isEmpty, s.utf8.count <= 32,
      s.utf8.allSatisfy({
        (0x30...0x39).contains($0) || [0x2B, 0x2D, 0x2E, 0x45, 0x65].contains($0)
      }),
      let first = s.utf8.first, (0x30...0x39).contains(first) || first == 0x2E,
      let v = Double(s), v.isFinite, v > 0
    else { return nil }
    return v
  }

  /// Seconds as the heartbeat writes them: `15` for whole numbers, else Swift's shortest
  /// round-trip form (`0.2`).
  static func formatSeconds(_ d: Double) -> String {
    if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return String(d)
  }

  /// A value shortened for an error message.
  static func snippet(_ s: String) -> String {
    s.count <= 40 ? s : String(s.prefix(37)) + "..."
  }
}
