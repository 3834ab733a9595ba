import Foundation
import MosaicSupport
import XCTest

/// A fleet made by `mosaic fleet init` alone comes up under a real `systemd --user`
/// manager, and its units keep the tmux server out of the agents' cgroups: restarting one
/// agent's unit leaves every other agent running.
final class FleetInitTests: XCTestCase {
  func testAFleetFromInitComesUpAndARestartTouchesOneAgent() throws {
    _ = try Harness.userManager()
    let name = Harness.uniqueName("init")
    let prefix = name + "-"
    let home = try Harness.makeTempDir("home")
    let mosaic = Mosaic(home: home)
    let tmuxUnit = prefix + "tmux.service"
    let agents = ["stub-1", "stub-2"]
    let agentUnits = agents.map { "\(prefix)agent@\($0).service" }
    var unitFiles: [String] = []
    defer {
      _ = try? SpawnRunner().run(
        CommandRequest(
          ["systemctl", "--user", "disable", "--now"] + agentUnits + [tmuxUnit], timeout: 30))
      _ = try? SpawnRunner().run(CommandRequest(["tmux", "-L", name, "kill-server"], timeout: 10))
      for f in unitFiles { try? FileManager.default.removeItem(atPath: f) }
      _ = try? SpawnRunner().run(
        CommandRequest(["systemctl", "--user", "daemon-reload"], timeout: 30))
      try? FileManager.default.removeItem(atPath: home)
      let tmpdir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
      try? FileManager.default.removeItem(atPath: "\(tmpdir)/tmux-\(getuid())/\(name)")
    }

    let initRun = try mosaic.run(
      [
        "fleet", "init", "--runtime", "stub", "--runtime", "stub", "--socket", name, "--prefix",
        prefix,
      ])
    XCTAssertEqual(initRun.status, 0, initRun.stderrText)
    unitFiles = initRun.stdoutText.split(separator: "\n").filter {
      $0.hasPrefix("wrote ") && $0.hasSuffix(".service")
    }
    .map { String($0.dropFirst(6)) }
    XCTAssertEqual(unitFiles.count, 2, initRun.stdoutText)
    // The printed next step is the one that works.
    XCTAssertTrue(
      initRun.stdoutText.contains(
        "systemctl --user enable --now \(tmuxUnit) \(agentUnits.joined(separator: " "))"),
      initRun.stdoutText)
    try sh(["systemctl", "--user", "daemon-reload"])
    try sh(["systemctl", "--user", "enable", "--now", tmuxUnit] + agentUnits)

    let up = try mosaic.run([
      "-e",
      "assert(fleet.wait{agents = {'stub-1', 'stub-2'}, health = 'healthy', pane = 'alive', timeout = 20})",
    ])
    XCTAssertEqual(up.status, 0, up.stderrText)
    let ps = try mosaic.json(["fleet", "ps", "--json"])
    var panePids: [String: Int64] = [:]
    for row in try XCTUnwrap(ps["agents"]?.arrayValue) {
      let agent = try XCTUnwrap(row["name"]?.stringValue)
      XCTAssertEqual(row["runtime"]?.stringValue, "stub", agent)
      XCTAssertEqual(row["systemd"]?["active"]?.stringValue, "active", agent)
      XCTAssertEqual(row["systemd"]?["enabled"]?.stringValue, "enabled", agent)
      XCTAssertEqual(row["flags"], .array([]), agent)
      panePids[agent] = row["pane"]?["pid"]?.intValue
    }
    XCTAssertEqual(panePids.keys.sorted(), agents)

    // The tmux server lives in the tmux unit's cgroup, not an agent's.
    let serverPid = try sh(["tmux", "-L", name, "display", "-p", "#{pid}"])
    let cgroup = try String(contentsOfFile: "/proc/\(serverPid)/cgroup", encoding: .utf8)
    XCTAssertTrue(cgroup.contains("/\(tmuxUnit)"), cgroup)
    XCTAssertFalse(cgroup.contains("agent@"), cgroup)
    XCTAssertEqual(
      try sh(["systemctl", "--user", "show", agentUnits[0], "-p", "Type,KillMode,RemainAfterExit"]),
      "Type=oneshot\nRemainAfterExit=yes\nKillMode=process")

    // Restarting stub-1 replaces stub-1's session and nothing else.
    try sh(["systemctl", "--user", "restart", agentUnits[0]])
    let again = try mosaic.run([
      "-e",
      "assert(fleet.wait{agents = {'stub-1', 'stub-2'}, health = 'healthy', pane = 'alive', timeout = 20})",
    ])
    XCTAssertEqual(again.status, 0, again.stderrText)
    let after = try mosaic.json(["fleet", "ps", "--json"])
    let rows = try XCTUnwrap(after["agents"]?.arrayValue)
    let pid = { (agent: String) in
      rows.first { $0["name"]?.stringValue == agent }?["pane"]?["pid"]?.intValue
    }
    XCTAssertEqual(pid("stub-2"), panePids["stub-2"], "stub-2 was touched by stub-1's restart")
    XCTAssertNotEqual(pid("stub-1"), panePids["stub-1"], "stub-1 was not restarted")
    XCTAssertEqual(try sh(["tmux", "-L", name, "display", "-p", "#{pid}"]), serverPid)
  }
}
