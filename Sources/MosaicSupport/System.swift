#if canImport(Glibc)
  import Glibc
#endif

/// The process environment, read from `environ` (no Foundation).
public enum Environment {
  public static func get(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
  }

  /// A variable that is set and not empty.
  public static func nonEmpty(_ name: String) -> String? {
    guard let v = get(name), !v.isEmpty else { return nil }
    return v
  }

  public static func all() -> [String] {
    var result: [String] = []
    var p = environ
    while let entry = p.pointee {
      result.append(String(cString: entry))
      p += 1
    }
    return result
  }
}

/// Clocks in seconds as Double.
public enum Clock {
  /// Monotonic seconds, for timeouts and durations.
  public static func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  /// Wall-clock seconds since the epoch.
  public static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  /// Sleeps for `seconds`, resuming after signals until the time has passed.
  public static func sleep(_ seconds: Double) {
    guard seconds > 0 else { return }
    var req = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var rem = timespec()
    while nanosleep(&req, &rem) != 0, errno == EINTR { req = rem }
  }
}

/// ISO 8601 UTC timestamps (`2026-11-24T15:00:00Z`, optionally with fractional seconds).
public enum ISO8601 {
  /// Total: NaN formats as the epoch, and anything outside years 1 to 9999 as the nearest
  /// end of that range (the text is for people and files, never a reason to trap).
  public static func format(_ epoch: Double, fractional: Bool = false) -> String {
    let epoch = epoch.isNaN ? 0 : min(max(epoch, -62_135_596_800), 253_402_300_799.999)
    var t = time_t(epoch.rounded(.down))
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func pad(_ v: Int32, _ n: Int) -> String {
      let s = String(v)
      return String(repeating: "0", count: max(0, n - s.count)) + s
    }
    var s =
      "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))"
      + "T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))"
    if fractional {
      let ms = Int32(((epoch - epoch.rounded(.down)) * 1000).rounded(.down))
      s += "." + pad(ms, 3)
    }
    return s + "Z"
  }

  /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)`; nil for anything else.
  public static func parse(_ text: String) -> Double? {
    let b = Array(text.utf8)
    guard b.count >= 20 else { return nil }
    func num(_ from: Int, _ len: Int) -> Int? {
      guard from + len <= b.count else { return nil }
      var v = 0
      for i in from..<from + len {
        guard (0x30...0x39).contains(b[i]) else { return nil }
        v = v * 10 + Int(b[i] - 0x30)
      }
      return v
    }
    guard let year = num(0, 4), b[4] == 0x2D, let month = num(5, 2), b[7] == 0x2D,
      let day = num(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
      let hour = num(11, 2), b[13] == 0x3A, let minute = num(14, 2), b[16] == 0x3A,
      let second = num(17, 2)
    else { return nil }
    guard (1...12).contains(month), (1...daysIn(month, of: year)).contains(day), hour < 24,
      minute < 60, second < 61
    else { return nil }
    var i = 19
    var fraction = 0.0
    if i < b.count, b[i] == UInt8(ascii: ".") {
      i += 1
      var scale = 0.1
      let start = i
      while i < b.count, (0x30...0x39).contains(b[i]) {
        fraction += Double(b[i] - 0x30) * scale
        scale /= 10
        i += 1
      }
      guard i > start else { return nil }
    }
    var offset = 0
    guard i < b.count else { return nil }
    if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
      i += 1
    } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
      // RFC 3339's range: hours 00-23, minutes 00-59 (`-96:00` and `+00:99` are not offsets).
      guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let om = num(i + 4, 2),
        oh < 24, om < 60
      else { return nil }
      offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
      i += 6
    } else {
      return nil
    }
    guard i == b.count else { return nil }
    // Days from civil (Howard Hinnant's algorithm), no timezone database needed.
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    let secs = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return Double(secs) + fraction
  }

  /// Days in `month` (1-12) of the proleptic Gregorian `year`.
  static func daysIn(_ month: Int, of year: Int) -> Int {
    switch month {
    case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }
}

/// This machine's short host name (up to the first dot).
public func shortHostName() -> String {
  var buf = [UInt8](repeating: 0, count: 256)
  let rc = buf.withUnsafeMutableBufferPointer { p in
    p.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, 255) }
  }
  guard rc == 0 else { return "localhost" }
  let full = String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
  return String(full.split(separator: ".", maxSplits: 1).first ?? Substring(full))
}

/// stdout/stderr without touching C's mutable `stdout`/`stderr` globals (Swift 6).
public enum Console {
  /// Writes `text` to stderr (unbuffered, whole).
  public static func error(_ text: String) {
    writeAll(2, Array(text.utf8))
  }

  /// Flushes C stdio buffers (Lua's io and Swift's print share them).
  public static func flush() { noteStdoutFailure(fflush(nil) != 0 ? errno : 0) }

  public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var off = 0
    while off < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
      if n < 0 {
        if errno == EINTR { continue }
        if fd == 2 { noteStderrFailure() }
        return
      }
      off += n
    }
  }
}

/// Runs `body` and returns its error instead of throwing it (for typed throws, where a
/// `do`/`catch` would otherwise widen the error to `any Error`).
public func catching<E: Error>(_ body: () throws(E) -> Void) -> E? {
  do {
    try body()
    return nil
  } catch {
    return error
  }
}
