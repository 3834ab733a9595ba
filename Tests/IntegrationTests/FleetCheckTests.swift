import Foundation
import MosaicSupport
import XCTest

/// `mosaic fleet check` (SPEC 2.8) against the dogfood fleet on a real tmux server and a real
/// `systemd --user` manager: every state produced for real (OK, WARNING, CRITICAL, UNKNOWN),
/// the plugin output's syntax, `--json`, the time limit and overlapping runs.
final class FleetCheckTests: DogfoodTestCase {
  /// The four well-behaved dogfood agents (canary-pi drifts and has a boot-enable gap).
  static let wellBehaved = ["coder-1", "coder-2", "reviewer", "planner"]

  static var lingerEnabled: Bool {
    let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
    return FileManager.default.fileExists(atPath: "/var/lib/systemd/linger/\(user)")
  }

  func check(
    _ f: DogfoodFleet, _ args: [String], file: StaticString = #filePath, line: UInt = #line
  ) throws -> (status: Int32, first: String, details: [String], stdout: String) {
    let r = try f.mosaic.run(["fleet", "check"] + args)
    let lines = r.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).map(
      String.init)
    XCTAssertTrue(r.stdoutText.hasSuffix("\n"), r.stdoutText, file: file, line: line)
    let first = lines.first ?? ""
    assertPluginLine(first, file: file, line: line)
    return (r.status, first, Array(lines.dropFirst().filter { !$0.isEmpty }), r.stdoutText)
  }

  /// `MOSAIC FLEET <STATE> - <summary> | <perfdata>`, the perfdata in the Monitoring Plugins
  /// syntax: space-separated `'label'=value[UOM];[warn];[crit];[min];[max]`.
  func assertPluginLine(_ line: String, file: StaticString = #filePath, line l: UInt = #line) {
    let head = #/^MOSAIC FLEET (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.*))?$/#
    guard let m = line.wholeMatch(of: head) else {
      XCTFail("not a plugin line: \(line)", file: file, line: l)
      return
    }
    let datum =
      #/^('[^'=]+'|[^'= ]+)=-?[0-9]+(\.[0-9]+)?(s|ms|us|%|B|KB|MB|TB|c)?(;[-0-9.:~@]*){0,4}$/#
    for token in (m.3.map(String.init) ?? "").split(separator: " ") {
      XCTAssertNotNil(
        String(token).wholeMatch(of: datum), "perfdata '\(token)' in: \(line)", file: file, line: l)
    }
  }

  func perfdata(_ first: String) -> [String: Double] {
    guard let bar = first.range(of: " | ") else { return [:] }
    var out: [String: Double] = [:]
    for token in first[bar.upperBound...].split(separator: " ") {
      let parts = token.split(separator: "=", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let value = parts[1].prefix { "0123456789.-".contains($0) }
      out[String(parts[0])] = Double(value)
    }
    return out
  }

  // MARK: OK

  func testAllHealthyIsOK() throws {
    let f = try theFleet()
    let agents = Self.wellBehaved.flatMap { ["--agent", $0] }
    let ok = try check(f, agents + ["--ignore", "linger-disabled"])
    XCTAssertEqual(ok.status, 0, ok.stdout)
    XCTAssertTrue(ok.first.hasPrefix("MOSAIC FLEET OK - 4 agents, all healthy"), ok.first)
    XCTAssertEqual(ok.details, [], ok.stdout)
    let p = perfdata(ok.first)
    XCTAssertEqual(p["agents"], 4)
    XCTAssertEqual(p["healthy"], 4)
    for key in ["stale", "dead", "absent", "inactive", "drift", "boot_enable", "unrostered"] {
      XCTAssertEqual(p[key], 0, key)
    }
    XCTAssertNotNil(p["time"])

    let json = try JSONCodec.decode(
      try f.mosaic.run(["fleet", "check", "--json", "--ignore", "linger-disabled"] + agents).stdout)
    XCTAssertEqual(json["schema"]?.stringValue, "mosaic.fleet.check/v1")
    XCTAssertEqual(json["state"]?.stringValue, "OK")
    XCTAssertEqual(json["exit"]?.intValue, 0)
    XCTAssertEqual(json["problems"]?.arrayValue, [])
    XCTAssertEqual(json["perfdata"]?["healthy"]?.intValue, 4)
    XCTAssertEqual(json["host"]?.stringValue, shortHostName())
    XCTAssertNotNil(json["generated_at"]?.stringValue)

    // Without --ignore, lingering decides: this machine's truth, whichever it is.
    let plain = try check(f, agents)
    if Self.lingerEnabled {
      XCTAssertEqual(plain.status, 0, plain.stdout)
    } else {
      XCTAssertEqual(plain.status, 1, plain.stdout)
      XCTAssertTrue(
        plain.first.hasPrefix("MOSAIC FLEET WARNING - 4 agents, 1 warning: lingering is disabled"))
      XCTAssertEqual(plain.details.count, 1)
      XCTAssertTrue(plain.details[0].hasPrefix("WARNING: lingering is disabled"), plain.stdout)
    }
  }

  // MARK: WARNING

  func testDriftIsAWarning() throws {
    let f = try theFleet()
    let canary = try check(f, ["--agent", "canary-pi", "--ignore", "linger-disabled"])
    XCTAssertEqual(canary.status, 1, canary.stdout)
    XCTAssertTrue(
      canary.first.hasPrefix("MOSAIC FLEET WARNING - 1 agent, 2 warnings: canary-pi: drift"))
    XCTAssertEqual(canary.details.count, 2, canary.stdout)
    XCTAssertTrue(
      canary.details[0].hasPrefix(
        "WARNING: canary-pi: drift: roster runtime pi, pane runs mosaic agent stub canary-pi"),
      canary.stdout)
    XCTAssertEqual(
      canary.details[1],
      "WARNING: canary-pi: unit \(f.unit("canary-pi")) is active but disabled: it will not start at boot"
    )
    XCTAssertEqual(perfdata(canary.first)["drift"], 1)

    // The whole dogfood fleet: WARNING by design, never worse.
    let all = try check(f, [])
    XCTAssertEqual(all.status, 1, all.stdout)
    XCTAssertTrue(all.first.hasPrefix("MOSAIC FLEET WARNING - 5 agents"), all.first)
    let json = try JSONCodec.decode(try f.mosaic.run(["fleet", "check", "--json"]).stdout)
    XCTAssertEqual(json["state"]?.stringValue, "WARNING")
    XCTAssertEqual(json["exit"]?.intValue, 1)
    let problems = try XCTUnwrap(json["problems"]?.arrayValue)
    let codes = problems.compactMap { $0["code"]?.stringValue }
    XCTAssertTrue(codes.contains("drift") && codes.contains("boot-enable"), "\(codes)")
    for p in problems {
      // Every object that describes an agent carries tenant_id and host.
      XCTAssertEqual(p["severity"]?.stringValue, "WARNING")
      XCTAssertEqual(p["host"]?.stringValue, shortHostName())
      guard case .object(let pairs) = p else { return XCTFail("\(p)") }
      XCTAssertEqual(
        pairs.map(\.0), ["severity", "agent", "tenant_id", "host", "code", "message"], "\(p)")
      if p["agent"]?.stringValue == "canary-pi" {
        XCTAssertEqual(p["tenant_id"]?.stringValue, "default")
      }
    }
    // An unrostered session on the fleet's socket is a warning too.
    try sh(["tmux", "-L", f.socket, "new-session", "-d", "-s", "stray", "sleep", "300"])
    defer { _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=stray"]) }
    let stray = try check(f, ["--agent", "stray"])
    XCTAssertEqual(stray.status, 1, stray.stdout)
    XCTAssertTrue(
      stray.details.contains(
        "WARNING: stray: session 'stray' on socket \(f.socket) is not in the roster"))
  }

  // MARK: CRITICAL

  func testAKilledPaneIsCritical() throws {
    let f = try theFleet()
    let pid = try sh(["tmux", "-L", f.socket, "display", "-p", "-t", "=coder-2:", "#{pane_pid}"])
    kill(pid_t(pid)!, SIGKILL)
    defer { restart(f, "coder-2") }
    var result = try check(f, ["--ignore", "linger-disabled"])
    for _ in 0..<20
    where !result.details.contains(where: { $0.hasPrefix("CRITICAL: coder-2: pane dead") }) {
      Thread.sleep(forTimeInterval: 0.1)
      result = try check(f, ["--ignore", "linger-disabled"])
    }
    XCTAssertEqual(result.status, 2, result.stdout)
    XCTAssertTrue(
      result.first.hasPrefix("MOSAIC FLEET CRITICAL - 5 agents, 1 critical"), result.first)
    XCTAssertTrue(result.first.contains(": coder-2: pane dead"), result.first)
    XCTAssertEqual(result.details.first.map { $0.hasPrefix("CRITICAL: coder-2: pane dead") }, true)
    XCTAssertEqual(perfdata(result.first)["dead"], 1)
    // CRITICAL lines come before the WARNING ones.
    let severities = result.details.map { $0.prefix { $0 != ":" } }
    XCTAssertEqual(severities, severities.sorted { $0 == "CRITICAL" && $1 != "CRITICAL" })

    // Narrowed to the others, the fleet is fine.
    let others = try check(
      f, ["--ignore", "linger-disabled", "--agent", "coder-1", "--agent", "reviewer"])
    XCTAssertEqual(others.status, 0, others.stdout)
  }

  /// A stale heartbeat with everything else fine: an agent whose heartbeat responder is
  /// frozen (SIGSTOP) while its pane and unit stay up. Its own roster: the agent runs
  /// `sleep` beside a `mosaic heartbeat` responder in a session of its own, and its unit is
  /// the fleet's tmux service (active, static).
  func testAStaleHeartbeatIsCritical() throws {
    let f = try theFleet()
    let roster = f.home + "/wedged-roster.lua"
    try """
    return {
      socket = "\(f.socket)",
      heartbeat_interval = 1,
      agents = {
        { name = "wedged", runtime = "stub", match = ".", unit = "\(f.prefix)tmux.service" },
      },
    }
    """.write(toFile: roster, atomically: true, encoding: .utf8)
    try sh([
      "tmux", "-L", f.socket, "new-session", "-d", "-s", "wedged", "-e", "MOSAIC_HOME=\(f.home)",
      "sh", "-c", "setsid \"$0\" heartbeat wedged --interval 1 & exec sleep 300",
      Harness.mosaicBinary,
    ])
    var responder: pid_t? = nil
    defer {
      if let responder {
        kill(responder, SIGCONT)
        kill(responder, SIGTERM)
      }
      _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=wedged"])
    }
    let args = ["--roster", roster, "--agent", "wedged", "--ignore", "linger-disabled"]
    var healthy = try check(f, args)
    for _ in 0..<50 where healthy.status != 0 {
      Thread.sleep(forTimeInterval: 0.1)
      healthy = try check(f, args)
    }
    XCTAssertEqual(healthy.status, 0, healthy.stdout)

    let ps = try f.mosaic.json(["fleet", "ps", "--json", "--roster", roster])
    let row = ps["agents"]?.arrayValue?.first { $0["name"]?.stringValue == "wedged" }
    let pid = try XCTUnwrap(row?["heartbeat"]?["pid"]?.intValue.map { pid_t($0) })
    let cmdline = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
    XCTAssertTrue(cmdline.contains("heartbeat\u{0}wedged"), cmdline)
    responder = pid
    kill(pid, SIGSTOP)
    let frozen = Date()

    var stale = try check(f, args)
    while stale.status != 2, Date().timeIntervalSince(frozen) < 8 {
      Thread.sleep(forTimeInterval: 0.25)
      stale = try check(f, args)
    }
    XCTAssertEqual(stale.status, 2, stale.stdout)
    XCTAssertTrue(
      stale.first.hasPrefix("MOSAIC FLEET CRITICAL - 1 agent, 1 critical: wedged: heartbeat stale"),
      stale.first)
    XCTAssertEqual(stale.details.count, 1, stale.stdout)
    XCTAssertTrue(stale.details[0].hasPrefix("CRITICAL: wedged: heartbeat stale: last beat "))
    XCTAssertEqual(perfdata(stale.first)["stale"], 1)
    XCTAssertEqual(perfdata(stale.first)["dead"], 0)
    // Not before three intervals (1 s each) without a beat.
    XCTAssertGreaterThan(Date().timeIntervalSince(frozen), 2)
  }

  // MARK: UNKNOWN

  func testABrokenRosterIsUnknown() throws {
    let f = try theFleet()
    let roster = f.home + "/broken-roster.lua"
    try "return {\n  agents = {\n    { name = 'x', runtime = 'stub' \n}\n"
      .write(toFile: roster, atomically: true, encoding: .utf8)
    let r = try check(f, ["--roster", roster])
    XCTAssertEqual(r.status, 3, r.stdout)
    XCTAssertTrue(r.first.hasPrefix("MOSAIC FLEET UNKNOWN - roster: \(roster):"), r.first)
    let json = try JSONCodec.decode(
      try f.mosaic.run(["fleet", "check", "--json", "--roster", roster]).stdout)
    XCTAssertEqual(json["state"]?.stringValue, "UNKNOWN")
    XCTAssertEqual(json["exit"]?.intValue, 3)
    let problem = json["problems"]?.arrayValue?.first
    XCTAssertEqual(problem?["code"]?.stringValue, "roster-invalid")
    XCTAssertEqual(problem?["agent"], .null)

    // A roster that is valid Lua but not a valid roster: the same.
    try "return { agents = { { name = 'bad.name', runtime = 'stub' } } }"
      .write(toFile: roster, atomically: true, encoding: .utf8)
    let invalid = try check(f, ["--roster", roster])
    XCTAssertEqual(invalid.status, 3, invalid.stdout)
    XCTAssertTrue(invalid.first.contains("bad.name"), invalid.first)

    // Bad arguments are UNKNOWN too (the plugin guidelines), an agent nobody knows as well.
    for (args, text) in [
      (["--timeout", "soon"], "bad arguments: --timeout must be a positive number"),
      (["--ignore", "no-such-code"], "bad arguments: --ignore: unknown problem code"),
      (["--bogus"], "bad arguments: unknown option '--bogus'"),
      (["--agent", "nobody"], "nobody: no such agent in the roster"),
      (["--tenant", "nobody"], "nothing to check"),
    ] {
      let u = try check(f, args)
      XCTAssertEqual(u.status, 3, "\(args): \(u.stdout)")
      XCTAssertTrue(u.first.hasPrefix("MOSAIC FLEET UNKNOWN - \(text)"), "\(args): \(u.first)")
    }
  }

  /// A hung tmux server (SIGSTOP) makes the snapshot hang: the check answers UNKNOWN itself
  /// at its --timeout, and a second run of the same check meanwhile is refused at once.
  func testAnExceededTimeoutIsUnknownAndOverlappingRunsDoNotPileUp() throws {
    let f = try theFleet()
    let server = try XCTUnwrap(pid_t(try sh(["tmux", "-L", f.socket, "display", "-p", "#{pid}"])))
    kill(server, SIGSTOP)
    var continued = false
    defer { if !continued { kill(server, SIGCONT) } }

    // Earlier runs left their pid in the lock file: start from none, to see the holder's.
    let lockFile = f.home + "/fleet/run/fleet-check.lock"
    try? FileManager.default.removeItem(atPath: lockFile)
    let box = ResultBox()
    let done = DispatchSemaphore(value: 0)
    let m = f.mosaic
    let started = Date()
    DispatchQueue.global().async {
      box.set(try? m.run(["fleet", "check", "--timeout", "3"], timeout: 30))
      done.signal()
    }
    // The first run holds the lock (its pid is in the lock file) while it waits for tmux.
    var holder = ""
    for _ in 0..<40 where holder.isEmpty {
      Thread.sleep(forTimeInterval: 0.05)
      holder = ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "")
        .trimmingCharacters(in: .whitespacesAndNewlines)
    }
    XCTAssertFalse(holder.isEmpty, "the first check never took its lock")
    let second = Date()
    let overlap = try check(f, ["--timeout", "3"])
    XCTAssertLessThan(Date().timeIntervalSince(second), 1.5)
    XCTAssertEqual(overlap.status, 3, overlap.stdout)
    XCTAssertTrue(
      overlap.first.hasPrefix(
        "MOSAIC FLEET UNKNOWN - another check is still running (pid \(holder))"),
      overlap.first)
    let holderCmdline =
      (try? String(contentsOfFile: "/proc/\(holder)/cmdline", encoding: .utf8)) ?? ""
    XCTAssertTrue(holderCmdline.contains("fleet\u{0}check"), holderCmdline)

    XCTAssertEqual(done.wait(timeout: .now() + 20), .success)
    let elapsed = Date().timeIntervalSince(started)
    let first = try XCTUnwrap(box.get())
    XCTAssertEqual(first.status, 3, first.stdoutText)
    XCTAssertTrue(
      first.stdoutText.hasPrefix(
        "MOSAIC FLEET UNKNOWN - timed out after 3 s: fleet ps did not answer"),
      first.stdoutText)
    assertPluginLine(String(first.stdoutText.prefix { $0 != "\n" }))
    XCTAssertGreaterThan(elapsed, 2.5)
    XCTAssertLessThan(elapsed, 4.5, "the check outlived its --timeout")

    kill(server, SIGCONT)
    continued = true
    // The lock went with its holder: the next run checks again.
    let after = try check(f, ["--ignore", "linger-disabled", "--agent", "coder-1"])
    XCTAssertEqual(after.status, 0, after.stdout)
    let again = try check(f, [])
    XCTAssertEqual(again.status, 1, again.stdout)
  }

  func restart(_ f: DogfoodFleet, _ agent: String) {
    _ = try? sh(["systemctl", "--user", "restart", f.unit(agent)])
    let r = try? f.mosaic.run([
      "-e", "assert(fleet.wait{agent='\(agent)', health='healthy', pane='alive', timeout=15})",
    ])
    XCTAssertEqual(r?.status, 0, r?.stderrText ?? "")
  }
}

/// A result handed from a background queue to the test.
final class ResultBox: @unchecked Sendable {
  private let lock = NSLock()
  private var value: CommandResult?

  func set(_ v: CommandResult?) {
    lock.lock()
    value = v
    lock.unlock()
  }

  func get() -> CommandResult? {
    lock.lock()
    defer { lock.unlock() }
    return value
  }
}
