import Foundation
import MosaicSupport
import XCTest

/// The whole command set under the bare environment cron gives a job (`env -i` with only
/// PATH, HOME and XDG_RUNTIME_DIR: no LANG, so the C locale), against the dogfood fleet on
/// a real tmux server and a real `systemd --user` manager. Under the C locale tmux replaces
/// every byte outside 0x20-0x7e in `-p`/`-F` output with `_` unless its client says it
/// takes UTF-8 (`tmux -u`), which broke every field mosaic splits.
final class CronEnvironmentTests: DogfoodTestCase {
  /// Runs the built `mosaic` through `env -i` with cron's variables only (plus the fleet's
  /// MOSAIC_HOME and NO_COLOR, which a crontab line would set the same way).
  func cron(_ f: DogfoodFleet, _ args: [String], input: String? = nil) throws -> CommandResult {
    let runtime = try Harness.userManager()
    let env = [
      "PATH=/usr/bin:/bin", "HOME=\(NSHomeDirectory())", "XDG_RUNTIME_DIR=\(runtime)",
      "MOSAIC_HOME=\(f.home)", "XDG_STATE_HOME=\(f.home)/state", "NO_COLOR=1",
    ]
    return try SpawnRunner().run(
      CommandRequest(
        ["/usr/bin/env", "-i"] + env + [Harness.mosaicBinary] + args,
        input: input.map { Array($0.utf8) }, timeout: 60))
  }

  let wellBehaved = ["coder-1", "coder-2", "reviewer", "planner"]

  func testFleetPSReadsEveryPaneInTheCLocale() throws {
    let f = try theFleet()
    // A non-ASCII session name must come back intact, not as `caf__`.
    try sh(["tmux", "-L", f.socket, "new-session", "-d", "-s", "café", "sleep", "300"])
    defer { _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=café"]) }
    let r = try cron(f, ["fleet", "ps", "--json"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    let ps = try JSONCodec.decode(r.stdout)
    let codes = ps["warnings"]?.arrayValue?.compactMap { $0["code"]?.stringValue } ?? []
    XCTAssertEqual(codes.filter { $0 != "linger-disabled" }, [], "\(ps["warnings"] ?? .null)")
    let rows = try XCTUnwrap(ps["agents"]?.arrayValue)
    for name in DogfoodFleet.agents {
      let row = try XCTUnwrap(rows.first { $0["name"]?.stringValue == name }, name)
      XCTAssertEqual(row["pane"]?["state"]?.stringValue, "alive", name)
      XCTAssertEqual(row["heartbeat"]?["health"]?.stringValue, "healthy", name)
      XCTAssertEqual(row["systemd"]?["active"]?.stringValue, "active", name)
    }
    XCTAssertNotNil(rows.first { $0["name"]?.stringValue == "café" }, "\(rows)")
    let table = try cron(f, ["fleet", "ps"])
    XCTAssertEqual(table.status, 0, table.stderrText)
    XCTAssertFalse(table.stderrText.contains("list-panes"), table.stderrText)
    let agentLines = table.stdoutText.split(separator: "\n").filter { line in
      DogfoodFleet.agents.contains { line.hasPrefix($0 + " ") }
    }
    XCTAssertEqual(agentLines.count, DogfoodFleet.agents.count, table.stdoutText)
    XCTAssertFalse(agentLines.contains { $0.contains("unknown") }, table.stdoutText)
  }

  func testFleetCheckIsOKForAHealthyFleetInTheCLocale() throws {
    let f = try theFleet()
    let r = try cron(
      f,
      ["fleet", "check", "--ignore", "linger-disabled"] + wellBehaved.flatMap { ["--agent", $0] })
    XCTAssertEqual(r.status, 0, r.stdoutText + r.stderrText)
    XCTAssertTrue(r.stdoutText.hasPrefix("MOSAIC FLEET OK - 4 agents, all healthy"), r.stdoutText)
  }

  func testFleetExportInTheCLocale() throws {
    let f = try theFleet()
    let r = try cron(f, ["fleet", "export"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    let unreadable = r.stdoutText.split(separator: "\n").filter {
      $0.hasPrefix("mosaic_fleet_warning{") && $0.contains("tmux-unreadable")
    }
    XCTAssertFalse(unreadable.isEmpty, r.stdoutText)
    XCTAssertTrue(unreadable.allSatisfy { $0.hasSuffix(" 0") }, unreadable.joined(separator: "\n"))
    let up = r.stdoutText.split(separator: "\n").filter { $0.hasPrefix("mosaic_agent_up{") }
    XCTAssertEqual(up.count, DogfoodFleet.agents.count, r.stdoutText)
    XCTAssertTrue(up.allSatisfy { $0.hasSuffix(" 1") }, up.joined(separator: "\n"))
  }

  func testAgentSendVerifyAndCaptureInTheCLocale() throws {
    let f = try theFleet()
    let send = try cron(f, ["agent", "send", "coder-2", "--verify", "from cron [m:cron-42]"])
    XCTAssertEqual(send.status, 0, send.stdoutText + send.stderrText)
    let capture = try cron(f, ["agent", "capture", "coder-2", "--json"])
    XCTAssertEqual(capture.status, 0, capture.stderrText)
    let json = try JSONCodec.decode(capture.stdout)
    let lines = json["lines"]?.arrayValue?.compactMap(\.stringValue) ?? []
    XCTAssertTrue(lines.contains { $0.contains("ACK cron-42") }, "\(lines)")
    XCTAssertNotNil(json["cursor_y"]?.intValue, "\(json)")
  }
}
