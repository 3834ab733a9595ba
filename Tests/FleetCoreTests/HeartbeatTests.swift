import FleetCore
import Foundation
import MosaicSupport
import XCTest

/// Shared helpers of the heartbeat tests.
enum HeartbeatFixtures {
  static let t0 = 1_795_000_000.0  // a whole second, so arithmetic on it is exact

  /// A fresh private directory under /tmp; removed by `remove`.
  static func makeRunDir() -> String {
    var template = Array("/tmp/mt-hb-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil)
    let dir = String(cString: p!)
    chmod(dir, 0o700)
    return dir
  }

  static func remove(_ dir: String) {
    try? FileManager.default.removeItem(atPath: dir)
  }

  static func parse(_ s: String) -> Result<Heartbeat, HeartbeatParseError> {
    HeartbeatParser.parse(Array(s.utf8))
  }

  /// Waits until `condition` holds or `timeout` passes; returns whether it held.
  static func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Clock.monotonic() + timeout
    while Clock.monotonic() < deadline {
      if condition() { return true }
      usleep(10_000)
    }
    return condition()
  }
}

/// A value shared with a background thread.
final class HeartbeatBox<T>: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: T
  init(_ value: T) { stored = value }
  var value: T {
    get { lock.withLock { stored } }
    set { lock.withLock { stored = newValue } }
  }
}

/// Runs `body` on a new thread; `join()` waits for its result.
final class HeartbeatThread<T: Sendable>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: T?

  init(_ body: @escaping @Sendable () -> T) {
    let thread = Thread { [self] in
      self.result = body()
      self.done.signal()
    }
    thread.start()
  }

  func join(timeout: Double = 30) -> T? {
    guard done.wait(timeout: .now() + timeout) == .success else { return nil }
    return result
  }
}

final class HeartbeatParserTests: XCTestCase {
  func testMinimalLineWithAndWithoutNewline() throws {
    for text in [
      "ts=2026-11-24T15:00:00Z pid=4250 status=ok",
      "ts=2026-11-24T15:00:00Z pid=4250 status=ok\n",
    ] {
      let hb = try HeartbeatFixtures.parse(text).get()
      XCTAssertEqual(hb.tsText, "2026-11-24T15:00:00Z")
      XCTAssertEqual(hb.ts, ISO8601.parse("2026-11-24T15:00:00Z"))
      XCTAssertEqual(hb.pid, 4250)
      XCTAssertEqual(hb.status, "ok")
      XCTAssertNil(hb.seq)
      XCTAssertNil(hb.interval)
      XCTAssertNil(hb.probe)
      XCTAssertTrue(hb.extra.isEmpty)
    }
  }

  func testAllReservedKeysAndExtrasInOrder() throws {
    let text =
      "ts=2026-11-24T15:00:00.250Z pid=7 status=busy zeta=1 seq=42 interval=0.5 "
      + "probe=0123abcd ack=m-1 progress=p9 alpha=x empty="
    let hb = try HeartbeatFixtures.parse(text).get()
    XCTAssertEqual(hb.status, "busy")
    XCTAssertEqual(hb.seq, 42)
    XCTAssertEqual(hb.interval, 0.5)
    XCTAssertEqual(hb.probe, "0123abcd")
    XCTAssertEqual(hb.ack, "m-1")
    XCTAssertEqual(hb.progress, "p9")
    XCTAssertEqual(hb.extra.map { $0.0 }, ["zeta", "alpha", "empty"])
    XCTAssertEqual(hb.extra.map { $0.1 }, ["1", "x", ""])
    XCTAssertEqual(hb.ts, ISO8601.parse("2026-11-24T15:00:00Z")! + 0.25, accuracy: 1e-6)
    // Canonical order on render: reserved keys first, then extras in file order.
    XCTAssertEqual(
      hb.render(),
      "ts=2026-11-24T15:00:00.250Z pid=7 status=busy seq=42 interval=0.5 probe=0123abcd "
        + "ack=m-1 progress=p9 zeta=1 alpha=x empty=")
    XCTAssertEqual(try HeartbeatFixtures.parse(hb.render()).get(), hb)
  }

  func testOrderAndSpacingAreLenient() throws {
    let hb = try HeartbeatFixtures.parse("status=ok  pid=3   ts=2026-11-24T15:00:00+00:00 ")
      .get()
    XCTAssertEqual(hb.pid, 3)
    XCTAssertEqual(hb.ts, ISO8601.parse("2026-11-24T15:00:00Z"))
  }

  func testMissingKeys() {
    XCTAssertEqual(
      HeartbeatFixtures.parse("pid=1 status=ok"), .failure(.missingKey("ts")))
    XCTAssertEqual(
      HeartbeatFixtures.parse("ts=2026-11-24T15:00:00Z status=ok"), .failure(.missingKey("pid")))
    XCTAssertEqual(
      HeartbeatFixtures.parse("ts=2026-11-24T15:00:00Z pid=1"), .failure(.missingKey("status")))
    XCTAssertEqual(HeartbeatFixtures.parse(""), .failure(.empty))
    XCTAssertEqual(HeartbeatFixtures.parse("\n"), .failure(.empty))
  }

  func testBadTimestamps() {
    for ts in [
      "yesterday", "2026-11-24", "2026-11-24_15:00:00Z", "2026-13-24T15:00:00Z",
      "2026-11-24T25:00:00Z", "2026-11-24T15:00:00", "1795000000", "",
      // Strict ISO 8601 / RFC 3339: offsets within 23:59, real calendar dates.
      "2026-11-24T15:00:00-96:00", "2026-11-24T15:00:00+00:99", "2026-11-24T15:00:00+24:00",
      "2026-02-30T15:00:00Z", "2026-02-29T15:00:00Z", "2100-02-29T00:00:00Z",
      "2026-04-31T00:00:00Z", "2026-11-31T00:00:00Z", "2026-00-10T00:00:00Z",
      "2026-11-00T00:00:00Z",
    ] {
      let r = HeartbeatFixtures.parse("ts=\(ts) pid=1 status=ok")
      XCTAssertEqual(r, .failure(.badTimestamp(ts)), ts)
    }
  }

  func testRealCalendarDatesAndOffsetsParse() {
    XCTAssertNotNil(ISO8601.parse("2024-02-29T12:00:00Z"))
    XCTAssertNotNil(ISO8601.parse("2000-02-29T12:00:00Z"))
    XCTAssertNotNil(ISO8601.parse("2026-04-30T23:59:60Z"))
    XCTAssertEqual(
      ISO8601.parse("2026-11-24T15:00:00-09:30"), ISO8601.parse("2026-11-25T00:30:00Z"))
    XCTAssertEqual(
      ISO8601.parse("2026-11-24T15:00:00+23:59"), ISO8601.parse("2026-11-23T15:01:00Z"))
  }

  func testBadPidAndStatus() {
    for pid in ["abc", "-1", "0", "+5", "1.5", "99999999999", ""] {
      XCTAssertEqual(
        HeartbeatFixtures.parse("ts=2026-11-24T15:00:00Z pid=\(pid) status=ok"),
        .failure(.badPid(pid)), pid)
    }
    for status in ["OK", "idle", "", "ok,busy"] {
      XCTAssertEqual(
        HeartbeatFixtures.parse("ts=2026-11-24T15:00:00Z pid=1 status=\(status)"),
        .failure(.badStatus(status)), status)
    }
  }

  func testBadReservedValues() {
    let base = "ts=2026-11-24T15:00:00Z pid=1 status=ok "
    for (tail, key) in [
      ("seq=-1", "seq"), ("seq=x", "seq"), ("interval=0", "interval"),
      ("interval=-5", "interval"), ("interval=inf", "interval"), ("interval=nan", "interval"),
      ("interval=0x10", "interval"), ("probe=", "probe"), ("ack=", "ack"),
    ] {
      guard case .failure(.badValue(let k, _)) = HeartbeatFixtures.parse(base + tail) else {
        XCTFail("accepted \(tail)")
        continue
      }
      XCTAssertEqual(k, key)
    }
    XCTAssertEqual(try HeartbeatFixtures.parse(base + "interval=1e-1").get().interval, 0.1)
  }

  func testFramingErrors() {
    let base = "ts=2026-11-24T15:00:00Z pid=1 status=ok"
    XCTAssertEqual(HeartbeatFixtures.parse(base + " junk"), .failure(.tokenWithoutEquals("junk")))
    XCTAssertEqual(HeartbeatFixtures.parse(base + " pid=2"), .failure(.duplicateKey("pid")))
    XCTAssertEqual(HeartbeatFixtures.parse(base + " x=1 x=2"), .failure(.duplicateKey("x")))
    XCTAssertEqual(HeartbeatFixtures.parse(base + " =v"), .failure(.badKey("")))
    XCTAssertEqual(HeartbeatFixtures.parse(base + " k/y=v"), .failure(.badKey("k/y")))
    XCTAssertEqual(HeartbeatFixtures.parse(base + "\n" + base), .failure(.multipleLines))
    XCTAssertEqual(HeartbeatFixtures.parse(base + "\n\n"), .failure(.multipleLines))
    XCTAssertEqual(HeartbeatFixtures.parse(base + "\r\n"), .failure(.controlCharacter(0x0D)))
    XCTAssertEqual(HeartbeatFixtures.parse(base + " x=\u{0}"), .failure(.controlCharacter(0)))
    XCTAssertEqual(HeartbeatFixtures.parse(base + "\tx=1"), .failure(.controlCharacter(9)))
    XCTAssertEqual(HeartbeatFixtures.parse(base + " x=\u{7F}"), .failure(.controlCharacter(0x7F)))
    XCTAssertEqual(
      HeartbeatParser.parse(Array(base.utf8) + [0x20, 0x78, 0x3D, 0xFF]), .failure(.invalidUTF8))
    // UTF-8 in values is fine.
    XCTAssertEqual(
      try HeartbeatFixtures.parse(base + " who=José").get().extra.first?.1, "José")
  }

  func testSizeLimit() throws {
    let base = "ts=2026-11-24T15:00:00Z pid=1 status=ok pad="
    let fits = base + String(repeating: "x", count: 4096 - base.utf8.count - 1) + "\n"
    XCTAssertEqual(fits.utf8.count, 4096)
    XCTAssertNoThrow(try HeartbeatFixtures.parse(fits).get())
    let over = base + String(repeating: "x", count: 4096 - base.utf8.count) + "\n"
    XCTAssertEqual(HeartbeatFixtures.parse(over), .failure(.tooLarge(4096)))
  }

  func testFutureTimestampParses() throws {
    // The parser does not judge time; the health rule does (skew).
    let hb = try HeartbeatFixtures.parse("ts=2999-01-01T00:00:00Z pid=1 status=ok").get()
    XCTAssertGreaterThan(hb.ts, Clock.now())
  }

  func testRenderIsCanonicalAndRoundTrips() throws {
    let hb = Heartbeat(
      ts: HeartbeatFixtures.t0 + 0.5, pid: 42, status: "busy", seq: 3, interval: 15,
      probe: "n1", ack: "a1", progress: "7", extra: [("runtime", "stub")])
    XCTAssertEqual(
      hb.render(),
      "ts=\(ISO8601.format(HeartbeatFixtures.t0 + 0.5, fractional: true)) pid=42 "
        + "status=busy seq=3 interval=15 probe=n1 ack=a1 progress=7 runtime=stub")
    XCTAssertTrue(hb.tsText.hasSuffix(".500Z"))
    XCTAssertNoThrow(try hb.validate())
    let back = try HeartbeatFixtures.parse(hb.render() + "\n").get()
    XCTAssertEqual(back, hb)
    XCTAssertEqual(back.value(forKey: "runtime"), "stub")
    XCTAssertEqual(back.value(forKey: "interval"), "15")
  }

  func testValidateRefusesWhatReadersWouldNot() {
    var hb = Heartbeat(ts: HeartbeatFixtures.t0, pid: 1)
    XCTAssertNoThrow(try hb.validate())
    hb.ack = "two words"
    XCTAssertThrowsError(try hb.validate())
    hb.ack = "line\nbreak"
    XCTAssertThrowsError(try hb.validate())
    hb.ack = ""
    XCTAssertThrowsError(try hb.validate())
    hb.ack = nil
    hb.status = "idle"
    XCTAssertThrowsError(try hb.validate())
    hb.status = "ok"
    hb.pid = 0
    XCTAssertThrowsError(try hb.validate())
    hb.pid = 1
    hb.interval = 0
    XCTAssertThrowsError(try hb.validate())
    hb.interval = .infinity
    XCTAssertThrowsError(try hb.validate())
    hb.interval = 0.2
    hb.extra = [("seq", "1")]
    XCTAssertThrowsError(try hb.validate()) { error in
      XCTAssertEqual(error as? HeartbeatParseError, .reservedKey("seq"))
    }
    hb.extra = [("bad key", "1")]
    XCTAssertThrowsError(try hb.validate())
    hb.extra = [("big", String(repeating: "y", count: 5000))]
    XCTAssertThrowsError(try hb.validate()) { error in
      XCTAssertEqual(error as? HeartbeatParseError, .tooLarge(4096))
    }
    hb.extra = []
    XCTAssertNoThrow(try hb.validate())
  }

  func testSettingTsUpdatesText() {
    var hb = Heartbeat(ts: HeartbeatFixtures.t0, pid: 1)
    hb.ts = HeartbeatFixtures.t0 + 60
    XCTAssertEqual(ISO8601.parse(hb.tsText), HeartbeatFixtures.t0 + 60)
  }

  func testNonceSyntax() {
    XCTAssertTrue(HeartbeatParser.isNonce("abc123"))
    XCTAssertTrue(HeartbeatParser.isNonce("A_b-9"))
    XCTAssertTrue(HeartbeatParser.isNonce(String(repeating: "a", count: 64)))
    XCTAssertFalse(HeartbeatParser.isNonce(String(repeating: "a", count: 65)))
    XCTAssertFalse(HeartbeatParser.isNonce(""))
    XCTAssertFalse(HeartbeatParser.isNonce("a b"))
    XCTAssertFalse(HeartbeatParser.isNonce("a.b"))
    XCTAssertFalse(HeartbeatParser.isNonce("é"))
  }
}

final class HeartbeatHealthTests: XCTestCase {
  let t0 = HeartbeatFixtures.t0

  func hb(_ ts: Double, interval: Double? = nil) -> Heartbeat {
    Heartbeat(ts: ts, pid: 9, interval: interval)
  }

  func testFreshIsHealthy() {
    let r = HeartbeatHealth.evaluate(hb(t0), interval: 15, now: t0 + 3.25)
    XCTAssertEqual(r.health, "healthy")
    XCTAssertEqual(r.ageS, 3.25)
    XCTAssertNil(r.reason)
    XCTAssertFalse(r.skew)
    XCTAssertEqual(r.intervalS, 15)
    XCTAssertEqual(r.heartbeat?.pid, 9)
  }

  func testExactlyThreeIntervalsIsHealthyJustPastIsStale() {
    let at = HeartbeatHealth.evaluate(hb(t0), interval: 15, now: t0 + 45)
    XCTAssertEqual(at.health, "healthy")
    XCTAssertEqual(at.ageS, 45)
    let past = HeartbeatHealth.evaluate(hb(t0), interval: 15, now: t0 + 45.001)
    XCTAssertEqual(past.health, "stale")
    XCTAssertEqual(past.ageS!, 45.001, accuracy: 1e-6)
    XCTAssertEqual(past.reason, "last beat 45 s ago, over 3 x 15 s")
    XCTAssertFalse(past.skew)
  }

  func testRosterIntervalWinsOverDeclared() {
    // The writer claims a one-day interval; the roster's 15 s decides.
    let r = HeartbeatHealth.evaluate(hb(t0, interval: 86400), interval: 15, now: t0 + 100)
    XCTAssertEqual(r.health, "stale")
    XCTAssertEqual(r.intervalS, 15)
  }

  func testSmallFutureIsHealthyWithAgeClamped() {
    let r = HeartbeatHealth.evaluate(hb(t0 + 15), interval: 15, now: t0)
    XCTAssertEqual(r.health, "healthy")
    XCTAssertEqual(r.ageS, 0)
    XCTAssertFalse(r.skew)
  }

  func testFutureBeyondOneIntervalIsSkew() {
    let r = HeartbeatHealth.evaluate(hb(t0 + 40), interval: 15, now: t0)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertTrue(r.skew)
    XCTAssertEqual(r.ageS, -40)
    XCTAssertEqual(r.reason, "clock skew: heartbeat timestamp is 40 s in the future")
  }

  func testBadIntervalIsUnknown() {
    for interval in [0, -1, Double.nan, .infinity] {
      let r = HeartbeatHealth.evaluate(hb(t0), interval: interval, now: t0)
      XCTAssertEqual(r.health, "unknown")
      XCTAssertNotNil(r.reason)
    }
  }

  func testFileOutcomes() {
    let missing = HeartbeatHealth.evaluate(file: .failure(.missing), interval: 15, now: t0)
    XCTAssertEqual(missing.health, "unknown")
    XCTAssertEqual(missing.reason, "no heartbeat file")
    let link = HeartbeatHealth.evaluate(file: .failure(.symlink), interval: 15, now: t0)
    XCTAssertEqual(link.reason, "heartbeat file is a symlink")
    let junk = HeartbeatHealth.evaluate(file: .success(Array("junk".utf8)), interval: 15, now: t0)
    XCTAssertEqual(junk.health, "unknown")
    XCTAssertEqual(junk.reason, "unparseable heartbeat: token without '=': \"junk\"")
    XCTAssertNil(junk.heartbeat)
  }

  func testJSONShape() {
    let r = HeartbeatHealth.evaluate(hb(t0), interval: 15, now: t0 + 3.24)
    XCTAssertEqual(
      JSONCodec.encode(r.jsonValue(then: [("more", .bool(true))])),
      "{\"health\":\"healthy\",\"age_s\":3.2,\"ts\":\"\(ISO8601.format(t0, fractional: true))\","
        + "\"pid\":9,\"status\":\"ok\",\"interval_s\":15,\"reason\":null,"
        + "\"seq\":null,\"ack\":null,\"progress\":null,\"more\":true}")
    let none = HeartbeatHealth.evaluate(file: .failure(.missing), interval: 15, now: t0)
    XCTAssertEqual(
      JSONCodec.encode(none.jsonValue()),
      "{\"health\":\"unknown\",\"age_s\":null,\"ts\":null,\"pid\":null,\"status\":null,"
        + "\"interval_s\":15,\"reason\":\"no heartbeat file\",\"seq\":null,\"ack\":null,"
        + "\"progress\":null}")
  }
}
