import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// The join in isolation: canned tmux output through a recording runner, a fake systemd
/// plane, a fake /proc tree and real heartbeat files in a temp run directory. Proves the
/// JSON shape of SPEC 2.4, the flags, and that a plane that cannot be read leaves its
/// cells null with a warning.
final class FleetPSJoinTests: XCTestCase {
  var dir = ""

  override func setUpWithError() throws {
    dir = NSTemporaryDirectory() + "mosaic-join-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
    chmod(dir + "/run", 0o700)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

  final class Recorder: CommandRunner, @unchecked Sendable {
    let lock = NSLock()
    var calls: [[String]] = []
    let reply: ([String]) -> CommandResult
    init(_ reply: @escaping ([String]) -> CommandResult) { self.reply = reply }
    func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
      lock.lock()
      calls.append(request.argv)
      lock.unlock()
      return reply(request.argv)
    }
  }

  struct FakeSystemd: SystemdQuerying {
    var result: Result<[String: UnitStatus], SystemdError>
    var linger: Bool?
    func status(of units: [String]) -> Result<[String: UnitStatus], SystemdError> { result }
    func lingerEnabled() -> Bool? { linger }
  }

  /// One list-panes line in ListPanesFormat's field order.
  func pane(
    _ session: String, id: String, pid: Int, dead: Bool = false, activity: Int = 1_000_000
  ) -> String {
    let f: [String] = [
      "3.3a", session, "0", "0", id, String(pid), dead ? "1" : "0", dead ? "0" : "", "", "",
      "200", "50", String(activity), "0", "", "0", "0", "0", "0", "",
    ]
    return f.joined(separator: "\u{1f}")
  }

  func fakeProcess(pid: Int, state: String = "S", argv: [String]) throws {
    let p = "\(dir)/proc/\(pid)"
    try FileManager.default.createDirectory(
      atPath: p + "/task/\(pid)", withIntermediateDirectories: true)
    let comm = argv.first.map { ($0 as NSString).lastPathComponent } ?? "x"
    try "\(pid) (\(comm)) \(state) 1 \(pid) \(pid) 34816 \(pid) 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n"
      .write(toFile: p + "/stat", atomically: true, encoding: .utf8)
    try Data((argv.joined(separator: "\0") + "\0").utf8).write(
      to: URL(fileURLWithPath: p + "/cmdline"))
    try "".write(toFile: p + "/task/\(pid)/children", atomically: true, encoding: .utf8)
  }

  func beat(_ agent: String, age: Double, now: Double) throws {
    let line = "ts=\(ISO8601.format(now - age, fractional: true)) pid=101 status=ok seq=4\n"
    let path = "\(dir)/run/\(agent).hb"
    try line.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o600)
  }

  func roster() throws -> Roster {
    try RosterValidator.validate(
      .object([
        ("tenant", .string("acme")),
        (
          "agents",
          .array([
            .object([("name", .string("a")), ("runtime", .string("stub"))]),
            .object([("name", .string("b")), ("runtime", .string("claude"))]),
            .object([("name", .string("c")), ("runtime", .string("pi"))]),
            .object([("name", .string("d")), ("runtime", .string("pi"))]),
          ]),
        ),
      ]), path: "roster.lua", defaultHost: "vm1")
  }

  func snapshot(runner: Recorder, systemd: FakeSystemd, now: Double) throws -> JSONValue {
    let planes = FleetPlanes(
      runner: runner, systemd: systemd, procRoot: dir + "/proc", host: "vm1", now: { now },
      matcher: { subject, pattern in subject.contains(pattern) })
    return FleetPS.snapshot(
      roster: try roster(), options: FleetPSOptions(runDir: dir + "/run"), planes: planes
    ).jsonValue
  }

  func testTheSnapshotHasTheShapeAndFlagsOfSpec24() throws {
    let now = 1_000_010.0
    try fakeProcess(pid: 101, argv: ["/usr/bin/mosaic", "agent", "stub", "a"])
    try fakeProcess(pid: 301, argv: ["/usr/bin/mosaic", "agent", "stub", "d"])
    try fakeProcess(pid: 401, argv: ["sleep", "100"])
    try beat("a", age: 3.2, now: now)
    try beat("d", age: 100, now: now)
    let runner = Recorder { _ in
      CommandResult(
        status: 0,
        stdout: Array(
          [
            self.pane("a", id: "%1", pid: 101), self.pane("b", id: "%2", pid: 201, dead: true),
            self.pane("d", id: "%4", pid: 301), self.pane("stray", id: "%9", pid: 401),
          ].joined(separator: "\n").utf8))
    }
    let units: [String: UnitStatus] = [
      "mosaic-agent@a.service": UnitStatus(
        unit: "mosaic-agent@a.service", load: "loaded", active: "active", sub: "exited",
        enabled: "enabled"),
      "mosaic-agent@b.service": UnitStatus(
        unit: "mosaic-agent@b.service", load: "loaded", active: "active", sub: "exited",
        enabled: "disabled"),
      "mosaic-agent@c.service": UnitStatus(
        unit: "mosaic-agent@c.service", load: "loaded", active: "inactive", sub: "dead",
        enabled: "disabled"),
      "mosaic-agent@d.service": UnitStatus(
        unit: "mosaic-agent@d.service", load: "loaded", active: "active", sub: "exited",
        enabled: "enabled-runtime"),
    ]
    let ps = try snapshot(
      runner: runner, systemd: FakeSystemd(result: .success(units), linger: false), now: now)

    // One tmux process, with an exact socket.
    XCTAssertEqual(runner.calls.count, 1)
    XCTAssertEqual(
      Array(runner.calls[0].prefix(6)),
      ["tmux", "-u", "-L", "mosaic-factory", "list-panes", "-a"])

    // Top level.
    guard case .object(let top) = ps else { return XCTFail("not an object") }
    XCTAssertEqual(
      top.map(\.0), ["schema", "generated_at", "host", "socket", "roster", "warnings", "agents"])
    XCTAssertEqual(ps["schema"], .string("mosaic.fleet.ps/v1"))
    XCTAssertEqual(ps["generated_at"], .string("1970-01-12T13:46:50Z"))
    XCTAssertEqual(
      ps["warnings"]?.arrayValue?.compactMap { $0["code"]?.stringValue }, ["linger-disabled"])

    let rows = try XCTUnwrap(ps["agents"]?.arrayValue)
    XCTAssertEqual(rows.compactMap { $0["name"]?.stringValue }, ["a", "b", "c", "d", "stray"])
    for row in rows {
      guard case .object(let fields) = row else { return XCTFail("row not an object") }
      XCTAssertEqual(
        fields.map(\.0),
        [
          "name", "tenant_id", "host", "runtime", "systemd", "pane", "process", "heartbeat",
          "activity", "lease", "drift", "boot_enable_warning", "flags",
        ])
      XCTAssertEqual(row["host"], .string("vm1"))
    }
    let (a, b, c, d, stray) = (rows[0], rows[1], rows[2], rows[3], rows[4])

    XCTAssertEqual(a["tenant_id"], .string("acme"))
    XCTAssertEqual(a["pane"]?["state"], .string("alive"))
    XCTAssertEqual(a["pane"]?["id"], .string("%1"))
    XCTAssertEqual(a["pane"]?["pid"], .int(101))
    XCTAssertEqual(a["pane"]?["command"], .string("mosaic"))
    XCTAssertEqual(a["pane"]?["idle_s"], .int(10))
    XCTAssertEqual(a["process"]?["state"], .string("sleeping"))
    XCTAssertEqual(a["heartbeat"]?["health"], .string("healthy"))
    XCTAssertEqual(a["heartbeat"]?["age_s"], .double(3.2))
    XCTAssertEqual(a["heartbeat"]?["interval_s"], .double(15))
    XCTAssertEqual(a["drift"], .bool(false))
    XCTAssertEqual(a["boot_enable_warning"], .bool(false))
    XCTAssertEqual(a["flags"], .array([]))
    XCTAssertEqual(a["lease"], .null)
    // No runtime profiles given: activity unknown, every key present.
    XCTAssertEqual(
      a["activity"],
      .object([
        ("state", .string("unknown")), ("waiting_for", .null), ("since", .null), ("source", .null),
      ]))

    XCTAssertEqual(b["pane"]?["state"], .string("dead"))
    XCTAssertEqual(b["process"], .null, "a dead pane's old pid is not looked up")
    XCTAssertEqual(b["heartbeat"]?["health"], .string("unknown"))
    XCTAssertEqual(b["flags"], .array([.string("boot-enable"), .string("dead")]))

    XCTAssertEqual(c["pane"]?["state"], .string("absent"))
    XCTAssertEqual(c["boot_enable_warning"], .bool(false), "an inactive unit has no boot gap")
    XCTAssertEqual(c["drift"], .null)
    XCTAssertEqual(c["flags"], .array([.string("absent")]))

    XCTAssertEqual(d["drift"], .bool(true))
    XCTAssertEqual(d["heartbeat"]?["health"], .string("stale"))
    XCTAssertEqual(
      d["flags"], .array([.string("drift"), .string("boot-enable"), .string("stale")]),
      "enabled-runtime vanishes at reboot: a boot-enable gap")

    XCTAssertEqual(stray["tenant_id"], .string("acme"), "the roster's default tenant (SPEC 2.4)")
    XCTAssertEqual(stray["systemd"]?["unit"], .null)
    XCTAssertEqual(stray["runtime"], .null)
    XCTAssertEqual(stray["flags"], .array([.string("unrostered")]))
  }

  func testUnreadablePlanesLeaveNullCellsAndWarn() throws {
    let runner = Recorder { _ in
      CommandResult(status: 1, stderr: Array("no server running on /tmp/tmux-0/x\n".utf8))
    }
    let ps = try snapshot(
      runner: runner,
      systemd: FakeSystemd(
        result: .failure(SystemdError("user manager unreachable: x")), linger: nil),
      now: 1_000_000)
    XCTAssertEqual(
      ps["warnings"]?.arrayValue?.compactMap { $0["code"]?.stringValue },
      ["tmux-server-absent", "user-manager-unreachable"])
    for row in ps["agents"]?.arrayValue ?? [] {
      XCTAssertEqual(row["pane"]?["state"], .null)
      XCTAssertEqual(row["systemd"]?["active"], .null)
      XCTAssertEqual(row["systemd"]?["unit"]?.stringValue?.hasPrefix("mosaic-agent@"), true)
      XCTAssertEqual(row["boot_enable_warning"], .null)
      XCTAssertEqual(row["drift"], .null)
      XCTAssertEqual(row["tenant_id"], .string("acme"))
      XCTAssertEqual(row["heartbeat"]?["health"], .string("unknown"))
      XCTAssertEqual(row["flags"], .array([]))
    }
  }
}
