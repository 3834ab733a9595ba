import FleetCore
import Foundation
import MosaicSupport
import XCTest

final class HeartbeatResponderTests: XCTestCase {
  var dir = ""
  var store: HeartbeatStore!

  override func setUp() {
    dir = HeartbeatFixtures.makeRunDir()
    store = HeartbeatStore(runDir: dir)
  }

  override func tearDown() { HeartbeatFixtures.remove(dir) }

  func testBeatWritesSequenceAndFields() throws {
    var status = "ok"
    let r = HeartbeatResponder(
      agent: "a", runDir: dir, interval: 15, pid: 4242, status: { status },
      extra: { [("ack", "m1"), ("seq", "999"), ("runtime", "stub")] })
    try r.beat()
    var hb = try XCTUnwrap(store.load(agent: "a"))
    XCTAssertEqual(hb.pid, 4242)
    XCTAssertEqual(hb.seq, 1)
    XCTAssertEqual(hb.interval, 15)
    XCTAssertEqual(hb.status, "ok")
    XCTAssertEqual(hb.ack, "m1")
    XCTAssertNil(hb.probe)
    XCTAssertEqual(hb.extra.map { $0.0 }, ["runtime"])
    XCTAssertEqual(hb.ts, Clock.now(), accuracy: 1)
    status = "busy"
    r.progress = "p2"
    try r.beat()
    hb = try XCTUnwrap(store.load(agent: "a"))
    XCTAssertEqual(hb.seq, 2)
    XCTAssertEqual(hb.status, "busy")
    XCTAssertEqual(hb.progress, "p2")
    XCTAssertEqual(r.seq, 2)
    status = "weird"
    XCTAssertThrowsError(try r.beat())
  }

  func testPollProbeAnswersAndRemovesTheProbe() throws {
    let r = HeartbeatResponder(agent: "a", runDir: dir, interval: 15)
    XCTAssertFalse(r.pollProbe())
    let nonce = try store.sendProbe(agent: "a")
    XCTAssertTrue(r.pollProbe())
    XCTAssertEqual(store.load(agent: "a")?.probe, nonce)
    XCTAssertEqual(r.lastProbe, nonce)
    XCTAssertEqual(Files.list(dir), ["a.hb"])
    XCTAssertFalse(r.pollProbe())
    // Later beats keep saying which probe was answered last.
    try r.beat()
    XCTAssertEqual(store.load(agent: "a")?.probe, nonce)
  }

  func testBadProbeFilesAreDroppedUnanswered() throws {
    let r = HeartbeatResponder(agent: "a", runDir: dir, interval: 15)
    let path = store.probePath(agent: "a")
    for bad in ["has space", "", String(repeating: "x", count: 65), "a;rm -rf", "x\ny"] {
      try Files.writeAtomically(path, bad)
      XCTAssertFalse(r.pollProbe(), bad)
      XCTAssertFalse(Files.exists(path), bad)
    }
    try Files.writeAtomically(path, String(repeating: "x", count: 300))
    XCTAssertFalse(r.pollProbe())
    try Files.writeAtomically(path, "n0", mode: 0o666)
    XCTAssertFalse(r.pollProbe())
    try Files.writeAtomically(dir + "/target", "n1")
    XCTAssertEqual(symlink(dir + "/target", path), 0)
    XCTAssertFalse(r.pollProbe())
    XCTAssertTrue(Files.exists(dir + "/target"))
    XCTAssertNil(store.load(agent: "a"))
    XCTAssertEqual(Files.list(dir), ["target"])
  }

  func testTickBeatsOnScheduleOnly() throws {
    let r = HeartbeatResponder(agent: "a", runDir: dir, interval: 0.3)
    let wait = r.tick()
    XCTAssertEqual(r.seq, 1)
    XCTAssertLessThanOrEqual(wait, 0.2)
    r.tick()
    XCTAssertEqual(r.seq, 1)
    Clock.sleep(0.35)
    r.tick()
    XCTAssertEqual(r.seq, 2)
  }

  func testProbeRoundTripWithBackgroundResponder() throws {
    let stop = HeartbeatBox(false)
    let runDir = dir
    let thread = HeartbeatThread { () -> Int64 in
      let r = HeartbeatResponder(agent: "bg", runDir: runDir, interval: 15)
      r.run(until: { stop.value })
      return r.seq
    }
    XCTAssertTrue(HeartbeatFixtures.waitUntil(2) { self.store.load(agent: "bg") != nil })
    for _ in 0..<3 {
      let nonce = try store.sendProbe(agent: "bg")
      let start = Clock.monotonic()
      XCTAssertEqual(store.awaitProbes(["bg": nonce], timeout: 1.0), ["bg": true])
      XCTAssertLessThan(Clock.monotonic() - start, 1.0)
    }
    XCTAssertEqual(store.read(agent: "bg", interval: 15).health, "healthy")
    stop.value = true
    let beats = try XCTUnwrap(thread.join(timeout: 2))
    XCTAssertEqual(beats, 4)  // the first beat and three probe answers
  }

  func testProbesToSeveralAgentsAreAwaitedTogether() throws {
    let stop = HeartbeatBox(false)
    let runDir = dir
    let threads = ["r1", "r2"].map { name in
      HeartbeatThread { () -> Bool in
        let r = HeartbeatResponder(agent: name, runDir: runDir, interval: 15)
        r.run(until: { stop.value })
        return true
      }
    }
    defer {
      stop.value = true
      for t in threads { _ = t.join(timeout: 2) }
    }
    XCTAssertTrue(
      HeartbeatFixtures.waitUntil(2) {
        self.store.load(agent: "r1") != nil && self.store.load(agent: "r2") != nil
      })
    var pending: [String: String] = [:]
    for a in ["r1", "r2", "silent"] { pending[a] = try store.sendProbe(agent: a) }
    let start = Clock.monotonic()
    let result = store.awaitProbes(pending, timeout: 1.0)
    XCTAssertEqual(result, ["r1": true, "r2": true, "silent": false])
    XCTAssertLessThan(Clock.monotonic() - start, 1.5)
  }

  func testRunWrappedReturnsTheChildStatus() {
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(
        agent: "w", runDir: dir, interval: 0.2, argv: ["/bin/sh", "-c", "exit 7"]), 7)
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(agent: "w", runDir: dir, interval: 0.2, argv: ["true"]), 0)
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(
        agent: "w", runDir: dir, interval: 0.2, argv: ["/bin/sh", "-c", "kill -KILL $$"]),
      128 + SIGKILL)
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(
        agent: "w", runDir: dir, interval: 0.2, argv: ["mt-no-such-program-\(getpid())"]), 127)
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(agent: "w", runDir: dir, interval: 0.2, argv: []), 64)
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(agent: "a/b", runDir: dir, interval: 0.2, argv: ["true"]),
      64)
    XCTAssertEqual(
      HeartbeatResponder.runWrapped(agent: "w", runDir: dir, interval: 0, argv: ["true"]), 64)
  }

  func testRunWrappedBeatsForTheChildWhileItLives() throws {
    let runDir = dir
    let thread = HeartbeatThread {
      HeartbeatResponder.runWrapped(
        agent: "w", runDir: runDir, interval: 0.2, argv: ["/bin/sh", "-c", "sleep 1.2; exit 3"])
    }
    var seqs = Set<Int64>()
    var pids = Set<Int32>()
    var probeAnswered = false
    let deadline = Clock.monotonic() + 0.9
    while Clock.monotonic() < deadline {
      if let hb = store.load(agent: "w") {
        seqs.insert(hb.seq ?? -1)
        pids.insert(hb.pid)
        if !probeAnswered {
          let nonce = try store.sendProbe(agent: "w")
          probeAnswered = store.awaitProbes(["w": nonce], timeout: 1)["w"] ?? false
        }
      }
      usleep(20_000)
    }
    XCTAssertEqual(thread.join(timeout: 5), 3)
    XCTAssertTrue(probeAnswered)
    XCTAssertGreaterThanOrEqual(seqs.count, 3, "seqs \(seqs)")
    XCTAssertEqual(pids.count, 1)
    XCTAssertNotEqual(pids.first, getpid())
    // After the child is gone the file is no longer refreshed: it goes stale.
    let last = try XCTUnwrap(store.load(agent: "w"))
    Clock.sleep(0.5)
    XCTAssertEqual(store.load(agent: "w"), last)
    XCTAssertEqual(store.read(agent: "w", interval: 0.1).health, "stale")
  }

  func testRunWrappedForwardsSIGTERM() throws {
    let runDir = dir
    let thread = HeartbeatThread {
      HeartbeatResponder.runWrapped(
        agent: "t", runDir: runDir, interval: 0.2, argv: ["/bin/sh", "-c", "exec sleep 10"])
    }
    // The first beat comes after the handlers are installed, so the signal is safe to send.
    XCTAssertTrue(HeartbeatFixtures.waitUntil(3) { self.store.load(agent: "t") != nil })
    let start = Clock.monotonic()
    kill(getpid(), SIGTERM)
    XCTAssertEqual(thread.join(timeout: 5), 128 + SIGTERM)
    XCTAssertLessThan(Clock.monotonic() - start, 2)
  }

  func testRunStandaloneStopsWhenItsProcessIsGone() throws {
    var pid: pid_t = 0
    let rc = withCStrings(["/bin/sleep", "0.6"]) { argv in
      posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
    }
    XCTAssertEqual(rc, 0)
    let runDir = dir
    let child = pid
    let thread = HeartbeatThread {
      HeartbeatResponder.runStandalone(agent: "s", runDir: runDir, interval: 0.2, pid: child)
    }
    XCTAssertTrue(HeartbeatFixtures.waitUntil(2) { self.store.load(agent: "s")?.pid == child })
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    XCTAssertEqual(thread.join(timeout: 3), 0)
  }
}
