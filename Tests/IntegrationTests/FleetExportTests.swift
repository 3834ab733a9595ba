import Foundation
import MosaicSupport
import XCTest

/// `mosaic fleet export --format prometheus` (SPEC 2.8) against the dogfood fleet: the text
/// passes `promtool check metrics` (Debian's prometheus package), carries the expected
/// series with their labels, is written atomically, leaves unknown values out, and a real
/// node_exporter's textfile collector serves it.
final class FleetExportTests: DogfoodTestCase {
  /// One sample: name, labels, value.
  struct Sample {
    var name: String
    var labels: [String: String]
    var value: Double
  }

  /// Parses sample lines of the text format (enough for what mosaic writes: no timestamps).
  func samples(_ text: String) -> [Sample] {
    var out: [Sample] = []
    let line = #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/#
    let label = #/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/#
    for l in text.split(separator: "\n") where !l.hasPrefix("#") {
      guard let m = String(l).wholeMatch(of: line) else {
        XCTFail("not a sample line: \(l)")
        continue
      }
      var labels: [String: String] = [:]
      if let body = m.2 {
        for lm in String(body).matches(of: label) { labels[String(lm.1)] = String(lm.2) }
      }
      out.append(Sample(name: String(m.1), labels: labels, value: Double(m.3) ?? .nan))
    }
    return out
  }

  func value(_ s: [Sample], _ name: String, _ labels: [String: String]) -> Double? {
    s.first { sample in
      sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v }
    }?.value
  }

  func promtool(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try SpawnRunner().run(
      CommandRequest(["promtool", "check", "metrics"], input: Array(text.utf8), timeout: 30))
    XCTAssertEqual(r.status, 0, "promtool: \(r.stdoutText) \(r.stderrText)", file: file, line: line)
    XCTAssertEqual(r.stderrText + r.stdoutText, "", "promtool lint", file: file, line: line)
  }

  func testPromtoolAcceptsTheExportAndTheSeriesAreThere() throws {
    let f = try theFleet()
    let before = Date().timeIntervalSince1970
    let r = try f.mosaic.run(["fleet", "export", "--format", "prometheus"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    let text = r.stdoutText
    try promtool(text)
    let s = samples(text)
    let host = shortHostName()

    // One HELP and one TYPE per family, each family's samples together.
    var families: [String] = []
    for l in text.split(separator: "\n") where l.hasPrefix("# TYPE ") {
      let parts = l.split(separator: " ")
      families.append(String(parts[2]))
      XCTAssertEqual(parts[3], "gauge")
      XCTAssertTrue(text.contains("# HELP \(parts[2]) "), String(parts[2]))
    }
    XCTAssertEqual(Set(families).count, families.count)
    for family in [
      "mosaic_export_timestamp_seconds", "mosaic_fleet_agents", "mosaic_fleet_warning",
      "mosaic_agent_up", "mosaic_agent_pane_state", "mosaic_agent_unit_active",
      "mosaic_agent_unit_enabled", "mosaic_agent_drift", "mosaic_agent_boot_enable_gap",
      "mosaic_agent_heartbeat_timestamp_seconds", "mosaic_agent_heartbeat_interval_seconds",
      "mosaic_agent_leased",
    ] {
      XCTAssertTrue(families.contains(family), family)
    }

    let exported = try XCTUnwrap(value(s, "mosaic_export_timestamp_seconds", ["host": host]))
    XCTAssertEqual(exported, before, accuracy: 5)
    XCTAssertEqual(value(s, "mosaic_fleet_agents", ["tenant_id": "default", "host": host]), 5)
    let linger = value(s, "mosaic_fleet_warning", ["code": "linger-disabled"])
    XCTAssertEqual(linger, FleetCheckTests.lingerEnabled ? 0 : 1)
    XCTAssertEqual(value(s, "mosaic_fleet_warning", ["code": "tmux-server-absent"]), 0)

    for agent in DogfoodFleet.agents {
      let runtime = agent == "canary-pi" ? "pi" : "stub"
      let l = ["tenant_id": "default", "host": host, "agent": agent, "runtime": runtime]
      XCTAssertEqual(value(s, "mosaic_agent_up", l), 1, agent)
      XCTAssertEqual(value(s, "mosaic_agent_pane_state", l.merging(["state": "alive"]) { $1 }), 1)
      XCTAssertEqual(value(s, "mosaic_agent_pane_state", l.merging(["state": "dead"]) { $1 }), 0)
      XCTAssertEqual(value(s, "mosaic_agent_unit_active", l), 1, agent)
      XCTAssertEqual(value(s, "mosaic_agent_unit_enabled", l), agent == "canary-pi" ? 0 : 1, agent)
      XCTAssertEqual(value(s, "mosaic_agent_drift", l), agent == "canary-pi" ? 1 : 0, agent)
      XCTAssertEqual(value(s, "mosaic_agent_boot_enable_gap", l), agent == "canary-pi" ? 1 : 0)
      XCTAssertEqual(value(s, "mosaic_agent_heartbeat_interval_seconds", l), 1, agent)
      XCTAssertEqual(value(s, "mosaic_agent_leased", l), 0, agent)
      // A timestamp, not an age: within an interval or two of now.
      let ts = try XCTUnwrap(value(s, "mosaic_agent_heartbeat_timestamp_seconds", l), agent)
      XCTAssertEqual(ts, before, accuracy: 3, agent)
      XCTAssertEqual(
        value(s, "mosaic_agent_info", l.merging(["unit": f.unit(agent)]) { $1 }), 1, agent)
    }
    // Every per-agent series has the four labels.
    for sample in s where sample.name.hasPrefix("mosaic_agent_") {
      for key in ["tenant_id", "host", "agent", "runtime"] {
        XCTAssertNotNil(sample.labels[key], "\(sample.name) \(sample.labels)")
      }
    }
  }

  func testTheFileIsReplacedAtomicallyAndKeptWhenTheFleetCannotBeRead() throws {
    let f = try theFleet()
    let dir = try Harness.makeTempDir("prom")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let out = dir + "/mosaic.prom"
    let r = try f.mosaic.run(["fleet", "export", "--output", out])
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertEqual(r.stdoutText, "")
    XCTAssertEqual(r.stderrText, "")
    let first = try String(contentsOfFile: out, encoding: .utf8)
    try promtool(first)
    let attrs = try FileManager.default.attributesOfItem(atPath: out)
    XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o644)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["mosaic.prom"])

    // Replaced, not rewritten in place: a new inode each time.
    let inode = (attrs[.systemFileNumber] as? NSNumber)?.intValue
    XCTAssertEqual(try f.mosaic.run(["fleet", "export", "--output", out]).status, 0)
    let again = try FileManager.default.attributesOfItem(atPath: out)
    XCTAssertNotEqual((again[.systemFileNumber] as? NSNumber)?.intValue, inode)

    // The fleet cannot be read: exit 1, one line, the file as it was.
    let kept = try String(contentsOfFile: out, encoding: .utf8)
    let broken = dir + "/broken.lua"
    try "return {".write(toFile: broken, atomically: true, encoding: .utf8)
    let bad = try f.mosaic.run(["fleet", "export", "--output", out, "--roster", broken])
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(bad.stderrText.hasPrefix("mosaic: fleet export: roster: "), bad.stderrText)
    XCTAssertEqual(bad.stderrText.split(separator: "\n").count, 1, bad.stderrText)
    XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), kept)

    // A name the collector would not read is written, with a warning.
    let txt = try f.mosaic.run(["fleet", "export", "--output", dir + "/mosaic.txt"])
    XCTAssertEqual(txt.status, 0)
    XCTAssertTrue(txt.stderrText.contains("reads only *.prom files"), txt.stderrText)
    // Usage errors are usage errors.
    XCTAssertEqual(try f.mosaic.run(["fleet", "export", "--format", "json"]).status, 64)
  }

  /// What a plane cannot tell is left out, never exported as 0.
  func testUnknownValuesAreLeftOut() throws {
    let f = try theFleet()
    let empty = try Harness.makeTempDir("norun")
    defer { try? FileManager.default.removeItem(atPath: empty) }
    var m = f.mosaic
    m.environment["XDG_RUNTIME_DIR"] = empty
    m.environment["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=\(empty)/bus"
    let r = try m.run(["fleet", "export"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    try promtool(r.stdoutText)
    let s = samples(r.stdoutText)
    XCTAssertEqual(value(s, "mosaic_fleet_warning", ["code": "user-manager-unreachable"]), 1)
    for family in [
      "mosaic_agent_unit_active", "mosaic_agent_unit_state", "mosaic_agent_unit_enabled",
      "mosaic_agent_boot_enable_gap",
    ] {
      XCTAssertFalse(s.contains { $0.name == family }, family)
    }
    XCTAssertEqual(value(s, "mosaic_agent_up", ["agent": "coder-1"]), 1)

    // No tmux server on the socket: every pane is gone (known), what ran in it is unknown.
    let none = Harness.uniqueName("none")
    let gone = try f.mosaic.run(["fleet", "export", "--socket", none])
    XCTAssertEqual(gone.status, 0, gone.stderrText)
    try promtool(gone.stdoutText)
    let g = samples(gone.stdoutText)
    XCTAssertEqual(value(g, "mosaic_fleet_warning", ["code": "tmux-server-absent"]), 1)
    for agent in DogfoodFleet.agents {
      XCTAssertEqual(value(g, "mosaic_agent_up", ["agent": agent]), 0, agent)
      XCTAssertEqual(value(g, "mosaic_agent_pane_state", ["agent": agent, "state": "absent"]), 1)
    }
    for family in [
      "mosaic_agent_drift", "mosaic_agent_stopped", "mosaic_agent_pane_activity_timestamp_seconds",
    ] {
      XCTAssertFalse(g.contains { $0.name == family }, family)
    }
    XCTAssertEqual(value(g, "mosaic_fleet_unrostered_sessions", [:]), 0)
  }

  /// The real consumer: node_exporter's textfile collector on loopback serves the series.
  func testNodeExporterServesTheSeries() throws {
    let f = try theFleet()
    let dir = try Harness.makeTempDir("textfile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let export = try f.mosaic.run(["fleet", "export", "--output", dir + "/mosaic.prom"])
    XCTAssertEqual(export.status, 0, export.stderrText)

    let port = try freePort()
    let exporter = Process()
    exporter.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-node-exporter")
    exporter.arguments = [
      "--collector.disable-defaults", "--collector.textfile",
      "--collector.textfile.directory=\(dir)", "--web.listen-address=127.0.0.1:\(port)",
    ]
    // The collector reads only *.prom files: its log can live beside them.
    let log = dir + "/node-exporter.log"
    XCTAssertTrue(FileManager.default.createFile(atPath: log, contents: nil))
    exporter.standardOutput = FileHandle(forWritingAtPath: log)
    exporter.standardError = FileHandle(forWritingAtPath: log)
    try exporter.run()
    defer {
      exporter.terminate()
      exporter.waitUntilExit()
    }

    var body = ""
    for _ in 0..<100 {
      let r = try SpawnRunner().run(
        ["curl", "-fsS", "--max-time", "2", "http://127.0.0.1:\(port)/metrics"], timeout: 5)
      if r.status == 0 {
        body = r.stdoutText
        break
      }
      Thread.sleep(forTimeInterval: 0.1)
    }
    XCTAssertFalse(
      body.isEmpty,
      "node_exporter never answered: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    let s = samples(
      body.split(separator: "\n").filter {
        $0.hasPrefix("#") || $0.hasPrefix("mosaic_") || $0.hasPrefix("node_textfile")
      }.joined(separator: "\n"))
    XCTAssertEqual(value(s, "node_textfile_scrape_error", [:]), 0, body)
    let host = shortHostName()
    for agent in DogfoodFleet.agents {
      let runtime = agent == "canary-pi" ? "pi" : "stub"
      let l = ["tenant_id": "default", "host": host, "agent": agent, "runtime": runtime]
      XCTAssertEqual(value(s, "mosaic_agent_up", l), 1, agent)
      XCTAssertNotNil(value(s, "mosaic_agent_heartbeat_timestamp_seconds", l), agent)
    }
    XCTAssertEqual(value(s, "mosaic_agent_drift", ["agent": "canary-pi"]), 1)
    XCTAssertTrue(body.contains("# TYPE mosaic_agent_up gauge"), body)
    XCTAssertTrue(body.contains("# HELP mosaic_agent_heartbeat_timestamp_seconds "), body)
  }

  /// A TCP port on loopback that nothing listens on right now.
  func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    XCTAssertGreaterThanOrEqual(fd, 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
      }
    }
    XCTAssertTrue(bound)
    return Int(UInt16(bigEndian: addr.sin_port))
  }
}
