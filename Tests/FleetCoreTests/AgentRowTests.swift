import MosaicSupport
import XCTest

@testable import FleetCore

/// The typed row alone, no tmux, no /proc, no files: its one JSON encoding (key order,
/// nulls, exact text) and the flag and boot-enable rules, each one way and the other.
final class AgentRowTests: XCTestCase {
  let now = 1_000_010.0

  func tmuxPane(dead: Bool = false) -> TmuxPane {
    TmuxPane(
      session: "a", paneId: "%1", panePid: 101, dead: dead, deadStatus: dead ? 0 : nil,
      currentCommand: "mosaic", tty: "/dev/pts/3", width: 200, height: 50,
      windowActivity: 1_000_000)
  }

  func process(state code: Character = "S", pid: Int32 = 101) -> ProcessSnapshot {
    ProcessSnapshot(
      pid: pid, comm: "mosaic", state: ProcessSnapshot.stateWord(code), stateCode: code,
      argv: ["/usr/bin/mosaic", "agent", "stub", "a"], ppid: 1, pgrp: pid, session: pid,
      ttyNr: 34816, tpgid: pid, startTime: 100)
  }

  func group(stopped: Bool = false) -> ForegroundGroup {
    let p = process(state: stopped ? "T" : "S")
    return ForegroundGroup(leader: p, members: [.init(process: p, depth: 0)])
  }

  func reading(health: String = "healthy", skew: Bool = false) -> HeartbeatReading {
    HeartbeatReading(
      health: health, ageS: health == "stale" ? 100 : 3.24,
      heartbeat: Heartbeat(ts: now - 3.24, pid: 101, seq: 4, ack: "n1"),
      reason: health == "healthy" ? nil : "why", skew: skew, intervalS: 15)
  }

  /// A healthy, rostered, alive agent with no flag.
  func healthy() -> AgentRow {
    let g = group()
    return AgentRow(
      name: "a", tenantId: "acme", host: "vm1", runtime: "stub", rostered: true,
      unit: .init(
        name: "mosaic-agent@a.service",
        status: UnitStatus(
          unit: "mosaic-agent@a.service", active: "active", sub: "exited", enabled: "enabled")),
      pane: .init(tmuxPane(), command: "mosaic", now: now),
      process: .init(program: g.leader, group: g, cwd: "/srv/a"),
      heartbeat: .init(reading: reading(), intervalS: 15), drift: false)
  }

  func testTheEncodingIsSpec24KeyForKey() {
    XCTAssertEqual(
      JSONCodec.encode(healthy().jsonValue),
      #"{"name":"a","tenant_id":"acme","host":"vm1","runtime":"stub","#
        + #""systemd":{"unit":"mosaic-agent@a.service","active":"active","sub":"exited","#
        + #""enabled":"enabled"},"#
        + #""pane":{"state":"alive","id":"%1","pid":101,"command":"mosaic","idle_s":10,"#
        + #""width":200,"height":50,"in_mode":false,"session":"a","tty":"/dev/pts/3","#
        + #""input_off":false,"dead_status":null},"#
        + #""process":{"pid":101,"state":"sleeping","argv":["/usr/bin/mosaic","agent","stub","a"],"#
        + #""cwd":"/srv/a","members":[{"pid":101,"state":"sleeping","#
        + #""argv":["/usr/bin/mosaic","agent","stub","a"]}]},"#
        + #""heartbeat":{"health":"healthy","age_s":3.2,"ts":"1970-01-12T13:46:46.760Z","#
        + #""pid":101,"status":"ok","interval_s":15,"reason":null,"seq":4,"ack":"n1","#
        + #""progress":null,"probe_answered":null},"#
        + #""activity":{"state":"unknown","waiting_for":null,"since":null,"source":null},"#
        + #""lease":null,"drift":false,"boot_enable_warning":false,"flags":[]}"#)
  }

  func testUnknownCellsAreNullWithEveryKey() {
    var row = healthy()
    row.unit.status = nil
    row.pane = .unknown
    row.process = nil
    row.heartbeat = .init(reading: nil, intervalS: 15)
    row.drift = nil
    let json = row.jsonValue
    XCTAssertEqual(
      JSONCodec.encode(json["pane"] ?? .null),
      #"{"state":null,"id":null,"pid":null,"command":null,"idle_s":null,"width":null,"#
        + #""height":null,"in_mode":null,"session":null,"tty":null,"input_off":null,"#
        + #""dead_status":null}"#)
    XCTAssertEqual(
      JSONCodec.encode(json["systemd"] ?? .null),
      #"{"unit":"mosaic-agent@a.service","active":null,"sub":null,"enabled":null}"#)
    // Not read: the same object as a read heartbeat, health unknown with the reason.
    XCTAssertEqual(
      JSONCodec.encode(json["heartbeat"] ?? .null),
      #"{"health":"unknown","age_s":null,"ts":null,"pid":null,"status":null,"interval_s":15,"#
        + #""reason":"heartbeat files not read","seq":null,"ack":null,"progress":null,"#
        + #""probe_answered":null}"#)
    XCTAssertEqual(json["process"], .null)
    XCTAssertEqual(json["drift"], .null)
    XCTAssertEqual(json["boot_enable_warning"], .null)
    XCTAssertEqual(json["flags"], .array([]))

    row.pane = .absent
    XCTAssertEqual(row.jsonValue["pane"]?["state"], .string("absent"))
    XCTAssertEqual(row.jsonValue["pane"]?["id"], .null)
    XCTAssertEqual(row.flags, [.absent])
  }

  func testEachFlagFollowsItsRule() {
    XCTAssertEqual(healthy().flags, [])
    func flags(_ change: (inout AgentRow) -> Void) -> [AgentFlag] {
      var row = healthy()
      change(&row)
      return row.flags
    }
    XCTAssertEqual(flags { $0.drift = true }, [.drift])
    XCTAssertEqual(flags { $0.unit.status?.enabled = "disabled" }, [.bootEnable])
    XCTAssertEqual(flags { $0.pane = .init(tmuxPane(dead: true), command: nil, now: now) }, [.dead])
    XCTAssertEqual(flags { $0.pane = .absent }, [.absent])
    XCTAssertEqual(
      flags { $0.process?.group = group(stopped: true) }, [.stopped],
      "a stopped member of the foreground group")
    XCTAssertEqual(flags { $0.activity = Activity(state: .waiting) }, [.waiting])
    XCTAssertEqual(flags { $0.heartbeat.reading = reading(health: "stale") }, [.stale])
    XCTAssertEqual(flags { $0.heartbeat.reading = reading(health: "unknown", skew: true) }, [.skew])
    XCTAssertEqual(
      flags { $0.lease = Lease(holder: "op@vm1", since: "x", pid: 1, pidStart: 1) }, [.leased])
    XCTAssertEqual(flags { $0.rostered = false }, [.unrostered])
    XCTAssertEqual(flags { $0.heartbeat.reading = reading(health: "unknown") }, [])
    XCTAssertEqual(flags { $0.heartbeat.reading = nil }, [], "not read is not stale")

    // All at once: the order of AgentFlag, whatever the order of the facts.
    let all = flags {
      $0.rostered = false
      $0.lease = Lease(holder: "op", since: "x", pid: 1, pidStart: 1)
      $0.heartbeat.reading = reading(health: "stale")
      $0.activity = Activity(state: .waiting)
      $0.process?.group = group(stopped: true)
      $0.pane = .init(tmuxPane(dead: true), command: nil, now: now)
      $0.unit.status?.enabled = "enabled-runtime"
      $0.drift = true
    }
    XCTAssertEqual(
      all, [.drift, .bootEnable, .dead, .stopped, .waiting, .stale, .leased, .unrostered])
    XCTAssertEqual(
      all.map(\.rawValue),
      ["drift", "boot-enable", "dead", "stopped", "waiting", "stale", "leased", "unrostered"])
  }

  func testBootEnableWarning() {
    func warning(active: String?, enabled: String?) -> Bool? {
      AgentRow.Unit(
        name: "u", status: UnitStatus(unit: "u", active: active, enabled: enabled)
      ).bootEnableWarning
    }
    for safe in ["enabled", "static", "generated"] {
      XCTAssertEqual(warning(active: "active", enabled: safe), false, safe)
    }
    for unsafe in ["disabled", "enabled-runtime", "masked", "linked", "indirect"] {
      XCTAssertEqual(warning(active: "active", enabled: unsafe), true, unsafe)
    }
    XCTAssertEqual(warning(active: "inactive", enabled: "disabled"), false, "not running: no gap")
    XCTAssertEqual(warning(active: "reloading", enabled: "disabled"), false)
    XCTAssertNil(warning(active: "active", enabled: nil))
    XCTAssertNil(warning(active: nil, enabled: "disabled"))
    XCTAssertNil(AgentRow.Unit(name: "u", status: nil).bootEnableWarning)
  }

  func testProbeAnsweredAndSnapshotEncoding() {
    var row = healthy()
    row.heartbeat.probeAnswered = false
    let snapshot = FleetSnapshot(
      generatedAt: now, host: "vm1", socket: "s", roster: "/r.lua",
      warnings: [FleetWarning(.lingerDisabled, "off")], agents: [row])
    let json = snapshot.jsonValue
    guard case .object(let top) = json else { return XCTFail("not an object") }
    XCTAssertEqual(
      top.map(\.0), ["schema", "generated_at", "host", "socket", "roster", "warnings", "agents"])
    XCTAssertEqual(json["schema"], .string("mosaic.fleet.ps/v1"))
    XCTAssertEqual(json["generated_at"], .string("1970-01-12T13:46:50Z"))
    XCTAssertEqual(
      JSONCodec.encode(json["warnings"] ?? .null), #"[{"code":"linger-disabled","message":"off"}]"#)
    XCTAssertEqual(
      json["agents"]?.arrayValue?.first?["heartbeat"]?["probe_answered"], .bool(false))
  }

  /// The snapshot's own encoder (rows in two halves on two threads) writes exactly what the
  /// plain encoder writes, compact and indented, with no row, one, and enough for two halves.
  func testTheSnapshotEncodesInHalvesAsInOne() {
    for count in [0, 1, 65, 130, 131] {
      let rows = (0..<count).map { i -> AgentRow in
        var row = healthy()
        row.name = "a\(i)"
        if i % 3 == 0 { row.heartbeat.probeAnswered = false }
        return row
      }
      let snapshot = FleetSnapshot(
        generatedAt: now, host: "vm1", socket: "s", roster: "/r.lua",
        warnings: count == 1 ? [] : [FleetWarning(.lingerDisabled, "off")], agents: rows)
      for indent in [0, 2] {
        let plain = JSONCodec.encode(snapshot.jsonValue, indent: indent)
        XCTAssertEqual(
          String(decoding: snapshot.encoded(indent: indent), as: UTF8.self), plain,
          "\(count) rows, indent \(indent)")
        XCTAssertEqual(try JSONCodec.decode(Array(plain.utf8))["agents"]?.arrayValue?.count, count)
      }
    }
  }

  /// What Lua gets from `host.fleet_rules()`: every flag and code, and the unit states.
  func testTheRulesExportedToLuaAreTheDefinitions() {
    let rules = FleetRules.jsonValue
    XCTAssertEqual(
      rules["flags"]?.arrayValue?.compactMap(\.stringValue),
      [
        "drift", "boot-enable", "dead", "absent", "stopped", "waiting", "stale", "skew", "leased",
        "unrostered",
      ])
    let warnings = rules["warnings"]?.arrayValue ?? []
    XCTAssertEqual(
      warnings.compactMap { $0["code"]?.stringValue },
      [
        "tmux-server-absent", "tmux-unreadable", "user-manager-unreachable", "linger-disabled",
        "tmux-too-old", "run-dir-unsafe", "remote-agents", "host-unreachable", "host-name-mismatch",
      ])
    XCTAssertEqual(
      warnings.filter { $0["plane_unreadable"] == .bool(true) }.compactMap {
        $0["code"]?.stringValue
      }, ["tmux-unreadable", "user-manager-unreachable", "run-dir-unsafe"])
    XCTAssertEqual(
      rules["boot_safe_states"]?.arrayValue?.compactMap(\.stringValue),
      ["enabled", "static", "generated"])
    XCTAssertEqual(
      rules["active_states"]?.arrayValue?.compactMap(\.stringValue), ["active", "reloading"])
  }
}
