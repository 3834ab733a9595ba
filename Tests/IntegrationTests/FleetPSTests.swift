import Foundation
import MosaicSupport
import XCTest

/// The PRD's acceptance criteria for `fleet ps`, against the dogfood fleet brought up by
/// examples/dogfood.lua on a real tmux server (a socket of its own) and a real
/// `systemd --user` manager (units with a prefix of their own), heartbeat interval 1 s.
final class FleetPSTests: DogfoodTestCase {
  func testEveryAgentHasARowWithTheRealPanePidAndIdle() throws {
    let f = try theFleet()
    let ps = try f.mosaic.json(["fleet", "ps", "--json"])
    XCTAssertEqual(ps["schema"]?.stringValue, "mosaic.fleet.ps/v1")
    XCTAssertEqual(ps["socket"]?.stringValue, f.socket)
    let rows = try XCTUnwrap(ps["agents"]?.arrayValue)
    XCTAssertEqual(rows.compactMap { $0["name"]?.stringValue }, DogfoodFleet.agents)
    for row in rows {
      let name = try XCTUnwrap(row["name"]?.stringValue)
      XCTAssertNotNil(row["tenant_id"]?.stringValue, name)
      XCTAssertEqual(row["host"]?.stringValue, shortHostName(), name)
      let pane = try XCTUnwrap(row["pane"])
      XCTAssertEqual(pane["state"]?.stringValue, "alive", name)
      let real = try sh(
        ["tmux", "-L", f.socket, "display", "-p", "-t", "=\(name):", "#{pane_id} #{pane_pid}"])
      XCTAssertEqual("\(pane["id"]?.stringValue ?? "") \(pane["pid"]?.intValue ?? -1)", real, name)
      let idle = try XCTUnwrap(pane["idle_s"]?.intValue, name)
      XCTAssertTrue((0...60).contains(idle), "\(name) idle \(idle)")
      XCTAssertEqual(pane["width"]?.intValue, 200)
      XCTAssertEqual(pane["height"]?.intValue, 50)
      let argv = try XCTUnwrap(row["process"]?["argv"]?.arrayValue).compactMap(\.stringValue)
      XCTAssertEqual(Array(argv.dropFirst().prefix(3)), ["agent", "stub", name])
      XCTAssertEqual(row["heartbeat"]?["health"]?.stringValue, "healthy", name)
      XCTAssertEqual(row["heartbeat"]?["pid"]?.intValue, pane["pid"]?.intValue, name)
    }
  }

  /// `MOSAIC_TIMING` says where fleet ps spends its time, on stderr, step by step in order,
  /// and changes nothing on stdout; the user manager was asked over D-Bus and systemctl
  /// (forced with MOSAIC_SYSTEMD_BUS=off) gives the same systemd cells.
  func testTimingStepsAndTheBusAgreeWithSystemctl() throws {
    let f = try theFleet()
    var timed = f.mosaic
    timed.environment["MOSAIC_TIMING"] = "1"
    let r = try timed.run(["fleet", "ps", "--json"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    let steps = r.stderrText.split(separator: "\n").compactMap { line -> String? in
      guard line.hasPrefix("mosaic: timing: "), let close = line.firstIndex(of: ")") else {
        return nil
      }
      return String(line[line.index(close, offsetBy: 2)...])
    }
    XCTAssertEqual(
      steps,
      [
        "main", "roster loaded", "process groups and heartbeat files read", "tmux listed",
        "systemd answered", "rows built", "JSON encoded",
      ], r.stderrText)
    let rows = try XCTUnwrap(try JSONCodec.decode(r.stdout)["agents"]?.arrayValue)
    XCTAssertEqual(rows.count, DogfoodFleet.agents.count)

    var spawned = f.mosaic
    spawned.environment["MOSAIC_SYSTEMD_BUS"] = "off"
    let viaSystemctl = try XCTUnwrap(
      try spawned.json(["fleet", "ps", "--json"])["agents"]?.arrayValue)
    XCTAssertEqual(rows.map { $0["systemd"] }, viaSystemctl.map { $0["systemd"] })
    XCTAssertEqual(rows.compactMap { $0["systemd"]?["active"]?.stringValue }.count, rows.count)
    // The bus spares the systemctl process: one spawn fewer than with it turned off.
    let count = ["-e", "assert(fleet.ps()) io.write(require('mosaic._host').spawn_count())"]
    let withBus = try f.mosaic.run(count)
    let withoutBus = try spawned.run(count)
    XCTAssertEqual(withBus.status, 0, withBus.stderrText)
    XCTAssertEqual(
      (Int(withoutBus.stdoutText) ?? 0) - (Int(withBus.stdoutText) ?? 0), 1,
      "spawns with the bus \(withBus.stdoutText), without \(withoutBus.stdoutText)")
  }

  func testCanaryPiIsFlaggedForDriftAndTheBootEnableGap() throws {
    let f = try theFleet()
    let rows = try XCTUnwrap(try f.mosaic.json(["fleet", "ps", "--json"])["agents"]?.arrayValue)
    for row in rows {
      let name = row["name"]?.stringValue ?? ""
      let unit = try XCTUnwrap(row["systemd"]?["unit"]?.stringValue)
      let isEnabled = try SpawnRunner().run(["systemctl", "--user", "is-enabled", unit])
      XCTAssertEqual(
        row["systemd"]?["enabled"]?.stringValue,
        isEnabled.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), name)
      XCTAssertEqual(row["systemd"]?["active"]?.stringValue, "active", name)
      let flags = row["flags"]?.arrayValue?.compactMap(\.stringValue) ?? []
      if name == "canary-pi" {
        XCTAssertEqual(row["runtime"]?.stringValue, "pi")
        XCTAssertEqual(row["drift"], .bool(true))
        XCTAssertEqual(row["boot_enable_warning"], .bool(true))
        XCTAssertEqual(row["systemd"]?["enabled"]?.stringValue, "disabled")
        XCTAssertEqual(flags, ["drift", "boot-enable"])
      } else {
        XCTAssertEqual(row["drift"], .bool(false), name)
        XCTAssertEqual(row["boot_enable_warning"], .bool(false), name)
        XCTAssertEqual(flags, [], name)
      }
    }
    // The human table says the same.
    let table = try f.mosaic.run(["fleet", "ps"])
    XCTAssertEqual(table.status, 0)
    let canary = table.stdoutText.split(separator: "\n").first { $0.hasPrefix("canary-pi ") }
    XCTAssertNotNil(canary)
    XCTAssertTrue(canary?.hasSuffix("drift,boot-enable") ?? false, String(canary ?? ""))
    XCTAssertTrue(table.stdoutText.hasPrefix("NAME "))
  }

  func testProbesAreAnsweredWithinASecond() throws {
    let f = try theFleet()
    let started = Date()
    let rows = try XCTUnwrap(
      try f.mosaic.json(["fleet", "ps", "--json", "--probe", "--probe-timeout", "3"])["agents"]?
        .arrayValue)
    XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    for row in rows {
      XCTAssertEqual(
        row["heartbeat"]?["probe_answered"], .bool(true), row["name"]?.stringValue ?? "")
    }
    let probe = try f.mosaic.run(["-e", "print(fleet.probe('coder-1', 2)['coder-1'])"])
    XCTAssertEqual(probe.stdoutText, "true\n")
  }

  /// Killing an agent's pane flips its row to dead at once, and its heartbeat to stale
  /// within three intervals; restarting its unit brings it back.
  func testKillingAPaneFlipsItsRowToDeadThenStale() throws {
    let f = try theFleet()
    let pid = try sh(["tmux", "-L", f.socket, "display", "-p", "-t", "=reviewer:", "#{pane_pid}"])
    kill(pid_t(pid)!, SIGKILL)
    let killed = Date()
    var row = try f.row("reviewer")
    XCTAssertEqual(row["pane"]?["state"]?.stringValue, "dead")
    XCTAssertTrue(row["flags"]?.arrayValue?.contains(.string("dead")) ?? false)
    var staleAfter: Double? = nil
    while Date().timeIntervalSince(killed) < 8 {
      row = try f.row("reviewer")
      if row["heartbeat"]?["health"]?.stringValue == "stale" {
        staleAfter = Date().timeIntervalSince(killed)
        break
      }
      Thread.sleep(forTimeInterval: 0.2)
    }
    let after = try XCTUnwrap(staleAfter, "heartbeat never went stale")
    // Its last beat was at most one interval before the kill: stale by 3 intervals + slack.
    XCTAssertLessThanOrEqual(after, 3 * DogfoodFleet.interval + 1.5)
    XCTAssertTrue(row["flags"]?.arrayValue?.contains(.string("stale")) ?? false)

    try sh(["systemctl", "--user", "restart", f.unit("reviewer")])
    let back = try f.mosaic.run([
      "-e", "assert(fleet.wait{agent='reviewer', health='healthy', pane='alive', timeout=10})",
    ])
    XCTAssertEqual(back.status, 0, back.stderrText)
  }

  /// tmux continues a pane's direct child when it stops; a deeper member of the pane's
  /// foreground group (here `sleep` under `sh -c`) stays stopped, and is what wedges it.
  func testAStoppedProcessInThePanesForegroundGroupIsFlagged() throws {
    let f = try theFleet()
    try sh([
      "tmux", "-L", f.socket, "new-session", "-d", "-s", "frozen", "sh", "-c", "sleep 300; true",
    ])
    defer { _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=frozen"]) }
    let panePid = try sh(["tmux", "-L", f.socket, "display", "-p", "-t", "=frozen:", "#{pane_pid}"])
    var child = ""
    for _ in 0..<50 where child.isEmpty {
      child = (try? SpawnRunner().run(["pgrep", "-P", panePid]).stdoutText) ?? ""
      child = child.trimmingCharacters(in: .whitespacesAndNewlines)
      if child.isEmpty { Thread.sleep(forTimeInterval: 0.05) }
    }
    let pid = try XCTUnwrap(pid_t(child), "no child of the pane's shell")
    XCTAssertFalse(try f.row("frozen")["flags"]?.arrayValue?.contains(.string("stopped")) ?? true)
    kill(pid, SIGSTOP)
    defer { kill(pid, SIGCONT) }
    Thread.sleep(forTimeInterval: 0.1)
    let row = try f.row("frozen")
    XCTAssertEqual(row["flags"]?.arrayValue, [.string("stopped"), .string("unrostered")])
  }

  func testAnUnrosteredSessionGetsARowOfItsOwn() throws {
    let f = try theFleet()
    try sh(["tmux", "-L", f.socket, "new-session", "-d", "-s", "stray", "sleep", "300"])
    defer { _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=stray"]) }
    let row = try f.row("stray")
    XCTAssertEqual(row["flags"]?.arrayValue, [.string("unrostered")])
    XCTAssertEqual(row["tenant_id"]?.stringValue, "default", "the roster's default tenant")
    XCTAssertEqual(row["host"]?.stringValue, shortHostName())
    XCTAssertEqual(row["pane"]?["state"]?.stringValue, "alive")
    // Narrowing by tenant leaves unrostered sessions out.
    let narrowed = try f.mosaic.json(["fleet", "ps", "--json", "--tenant", "default"])
    XCTAssertEqual(narrowed["agents"]?.arrayValue?.count, DogfoodFleet.agents.count)
  }

  func testAnUnreadableTmuxPlaneLeavesItsCellsUnknown() throws {
    let f = try theFleet()
    let ps = try f.mosaic.json(["fleet", "ps", "--json", "--socket", Harness.uniqueName("none")])
    let codes = ps["warnings"]?.arrayValue?.compactMap { $0["code"]?.stringValue } ?? []
    XCTAssertTrue(codes.contains("tmux-server-absent"), "\(codes)")
    for row in ps["agents"]?.arrayValue ?? [] {
      XCTAssertEqual(row["pane"]?["state"], .null)
      XCTAssertEqual(row["process"], .null)
      // The rest of the row is still filled.
      XCTAssertEqual(row["systemd"]?["active"]?.stringValue, "active")
    }
    let table = try f.mosaic.run(["fleet", "ps", "--socket", Harness.uniqueName("none")])
    XCTAssertEqual(table.status, 0)
    XCTAssertTrue(table.stderrText.contains("no tmux server"), table.stderrText)
    XCTAssertTrue(table.stdoutText.contains("unknown"))
  }

  func testAnUnreachableUserManagerLeavesItsCellsUnknown() throws {
    let f = try theFleet()
    let empty = try Harness.makeTempDir("norun")
    defer { try? FileManager.default.removeItem(atPath: empty) }
    var m = f.mosaic
    m.environment["XDG_RUNTIME_DIR"] = empty
    m.environment["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=\(empty)/bus"
    let ps = try m.json(["fleet", "ps", "--json"])
    let codes = ps["warnings"]?.arrayValue?.compactMap { $0["code"]?.stringValue } ?? []
    XCTAssertTrue(codes.contains("user-manager-unreachable"), "\(codes)")
    for row in ps["agents"]?.arrayValue ?? [] {
      XCTAssertEqual(row["systemd"]?["active"], .null)
      XCTAssertEqual(row["systemd"]?["enabled"], .null)
      XCTAssertEqual(row["boot_enable_warning"], .null)
      XCTAssertEqual(row["pane"]?["state"]?.stringValue, "alive")
    }
  }
}

/// The dogfood fleet on a socket, unit prefix and MOSAIC_HOME of its own.
struct DogfoodFleet {
  static let agents = ["coder-1", "coder-2", "reviewer", "planner", "canary-pi"]
  static let interval = 1.0

  let socket: String
  let prefix: String
  let home: String
  let mosaic: Mosaic

  static func up() throws -> DogfoodFleet {
    _ = try Harness.userManager()
    let name = Harness.uniqueName("fleet")
    let home = try Harness.makeTempDir("home")
    let fleet = DogfoodFleet(
      socket: name, prefix: name + "-", home: home, mosaic: Mosaic(home: home))
    let r = try fleet.dogfood(["up", "--interval", "1", "--wait", "20"])
    guard r.status == 0 else {
      fleet.down()
      throw DogfoodError(message: "dogfood up failed: \(r.stderrText)")
    }
    return fleet
  }

  func dogfood(_ args: [String]) throws -> CommandResult {
    try mosaic.run(
      ["run", Harness.repoRoot + "/examples/dogfood.lua"] + args
        + ["--socket", socket, "--prefix", prefix])
  }

  func down() {
    _ = try? dogfood(["down"])
    try? FileManager.default.removeItem(atPath: home)
    // tmux leaves its socket file behind after kill-server.
    let tmpdir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
    try? FileManager.default.removeItem(atPath: "\(tmpdir)/tmux-\(getuid())/\(socket)")
  }

  func unit(_ agent: String) -> String { "\(prefix)agent@\(agent).service" }

  func row(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
    let ps = try mosaic.json(["fleet", "ps", "--json"], file: file, line: line)
    let row = ps["agents"]?.arrayValue?.first { $0["name"]?.stringValue == name }
    return try XCTUnwrap(row, "no row for \(name)", file: file, line: line)
  }
}

struct DogfoodError: Error { let message: String }
