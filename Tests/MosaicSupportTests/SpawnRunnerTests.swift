import Foundation
import MosaicSupport
import XCTest

/// `SpawnRunner` on real processes: argv never through a shell, stdin, environment, exit
/// status and signals, time limits that kill the whole group, output caps, and big outputs
/// on both pipes at once.
final class SpawnRunnerTests: XCTestCase {
  let runner = SpawnRunner()

  func run(
    _ argv: [String], input: [UInt8]? = nil, env: [String: String] = [:],
    timeout: Double? = 10, limit: Int? = nil
  ) throws -> CommandResult {
    try runner.run(
      CommandRequest(argv, input: input, environment: env, timeout: timeout, outputLimit: limit))
  }

  func testArgvIsPassedAsIsNeverThroughAShell() throws {
    let hostile = ["$(touch /tmp/mt-never)", "; rm -rf /", "a b", "", "'\"", "*", "\n", "é"]
    let r = try run(["printf", "%s\\0"] + hostile)
    XCTAssertTrue(r.ok, r.stderrText)
    XCTAssertEqual(r.stdout, Array(hostile.map { $0 + "\0" }.joined().utf8))
    XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/mt-never"))
  }

  func testStdinStatusSignalAndEnvironment() throws {
    let input = Array((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    let cat = try run(["cat"], input: input)
    XCTAssertEqual(cat.stdout, input, "more input than a pipe holds arrives whole")
    XCTAssertEqual(cat.status, 0)

    let exit3 = try run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    XCTAssertEqual(exit3.status, 3)
    XCTAssertFalse(exit3.ok)
    XCTAssertNil(exit3.signal)
    XCTAssertEqual(exit3.stdoutText, "out\n")
    XCTAssertEqual(exit3.stderrText, "err\n")

    let killed = try run(["sh", "-c", "kill -TERM $$"])
    XCTAssertEqual(killed.signal, SIGTERM)
    XCTAssertEqual(killed.status, 128 + SIGTERM)

    let env = try run(["sh", "-c", "printf '%s|%s' \"$MT_A\" \"$HOME\""], env: ["MT_A": "x=y z"])
    XCTAssertEqual(env.stdoutText, "x=y z|" + (ProcessInfo.processInfo.environment["HOME"] ?? ""))
    // Invalid UTF-8 output is kept as bytes.
    let bytes = try run(["printf", "\\377\\376"])
    XCTAssertEqual(bytes.stdout, [0xFF, 0xFE])
  }

  func testSpawnFailuresAreErrorsNotCrashes() {
    XCTAssertThrowsError(try run(["/nonexistent/mt-program"])) { error in
      XCTAssertEqual(
        (error as? SpawnError)?.description,
        "cannot run /nonexistent/mt-program: No such file or directory")
    }
    XCTAssertThrowsError(try run([])) { XCTAssertEqual(($0 as? SpawnError)?.reason, "empty argv") }
    XCTAssertThrowsError(try run([""]))
    // A file that is no program (not executable, or not a format the kernel runs).
    XCTAssertThrowsError(try run(["/etc/hostname"])) {
      XCTAssertTrue("\($0)".hasPrefix("cannot run /etc/hostname: "), "\($0)")
    }
  }

  func testATimeoutKillsTheWholeGroup() throws {
    let dir = try makeTempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // A child that starts a grandchild writing its pid, then both sleep.
    let t0 = Date()
    let r = try run(
      ["sh", "-c", "sleep 30 & echo $! > \(dir)/pid; echo started; wait"], timeout: 0.5)
    let elapsed = Date().timeIntervalSince(t0)
    XCTAssertTrue(r.timedOut)
    XCTAssertFalse(r.ok)
    XCTAssertEqual(r.signal, SIGKILL)
    XCTAssertEqual(r.stdoutText, "started\n", "what was printed before the kill is kept")
    XCTAssertLessThan(elapsed, 10, "the 30 s sleeper did not hold the call")
    let pid = try XCTUnwrap(
      Int32(
        try String(contentsOfFile: dir + "/pid", encoding: .utf8).trimmingCharacters(
          in: .whitespacesAndNewlines)))
    var gone = false
    for _ in 0..<100 where !gone {
      // Killed and reaped by init, or a zombie at worst: never still sleeping.
      let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
        .split(separator: ")").last?.split(separator: " ").first
      gone = state == nil || state == "Z"
      if !gone { usleep(20_000) }
    }
    XCTAssertTrue(gone, "the grandchild \(pid) outlived the timeout")

    // A deadline runner caps a longer timeout at the time left.
    let capped = try DeadlineRunner(runner, deadline: Clock.monotonic() + 0.3).run(
      CommandRequest(["sleep", "20"], timeout: 60))
    XCTAssertTrue(capped.timedOut)
  }

  func testAnOutputCapStopsTheProgram() throws {
    let r = try run(["sh", "-c", "yes mosaic; echo never-here >&2"], timeout: 20, limit: 100_000)
    XCTAssertTrue(r.outputExceeded)
    XCTAssertFalse(r.timedOut)
    XCTAssertFalse(r.ok)
    XCTAssertLessThanOrEqual(r.stdout.count + r.stderr.count, 100_000)
    // Both pipes count together.
    let both = try run(
      ["sh", "-c", "head -c 60000 /dev/zero; head -c 60000 /dev/zero >&2"], limit: 100_000)
    XCTAssertTrue(both.outputExceeded)
    // Exactly at the limit is fine.
    let exact = try run(["head", "-c", "100000", "/dev/zero"], limit: 100_000)
    XCTAssertFalse(exact.outputExceeded)
    XCTAssertEqual(exact.stdout.count, 100_000)
  }

  func testLargeOutputOnBothPipesDoesNotDeadlock() throws {
    // 4 MB on each pipe, interleaved: a reader that drained one pipe at a time would hang.
    let r = try run(
      [
        "sh", "-c",
        "for i in 1 2 3 4; do head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; done",
      ],
      timeout: 30)
    XCTAssertTrue(r.ok)
    XCTAssertEqual(r.stdout.count, 4 << 20)
    XCTAssertEqual(r.stderr.count, 4 << 20)
  }

  func testADaemonKeepingThePipesOpenDoesNotHoldTheCall() throws {
    let t0 = Date()
    let r = try run(["sh", "-c", "(sleep 3 &) ; echo parent-done"], timeout: 20)
    XCTAssertEqual(r.stdoutText, "parent-done\n")
    XCTAssertTrue(r.ok)
    XCTAssertLessThan(Date().timeIntervalSince(t0), 2.5, "returned before the 3 s sleeper ended")
  }

  func testNoDescriptorLeaksIntoTheChild() throws {
    let fd = open("/etc/hostname", O_RDONLY)  // no O_CLOEXEC on purpose
    XCTAssertGreaterThanOrEqual(fd, 0)
    defer { close(fd) }
    let r = try run(["ls", "/proc/self/fd"])
    let fds = r.stdoutText.split(separator: "\n").compactMap { Int32($0) }
    // 0, 1, 2 and the directory ls itself opened.
    XCTAssertFalse(fds.contains(fd), "\(fds)")
    XCTAssertTrue(fds.filter { $0 > 2 }.count <= 1, "\(fds)")
  }

  func testSpawnCountCounts() throws {
    let before = SpawnRunner.spawnCount
    _ = try run(["true"])
    _ = try run(["true"])
    XCTAssertGreaterThanOrEqual(SpawnRunner.spawnCount - before, 2)
  }

  func makeTempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "mt-runner-\(UInt32.random(in: 0..<UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }
}
