import FleetCore
import Foundation
import MosaicSupport
import XCTest

final class HeartbeatStoreTests: XCTestCase {
  var dir = ""
  var store: HeartbeatStore!

  override func setUp() {
    dir = HeartbeatFixtures.makeRunDir()
    store = HeartbeatStore(runDir: dir)
  }

  override func tearDown() { HeartbeatFixtures.remove(dir) }

  func writeRaw(_ name: String, _ text: String, mode: mode_t = 0o600) {
    let path = "\(dir)/\(name)"
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
    chmod(path, mode)
  }

  func line(_ ts: Double) -> String { "ts=\(ISO8601.format(ts)) pid=77 status=ok\n" }

  func testPaths() {
    XCTAssertEqual(store.heartbeatPath(agent: "a-1"), "\(dir)/a-1.hb")
    XCTAssertEqual(store.probePath(agent: "a-1"), "\(dir)/a-1.probe")
  }

  func testWriteThenReadHealthy() throws {
    let now = Clock.now()
    try store.write(agent: "coder-1", Heartbeat(ts: now, pid: 77, seq: 1, interval: 15))
    let r = store.read(agent: "coder-1", interval: 15, now: now + 2)
    XCTAssertEqual(r.health, "healthy")
    XCTAssertEqual(r.heartbeat?.pid, 77)
    XCTAssertEqual(r.heartbeat?.seq, 1)
    XCTAssertEqual(r.ageS!, 2, accuracy: 0.002)
    var st = stat()
    XCTAssertEqual(stat(store.heartbeatPath(agent: "coder-1"), &st), 0)
    XCTAssertEqual(st.st_mode & 0o777, 0o600)
    let text = try String(contentsOfFile: store.heartbeatPath(agent: "coder-1"), encoding: .utf8)
    XCTAssertTrue(text.hasSuffix(" seq=1 interval=15\n"), text)
  }

  /// fleet ps lists <run> once: what the listing holds is read, what it lacks counts as
  /// missing without an open (so a file the listing lacks is not read even if it is there).
  func testAListingOfTheRunDirectorySaysWhichFilesAreRead() throws {
    let now = Clock.now()
    try store.write(agent: "a", Heartbeat(ts: now, pid: 77, seq: 1))
    let lease = LeaseStore(runDir: dir)
    try lease.acquire(agent: "a", Lease(holder: "t", since: "now", pid: getpid()))
    let present = try XCTUnwrap(Files.names(in: dir))
    XCTAssertEqual(present, ["a.hb", "a.lease"])
    XCTAssertEqual(
      store.read(agent: "a", interval: 15, now: now, present: present).health, "healthy")
    XCTAssertEqual(lease.read(agent: "a", present: present)?.pid, getpid())
    let none = store.read(agent: "a", interval: 15, now: now, present: [])
    XCTAssertEqual(none.health, "unknown")
    XCTAssertEqual(none.reason, "no heartbeat file")
    XCTAssertNil(lease.read(agent: "a", present: []))
    XCTAssertNil(Files.names(in: dir + "/nope"))
  }

  func testAtomicWriteLeavesNoTempFiles() throws {
    for i in 1...20 {
      try store.write(agent: "a", Heartbeat(ts: Clock.now(), pid: 1, seq: Int64(i)))
    }
    XCTAssertEqual(Files.list(dir), ["a.hb"])
    XCTAssertEqual(store.load(agent: "a")?.seq, 20)
  }

  func testWriteRefusesInvalid() {
    XCTAssertThrowsError(try store.write(agent: "../evil", Heartbeat(ts: Clock.now(), pid: 1)))
    XCTAssertThrowsError(try store.write(agent: "a.b", Heartbeat(ts: Clock.now(), pid: 1)))
    XCTAssertThrowsError(
      try store.write(agent: "a", Heartbeat(ts: Clock.now(), pid: 1, ack: "has space")))
    XCTAssertEqual(Files.list(dir), [])
  }

  func testMissingIsUnknown() {
    let r = store.read(agent: "nobody", interval: 15)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertEqual(r.reason, "no heartbeat file")
    XCTAssertNil(r.ageS)
  }

  func testStaleAndSkewFromFile() {
    let now = HeartbeatFixtures.t0
    writeRaw("old.hb", line(now - 46))
    XCTAssertEqual(store.read(agent: "old", interval: 15, now: now).health, "stale")
    writeRaw("edge.hb", line(now - 45))
    XCTAssertEqual(store.read(agent: "edge", interval: 15, now: now).health, "healthy")
    writeRaw("future.hb", line(now + 16))
    let skew = store.read(agent: "future", interval: 15, now: now)
    XCTAssertEqual(skew.health, "unknown")
    XCTAssertTrue(skew.skew)
    XCTAssertEqual(skew.reason, "clock skew: heartbeat timestamp is 16 s in the future")
  }

  func testSymlinkIsUnknown() {
    writeRaw("real.hb", line(Clock.now()))
    XCTAssertEqual(symlink("\(dir)/real.hb", "\(dir)/link.hb"), 0)
    let r = store.read(agent: "link", interval: 15)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertEqual(r.reason, "heartbeat file is a symlink")
    XCTAssertEqual(store.read(agent: "real", interval: 15).health, "healthy")
  }

  func testNotRegularIsUnknown() {
    XCTAssertEqual(mkdir("\(dir)/d.hb", 0o700), 0)
    XCTAssertEqual(store.read(agent: "d", interval: 15).reason, "heartbeat file not a regular file")
    XCTAssertEqual(mkfifo("\(dir)/f.hb", 0o600), 0)
    let fifo = store.read(agent: "f", interval: 15)
    XCTAssertEqual(fifo.health, "unknown")
    XCTAssertEqual(fifo.reason, "heartbeat file not a regular file")
  }

  func testWritableByOthersIsUnknown() {
    writeRaw("w.hb", line(Clock.now()), mode: 0o666)
    let r = store.read(agent: "w", interval: 15)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertEqual(r.reason, "heartbeat file group or world writable (mode 666)")
    writeRaw("g.hb", line(Clock.now()), mode: 0o620)
    XCTAssertEqual(store.read(agent: "g", interval: 15).health, "unknown")
  }

  func testOtherOwnerIsUnknown() throws {
    try XCTSkipUnless(geteuid() == 0, "chown needs root")
    writeRaw("o.hb", line(Clock.now()))
    XCTAssertEqual(chown("\(dir)/o.hb", 65534, 65534), 0)
    let r = store.read(agent: "o", interval: 15)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertEqual(r.reason, "heartbeat file owned by uid 65534, not by this user")
  }

  func testOversizeIsUnknown() {
    writeRaw("big.hb", line(Clock.now()).dropLast() + " pad=" + String(repeating: "x", count: 5000))
    let r = store.read(agent: "big", interval: 15)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertEqual(r.reason, "heartbeat file larger than 4096 bytes")
  }

  func testUnparseableIsUnknown() {
    writeRaw("bad.hb", "ts=2026-11-24T15:00:00Z pid=1\n")
    XCTAssertEqual(
      store.read(agent: "bad", interval: 15).reason, "unparseable heartbeat: missing key status")
    writeRaw("two.hb", line(Clock.now()) + line(Clock.now()))
    XCTAssertEqual(
      store.read(agent: "two", interval: 15).reason, "unparseable heartbeat: more than one line")
  }

  func testInvalidAgentNameIsUnknown() {
    let r = store.read(agent: "../x", interval: 15)
    XCTAssertEqual(r.health, "unknown")
    XCTAssertEqual(r.reason, "invalid agent name")
  }

  func testEnsureRunDir() throws {
    let run = dir + "/nested/run"
    try HeartbeatStore(runDir: run).ensureRunDir()
    var st = stat()
    XCTAssertEqual(lstat(run, &st), 0)
    XCTAssertEqual(st.st_mode & 0o777, 0o700)
    chmod(run, 0o777)
    XCTAssertThrowsError(try HeartbeatStore(runDir: run).ensureRunDir())
    XCTAssertEqual(symlink(dir, dir + "/linked"), 0)
    XCTAssertThrowsError(try HeartbeatStore(runDir: dir + "/linked").ensureRunDir())
  }

  func testSendProbeWritesNonceAtomically() throws {
    let nonce = try store.sendProbe(agent: "a")
    XCTAssertEqual(nonce.count, 16)
    XCTAssertTrue(nonce.allSatisfy { $0.isHexDigit })
    let content = try String(contentsOfFile: store.probePath(agent: "a"), encoding: .utf8)
    XCTAssertEqual(content, nonce + "\n")
    var st = stat()
    XCTAssertEqual(stat(store.probePath(agent: "a"), &st), 0)
    XCTAssertEqual(st.st_mode & 0o777, 0o600)
    XCTAssertNotEqual(try store.sendProbe(agent: "a"), nonce)
    XCTAssertEqual(Files.list(dir), ["a.probe"])
    XCTAssertThrowsError(try store.sendProbe(agent: "a/b"))
  }

  func testAwaitProbesWaitsForAllAtOnce() throws {
    // Nobody answers: three agents cost one timeout, not three.
    let pending = ["x": "n1", "y": "n2", "z": "n3"]
    let start = Clock.monotonic()
    let r = store.awaitProbes(pending, timeout: 0.3)
    let took = Clock.monotonic() - start
    XCTAssertEqual(r, ["x": false, "y": false, "z": false])
    XCTAssertGreaterThanOrEqual(took, 0.29)
    XCTAssertLessThan(took, 0.6)
    // Already answered: returns at once.
    try store.write(agent: "x", Heartbeat(ts: Clock.now(), pid: 1, probe: "n1"))
    try store.write(agent: "y", Heartbeat(ts: Clock.now(), pid: 1, probe: "old"))
    let t = Clock.monotonic()
    XCTAssertEqual(store.awaitProbes(["x": "n1"], timeout: 5), ["x": true])
    XCTAssertLessThan(Clock.monotonic() - t, 0.5)
    XCTAssertEqual(
      store.awaitProbes(["x": "n1", "y": "n2"], timeout: 0.1), ["x": true, "y": false])
    XCTAssertEqual(store.awaitProbes([:], timeout: 5), [:])
  }
}
