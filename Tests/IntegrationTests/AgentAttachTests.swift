import Foundation
import MosaicSupport
import XCTest

/// `mosaic agent attach` (SPEC 2.6, PRD FR-4): the explicit takeover attaches a real tmux
/// client (here from inside a second tmux server, so `$TMUX` is set), holds the lease while
/// attached, audits attach and detach, and refuses while someone else holds a live lease.
final class AgentAttachTests: XCTestCase {
  var rig: PaneRig!

  override func setUpWithError() throws {
    rig = try PaneRig(agent: "at")
  }

  override func tearDown() {
    rig?.stop()
  }

  static let viewerScript =
    "\"$1\" agent attach at --yes 2>\"$MOSAIC_HOME/attach.err\"; echo \"EXIT=$?\"; exec sleep 300"

  var auditPath: String { rig.home + "/state/mosaic/audit.log" }
  var leasePath: String { rig.home + "/fleet/run/at.lease" }

  func auditRecords() throws -> [JSONValue] {
    guard FileManager.default.fileExists(atPath: auditPath) else { return [] }
    let text = try String(contentsOfFile: auditPath, encoding: .utf8)
    return try text.split(separator: "\n").map { try JSONCodec.decode(Array($0.utf8)) }
  }

  func row() throws -> JSONValue? {
    let ps = try rig.mosaic.json(["fleet", "ps", "--json"])
    return ps["agents"]?.arrayValue?.first { $0["name"]?.stringValue == "at" }
  }

  func attachedClients() -> Int {
    Int(rig.display(rig.agentSocket, "=at:", "#{session_attached}")) ?? -1
  }

  func testAttachHoldsTheLeaseAndAuditsTheTakeover() throws {
    try rig.startAgent(mode: "static", width: 120, height: 40)
    XCTAssertEqual(try row()?["lease"], .null)
    rig.startViewer(Self.viewerScript)
    XCTAssertTrue(
      rig.waitFor { self.attachedClients() == 1 }, "client attached: \(rig.viewerScreen)")

    // The viewer pane now shows the agent's screen through a real (nested) client.
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains(self.rig.marker) }, rig.viewerScreen)
    XCTAssertFalse(rig.viewer("#{pane_pid}").isEmpty)
    let client = rig.tmux(rig.agentSocket, ["list-clients", "-F", "#{client_tty} #{client_pid}"])
      .stdoutText
    XCTAssertFalse(client.isEmpty)

    // The lease, as fleet ps shows it.
    let leased = try XCTUnwrap(try row())
    let lease = try XCTUnwrap(leased["lease"], "lease while attached")
    let holder = try XCTUnwrap(lease["holder"]?.stringValue)
    XCTAssertTrue(holder.hasPrefix("\(AuditLogTestUser.name)@\(shortHostName()) (pts/"), holder)
    XCTAssertNotNil(lease["since"]?.stringValue.flatMap(ISO8601.parse))
    XCTAssertTrue(
      leased["flags"]?.arrayValue?.contains(.string("leased")) ?? false,
      "\(leased["flags"] ?? .null)")
    let pid = try XCTUnwrap(lease["pid"]?.intValue)
    XCTAssertEqual(Int32(pid), rig.viewerChild(), "the lease belongs to the attach process")

    // A second attach is refused meanwhile.
    let second = try rig.mosaic.run(["agent", "attach", "at", "--yes"])
    XCTAssertEqual(second.status, 3, second.stderrText)
    XCTAssertTrue(second.stderrText.contains("leased by \(holder)"), second.stderrText)

    // Detach the client from the agent's side.
    rig.tmux(rig.agentSocket, ["detach-client", "-s", "=at"])
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains("EXIT=") }, rig.viewerScreen)
    XCTAssertTrue(rig.viewerScreen.contains("EXIT=0"), rig.viewerScreen)
    let after = try XCTUnwrap(try row())
    XCTAssertEqual(after["lease"], .null)
    XCTAssertFalse(after["flags"]?.arrayValue?.contains(.string("leased")) ?? true)
    XCTAssertFalse(FileManager.default.fileExists(atPath: leasePath))

    // Two audit records, attach then detach, with who, where and which agent.
    let records = try auditRecords()
    XCTAssertEqual(records.map { $0["action"]?.stringValue }, ["attach", "detach"])
    for r in records {
      XCTAssertEqual(r["agent"]?.stringValue, "at")
      XCTAssertEqual(r["tenant_id"]?.stringValue, "default")
      XCTAssertEqual(r["host"]?.stringValue, shortHostName())
      XCTAssertEqual(r["user"]?.stringValue, AuditLogTestUser.name)
      XCTAssertEqual(r["pid"]?.intValue, pid)
      XCTAssertTrue(r["tty"]?.stringValue?.hasPrefix("/dev/pts/") ?? false, "\(r)")
      XCTAssertNotNil(r["ts"]?.stringValue.flatMap(ISO8601.parse))
      XCTAssertEqual(r["socket"]?.stringValue, rig.agentSocket)
      XCTAssertEqual(r["session"]?.stringValue, "at")
    }
    XCTAssertEqual(records.last?["status"]?.intValue, 0)
    let mode =
      try FileManager.default.attributesOfItem(atPath: auditPath)[.posixPermissions] as? Int
    XCTAssertEqual(mode, 0o600)

    // Unlike watch, a normal client sizes the agent's window (the notice says so).
    XCTAssertNotEqual(rig.agentWindowSize, "120x40")
  }

  /// Unlike watch, attach is a real takeover: keys typed in the operator's terminal reach
  /// the same fixture that watch cannot reach.
  func testKeysReachTheAgentWhileAttached() throws {
    try rig.startAgent(mode: "static")
    rig.startViewer(Self.viewerScript)
    XCTAssertTrue(rig.waitFor { self.attachedClients() == 1 })
    rig.tmux(rig.viewerSocket, ["send-keys", "-t", "v:", "-l", "hi"])
    XCTAssertTrue(
      rig.waitFor {
        self.rig.intrusions().joined().contains("6869") || self.rig.intrusions().count >= 2
      },
      "\(rig.intrusions())")
    rig.tmux(rig.agentSocket, ["detach-client", "-s", "=at"])
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains("EXIT=0") }, rig.viewerScreen)
  }

  /// SIGTERM to the attach process detaches the client, drops the lease, records it.
  func testSIGTERMReleasesTheLease() throws {
    try rig.startAgent(mode: "static")
    rig.startViewer(Self.viewerScript)
    XCTAssertTrue(rig.waitFor { self.attachedClients() == 1 })
    XCTAssertTrue(FileManager.default.fileExists(atPath: leasePath))
    let pid = try XCTUnwrap(rig.viewerChild())
    kill(pid, SIGTERM)
    XCTAssertTrue(rig.waitFor { self.rig.viewerScreen.contains("EXIT=") }, rig.viewerScreen)
    XCTAssertTrue(rig.viewerScreen.contains("EXIT=143"), rig.viewerScreen)
    XCTAssertEqual(attachedClients(), 0)
    XCTAssertFalse(FileManager.default.fileExists(atPath: leasePath))
    let records = try auditRecords()
    XCTAssertEqual(records.map { $0["action"]?.stringValue }, ["attach", "detach"])
    XCTAssertEqual(records.last?["status"]?.intValue, 143)
  }

  /// Someone else's live lease: refused with status 3, nothing attached, nothing audited.
  func testAttachIsRefusedWhileAnotherLiveLeaseExists() throws {
    try rig.startAgent(mode: "static")
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/bin/sleep")
    holder.arguments = ["30"]
    try holder.run()
    defer { holder.terminate() }
    try FileManager.default.createDirectory(
      atPath: rig.home + "/fleet/run", withIntermediateDirectories: true,
      attributes: [.posixPermissions: 0o700])
    let lease =
      #"{"holder":"alice@elsewhere (pts/9)","since":"2026-11-24T15:00:00Z","pid":"#
      + "\(holder.processIdentifier)}\n"
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: leasePath, contents: Data(lease.utf8), attributes: [.posixPermissions: 0o600]))

    let r = try rig.mosaic.run(["agent", "attach", "at", "--yes"])
    XCTAssertEqual(r.status, 3)
    XCTAssertEqual(
      r.stderrText,
      "mosaic: agent attach: at: leased by alice@elsewhere (pts/9) since 2026-11-24T15:00:00Z;"
        + " wait until they detach\n")
    XCTAssertEqual(attachedClients(), 0)
    XCTAssertEqual(try auditRecords().count, 0)
    XCTAssertEqual(try String(contentsOfFile: leasePath, encoding: .utf8), lease)

    // Once the holder is gone the lease is stale: no longer shown, no longer in the way
    // (here the attach then stops at the missing terminal, still status 3).
    holder.terminate()
    holder.waitUntilExit()
    XCTAssertEqual(try row()?["lease"], .null)
    let again = try rig.mosaic.run(["agent", "attach", "at", "--yes"])
    XCTAssertEqual(again.status, 3)
    XCTAssertTrue(again.stderrText.contains("needs a terminal"), again.stderrText)
  }

  func testRefusals() throws {
    let noServer = try rig.mosaic.run(["agent", "attach", "at", "--yes"])
    XCTAssertEqual(noServer.status, 3)
    XCTAssertEqual(
      noServer.stderrText,
      "mosaic: agent attach: at: no session 'at': no tmux server on socket \(rig.agentSocket)\n")
    rig.tmux(rig.agentSocket, ["new-session", "-d", "-s", "other", "sleep", "300"])
    let absent = try rig.mosaic.run(["agent", "attach", "at", "--yes"])
    XCTAssertEqual(absent.status, 3)
    XCTAssertEqual(
      absent.stderrText, "mosaic: agent attach: at: no session 'at' on socket \(rig.agentSocket)\n")
    let unknown = try rig.mosaic.run(["agent", "attach", "nope", "--yes"])
    XCTAssertEqual(unknown.status, 3)
    XCTAssertTrue(
      unknown.stderrText.hasPrefix("mosaic: agent attach: nope: no such agent in the roster"),
      unknown.stderrText)

    // A dead pane (remain-on-exit): nothing to take over; watch still shows its last screen.
    rig.tmux(rig.agentSocket, ["set-option", "-g", "remain-on-exit", "on"])
    rig.tmux(
      rig.agentSocket,
      ["new-session", "-d", "-s", "at", "/bin/sh", "-c", "echo bye; exit 3"])
    XCTAssertTrue(
      rig.waitFor { self.rig.display(self.rig.agentSocket, "=at:", "#{pane_dead}") == "1" })
    let dead = try rig.mosaic.run(["agent", "attach", "at", "--yes"])
    XCTAssertEqual(dead.status, 3)
    XCTAssertTrue(dead.stderrText.contains("pane is dead"), dead.stderrText)
    let once = try rig.mosaic.run(["agent", "watch", "at", "--once"])
    XCTAssertEqual(once.status, 0, once.stderrText)
    let height = Int(rig.display(rig.agentSocket, "=at:", "#{pane_height}")) ?? -1
    XCTAssertEqual(once.stdoutText.filter { $0 == "\n" }.count, height, once.stdoutText)
    XCTAssertEqual(try auditRecords().count, 0)
  }
}

/// The user name the audit log should carry.
enum AuditLogTestUser {
  static var name: String {
    guard let pw = getpwuid(geteuid()), let n = pw.pointee.pw_name else { return String(geteuid()) }
    return String(cString: n)
  }
}
