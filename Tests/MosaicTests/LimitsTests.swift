import Foundation
import XCTest

/// What makes scripts safe to run from cron, beyond ScriptTests' plain loop and allocation
/// cases: the time limit also stops the waits of the fleet API and of locks, and cannot
/// be swallowed by pcall; the memory cap also holds for data that host calls hand to Lua;
/// a shebang script carries its own limits; `mosaic.lock` gives single-instance jobs whose
/// lock dies with the process.
final class LimitsTests: BinaryTestCase {
  /// Starts the binary without waiting (for runs that must overlap), output to files.
  func start(_ args: [String], executable: String? = nil) throws -> (Process, String, String) {
    let tag = UUID().uuidString.prefix(8)
    let out = dir + "/.out-\(tag)"
    let err = dir + "/.err-\(tag)"
    XCTAssertTrue(FileManager.default.createFile(atPath: out, contents: nil))
    XCTAssertTrue(FileManager.default.createFile(atPath: err, contents: nil))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable ?? binary)
    p.arguments = args
    p.environment = environment([:])
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = FileHandle(forWritingAtPath: out)
    p.standardError = FileHandle(forWritingAtPath: err)
    try p.run()
    return (p, out, err)
  }

  func assertStoppedByTime(
    _ r: Run, _ what: String, seconds: Double = 1, file: StaticString = #filePath,
    line: UInt = #line
  ) {
    XCTAssertEqual(r.status, 1, "\(what): \(r.stderr)", file: file, line: line)
    XCTAssertFalse(r.signaled, what, file: file, line: line)
    XCTAssertTrue(
      r.stderr.hasPrefix("mosaic: time limit exceeded (\(Int(seconds)) s)"), "\(what): \(r.stderr)",
      file: file, line: line)
    XCTAssertGreaterThanOrEqual(r.elapsed, seconds * 0.9, what, file: file, line: line)
    XCTAssertLessThan(r.elapsed, seconds + 3, what, file: file, line: line)
  }

  // MARK: Time

  /// The limit also ends what the fleet API waits for: fleet.wait's polling (here for an
  /// agent no roster has, so it would wait its full minute), and a lock held elsewhere.
  func testTheTimeLimitStopsFleetWaitsAndLockWaits() throws {
    try write("wait.lua", "print(fleet.wait{agent = 'nobody', health = 'healthy', timeout = 60})")
    assertStoppedByTime(try run(["run", "--timeout", "1", "wait.lua"]), "fleet.wait")

    let (holder, _, _) = try start([
      "-e", "local l = assert(mosaic.lock('nightly')) mosaic.sleep(30)",
    ])
    defer {
      holder.terminate()
      holder.waitUntilExit()
    }
    let lockFile = dir + "/config/fleet/run/nightly.lock"
    for _ in 0..<100 where ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "").isEmpty
    {
      usleep(20_000)
    }
    try write("lock.lua", "print(mosaic.lock('nightly', {wait = 60}))")
    assertStoppedByTime(try run(["run", "--timeout", "1", "lock.lua"]), "mosaic.lock wait")
  }

  /// A script cannot catch its own time limit and carry on.
  func testTheTimeLimitCannotBeSwallowed() throws {
    let scripts = [
      "pcall.lua": "while true do pcall(function() while true do end end) end",
      "xpcall.lua":
        "while true do xpcall(function() mosaic.sleep(10) end, function(e) return e end) end",
      "coroutine.lua":
        "while true do pcall(coroutine.wrap(function() while true do coroutine.yield() end end)) end",
      "close.lua":
        "do local x <close> = setmetatable({}, {__close = function() while true do end end}) end",
    ]
    for (name, text) in scripts.sorted(by: { $0.key < $1.key }) {
      try write(name, text)
      assertStoppedByTime(try run(["run", "--timeout", "1", name]), name)
    }
  }

  /// `mosaic.within`: a nearer limit for one call, in this process. Lua loops, sleeps and
  /// child processes end at it; the script goes on with `nil, message, "timeout"`.
  func testWithinBoundsOneCallAndTheScriptGoesOn() throws {
    try write(
      "within.lua",
      """
      local t0 = mosaic.monotonic()
      print(mosaic.within(0.3, function() while true do end end))
      print(mosaic.within(0.3, mosaic.sleep, 30))
      print(mosaic.within(0.3, mosaic.exec, {"sleep", "30"}))
      print(mosaic.within(0.3, pcall, function() while true do end end))
      print(mosaic.within(5, function(a, b) return a + b, "two" end, 1, 2))
      print(pcall(mosaic.within, 5, function() error("boom", 0) end))
      print(mosaic.monotonic() - t0 < 5)
      """)
    let r = try run(["run", "within.lua"], timeout: 30)
    XCTAssertEqual(r.status, 0, r.stderr)
    let timedOut = "nil\ttimed out after 0.3 s\ttimeout"
    XCTAssertEqual(
      r.stdout.split(separator: "\n").map(String.init),
      [timedOut, timedOut, timedOut, timedOut, "3\ttwo", "false\tboom", "true"])
  }

  /// An outer limit that ends first is not swallowed by `within`.
  func testWithinDoesNotOutliveTheScriptsLimit() throws {
    try write("outer.lua", "print(mosaic.within(30, function() while true do end end))")
    assertStoppedByTime(try run(["run", "--timeout", "1", "outer.lua"]), "within under --timeout")
  }

  /// The cron idiom: the limits in the script's own shebang line.
  func testAShebangScriptCarriesItsLimits() throws {
    let script = try write(
      "cron-job", "#!/usr/bin/env -S mosaic run --timeout 1 --memory 50\nwhile true do end\n",
      mode: 0o755)
    assertStoppedByTime(try run([], executable: script), "shebang --timeout")
    let grow = try write(
      "cron-grow",
      "#!/usr/bin/env -S mosaic run --timeout 20 --memory 50\nlocal t = {}\n"
        + "while true do t[#t + 1] = string.rep('x', 1e6) .. #t end\n", mode: 0o755)
    let r = try run([], executable: grow)
    XCTAssertEqual(r.status, 1, r.stderr)
    XCTAssertTrue(r.stderr.hasPrefix("mosaic: memory limit exceeded (50 MiB)"), r.stderr)
  }

  // MARK: Memory

  /// Unbounded growth through values host calls build (decoded JSON, a child's output,
  /// strings) meets the same cap, with the same clear message and no crash.
  func testTheMemoryCapHoldsForDataFromHostCalls() throws {
    let scripts = [
      "json.lua":
        "local doc = '[' .. string.rep('{\"k\":[1,2,3]},', 20000) .. '0]' local t = {} "
        + "while true do t[#t + 1] = mosaic.json.decode(doc) end",
      "exec.lua":
        "local t = {} while true do t[#t + 1] = mosaic.exec({'head', '-c', '4000000', '/dev/zero'}).stdout end",
      "double.lua": "local s = 'x' while true do s = s .. s end",
      "concat.lua": "local parts = {} while true do parts[#parts + 1] = ('y'):rep(4096) end",
    ]
    for (name, text) in scripts.sorted(by: { $0.key < $1.key }) {
      try write(name, text)
      let r = try run(["run", "--memory", "50", name], timeout: 60)
      XCTAssertEqual(r.status, 1, "\(name): \(r.stderr)")
      XCTAssertFalse(r.signaled, name)
      XCTAssertTrue(
        r.stderr.hasPrefix("mosaic: memory limit exceeded (50 MiB)"), "\(name): \(r.stderr)")
      for marker in ["Fatal error", "Backtracing", "unprotected Lua error", "panic"] {
        XCTAssertFalse(r.stderr.contains(marker), "\(name): \(r.stderr)")
      }
    }
    // Under the cap, the same work completes.
    try write("fits.lua", "local s = string.rep('x', 10e6) print(#s)")
    let fits = try run(["run", "--memory", "50", "fits.lua"])
    XCTAssertEqual(fits.stdout, "10000000\n", fits.stderr)
  }

  // MARK: Locks

  func testALockIsExclusiveAcrossProcessesAndDiesWithItsHolder() throws {
    let background = dir + "/background.pid"
    let (holder, _, _) = try start([
      "-e",
      "local l = assert(mosaic.lock('nightly')) "
        + "mosaic.exec({'sh', '-c', 'sleep 30 >/dev/null 2>&1 & echo $! > \"$0\"', '\(background)'}) mosaic.sleep(30)",
    ])
    defer {
      kill(holder.processIdentifier, SIGKILL)
      if let text = try? String(contentsOfFile: background, encoding: .utf8),
        let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
      {
        kill(pid, SIGKILL)
      }
      // (Foundation's Process waits for descriptors the sleeper inherited: kill it first.)
      holder.waitUntilExit()
    }
    let lockFile = dir + "/config/fleet/run/nightly.lock"
    var pid = ""
    for _ in 0..<100 where pid.isEmpty {
      usleep(20_000)
      pid = ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines)
    }
    XCTAssertEqual(pid, String(holder.processIdentifier))
    let attrs = try FileManager.default.attributesOfItem(atPath: lockFile)
    XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    let runAttrs = try FileManager.default.attributesOfItem(atPath: dir + "/config/fleet/run")
    XCTAssertEqual((runAttrs[.posixPermissions] as? NSNumber)?.intValue, 0o700)

    let refused = try run(["-e", "print(mosaic.lock('nightly'))"])
    XCTAssertEqual(refused.status, 0, refused.stderr)
    // The refusal as data: the message, the code and the holder's pid.
    XCTAssertEqual(refused.stdout, "nil\tlock 'nightly' is held by pid \(pid)\theld\t\(pid)\n")
    let waited = try run(["-e", "print(mosaic.lock('nightly', {wait = 0.3}))"])
    XCTAssertEqual(
      waited.stdout, "nil\tlock 'nightly' is held by pid \(pid) (waited 0.3 s)\theld\t\(pid)\n")
    XCTAssertGreaterThanOrEqual(waited.elapsed, 0.3)

    // kill -9: no clean-up code runs, the kernel drops the lock. The `sleep 30 &` the
    // holder started lives on, and does not hold it (the descriptor is close-on-exec).
    kill(holder.processIdentifier, SIGKILL)
    let killedAt = Date()
    let sleeper = try String(contentsOfFile: background, encoding: .utf8)
    XCTAssertEqual(
      kill(try XCTUnwrap(pid_t(sleeper.trimmingCharacters(in: .whitespacesAndNewlines))), 0), 0)
    var taken = try run(["-e", "local l = assert(mosaic.lock('nightly')) print(l, l:held())"])
    while taken.status != 0, Date().timeIntervalSince(killedAt) < 2 {
      usleep(20_000)
      taken = try run(["-e", "local l = assert(mosaic.lock('nightly')) print(l, l:held())"])
    }
    XCTAssertEqual(taken.stdout, "mosaic.lock nightly (held)\ttrue\n", taken.stderr)
  }

  func testLockHandlesInOneProcess() throws {
    let r = try run([
      "-e",
      """
      local a = assert(mosaic.lock('job'))
      print(mosaic.lock('job'))
      print(a:release(), a:release(), a:held())
      do
        local b <close> = assert(mosaic.lock('job'))
        print(select(2, mosaic.lock('job')) ~= nil)
      end
      assert(mosaic.lock('job', {wait = 0}))  -- the handle is dropped, the lock is kept
      collectgarbage()
      collectgarbage()
      print(mosaic.lock('job') == nil)
      """,
    ])
    XCTAssertEqual(r.status, 0, r.stderr)
    let lines = r.stdout.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, 4, r.stdout)
    XCTAssertTrue(
      lines[0].hasPrefix("nil\tlock 'job' is already held by this process (pid "), r.stdout)
    XCTAssertTrue(lines[0].hasSuffix(")\theld-by-self"), r.stdout)
    XCTAssertEqual(Array(lines.dropFirst()), ["true\tfalse\tfalse", "true", "true"])
  }

  func testLockArgumentErrorsPointAtTheCaller() throws {
    for (chunk, message) in [
      ("mosaic.lock('a/b')", "bad argument #1 to 'lock' (lock name expected"),
      ("mosaic.lock('')", "bad argument #1 to 'lock' (lock name expected"),
      ("mosaic.lock('x.y')", "bad argument #1 to 'lock' (lock name expected"),
      ("mosaic.lock(42)", "bad argument #1 to 'lock' (string expected, got number)"),
      (
        "mosaic.lock('x', {wiat = 1})",
        "bad argument #2 to 'lock' (unknown option 'wiat' (did you mean 'wait'?))"
      ),
      ("mosaic.lock('x', {wait = -1})", "bad argument #2 to 'lock' (wait: non-negative number"),
      ("mosaic.lock('x', 5)", "bad argument #2 to 'lock' (table expected, got number)"),
    ] {
      let r = try run(["-e", "\n" + chunk])
      XCTAssertEqual(r.status, 1, chunk)
      XCTAssertTrue(
        r.stderr.hasPrefix("mosaic: (command line):2: " + message), "\(chunk): \(r.stderr)")
    }
    // A symlink where the lock file would be is refused, not followed.
    let run = dir + "/config/fleet/run"
    try FileManager.default.createDirectory(
      atPath: run, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try FileManager.default.createSymbolicLink(
      atPath: run + "/evil.lock", withDestinationPath: dir + "/target")
    let evil = try self.run(["-e", "print(mosaic.lock('evil'))"])
    XCTAssertTrue(
      evil.stdout.hasPrefix("nil\tlock evil: \(run)/evil.lock: "), evil.stdout + evil.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/target"))
  }
}
