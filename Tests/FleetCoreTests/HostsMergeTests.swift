import FleetCore
import MosaicSupport
import XCTest

/// The join of `fleet ps` across hosts (SPEC 2.12), on documents shaped like the real ones.
final class HostsMergeTests: XCTestCase {
  private func row(_ name: String, _ host: String, pane: JSONValue = .null) -> JSONValue {
    .object([("name", .string(name)), ("host", .string(host)), ("pane", pane)])
  }

  private func snapshot(_ host: String, _ rows: [JSONValue], warnings: [JSONValue] = [])
    -> JSONValue
  {
    .object([
      ("schema", .string("mosaic.fleet.ps/v1")), ("generated_at", .string("T-\(host)")),
      ("host", .string(host)), ("socket", .string("s")), ("warnings", .array(warnings)),
      ("agents", .array(rows)),
    ])
  }

  private func warning(_ code: String, _ message: String) -> JSONValue {
    .object([("code", .string(code)), ("message", .string(message))])
  }

  private func text(_ v: JSONValue) -> [UInt8] { Array(JSONCodec.encode(v).utf8) }

  func testAnswersReplaceNullRowsAppendTheirOwnAndKeepOrder() throws {
    let local = snapshot(
      "a",
      [row("l1", "a"), row("r1", "b"), row("r2", "b"), row("c1", "c")],
      warnings: [warning("remote-agents", "3 agent(s) run on other hosts"), warning("x", "here")])
    let b = snapshot(
      "b",
      [
        row("r1", "b", pane: .object([("state", .string("alive"))])),
        row("elsewhere", "z"),  // the remote's roster names another host: not its to say
        row("u1", "b", pane: .object([("state", .string("alive"))])),  // its unrostered session
      ],
      warnings: [
        warning("linger-disabled", "lingering is disabled"), warning("remote-agents", "n"),
      ])
    let merged = HostsMerge.merge(
      local: local,
      answers: [
        HostAnswer(name: "b", ssh: "fleet@b", error: nil, stdout: text(b)),
        HostAnswer(name: "c", ssh: "fleet@c", error: "ssh: connect to host c: refused", stdout: []),
      ], here: "a")
    guard case .object(let pairs) = merged else { return XCTFail("\(merged)") }
    XCTAssertEqual(
      pairs.map(\.0),
      ["schema", "generated_at", "host", "socket", "warnings", "hosts", "agents"])
    let names = (merged["agents"]?.arrayValue ?? []).map { $0["name"]?.stringValue ?? "?" }
    XCTAssertEqual(names, ["l1", "r1", "r2", "c1", "u1"])
    let rows = merged["agents"]?.arrayValue ?? []
    XCTAssertEqual(rows[1]["pane"]?["state"], .string("alive"))
    XCTAssertEqual(rows[2]["pane"], .null, "not listed by b: stays null")
    XCTAssertEqual(rows[4]["host"], .string("b"))
    let hosts = merged["hosts"]?.arrayValue ?? []
    XCTAssertEqual(hosts.map { $0["name"]?.stringValue }, ["a", "b", "c"])
    XCTAssertEqual(hosts.map { $0["reachable"] }, [.bool(true), .bool(true), .bool(false)])
    XCTAssertEqual(hosts[1]["generated_at"], .string("T-b"))
    XCTAssertEqual(hosts[2]["error"], .string("ssh: connect to host c: refused"))
    XCTAssertEqual(hosts[2]["generated_at"], .null)
    let warnings = merged["warnings"]?.arrayValue ?? []
    XCTAssertEqual(
      warnings.map { $0["code"]?.stringValue ?? "" }, ["x", "linger-disabled", "host-unreachable"])
    XCTAssertEqual(warnings[0]["host"], nil, "this machine's own warnings carry no host")
    XCTAssertEqual(warnings[1]["host"], .string("b"))
    XCTAssertEqual(warnings[1]["message"], .string("b: lingering is disabled"))
    XCTAssertEqual(warnings[2]["host"], .string("c"))
  }

  func testAnAnswerThatIsNoFleetPSIsUnreachableAndANameMismatchIsSaid() throws {
    let local = snapshot("a", [row("r1", "b")])
    let merged = HostsMerge.merge(
      local: local,
      answers: [
        HostAnswer(name: "b", ssh: "b", error: nil, stdout: Array("Welcome!\n{".utf8)),
        HostAnswer(
          name: "d", ssh: "d", error: nil,
          stdout: text(snapshot("d.example", [row("x", "d.example")]))),
      ], here: "a")
    let hosts = merged["hosts"]?.arrayValue ?? []
    XCTAssertEqual(hosts[1]["reachable"], .bool(false))
    XCTAssertTrue(
      hosts[1]["error"]?.stringValue?.hasPrefix("not a fleet ps answer") ?? false, "\(hosts)")
    XCTAssertEqual(hosts[2]["reachable"], .bool(true))
    let codes = (merged["warnings"]?.arrayValue ?? []).map { $0["code"]?.stringValue ?? "" }
    XCTAssertEqual(codes, ["host-unreachable", "host-name-mismatch"])
    // The rows of a host that calls itself otherwise are still its own, under the roster's name.
    let names = (merged["agents"]?.arrayValue ?? []).map { $0["host"]?.stringValue ?? "" }
    XCTAssertEqual(names, ["b", "d"])
  }
}
