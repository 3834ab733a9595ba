import Foundation
import MosaicSupport
import XCTest

/// `fleet ps -o json|wide|name`, `--no-headers` and agent names as filters, and every
/// `--json` output validated against its schema in docs/schemas/ (Debian's
/// python3-jsonschema), on the dogfood fleet.
final class OperatorOutputTests: DogfoodTestCase {
  func testOutputFormatsAndNamedAgents() throws {
    let f = try theFleet()
    let names = try f.mosaic.run(["fleet", "ps", "-o", "name"])
    XCTAssertEqual(names.status, 0, names.stderrText)
    XCTAssertEqual(names.stdoutText, DogfoodFleet.agents.joined(separator: "\n") + "\n")

    let table = try f.mosaic.run(["fleet", "ps"]).stdoutText.split(separator: "\n")
    let bare = try f.mosaic.run(["fleet", "ps", "--no-headers"]).stdoutText.split(separator: "\n")
    XCTAssertTrue(table.first?.hasPrefix("NAME ") ?? false)
    XCTAssertEqual(bare.count, DogfoodFleet.agents.count)
    XCTAssertEqual(
      bare.map { $0.split(separator: " ").first.map(String.init) }, DogfoodFleet.agents)

    let wide = try f.mosaic.run(["fleet", "ps", "-o", "wide", "coder-2"]).stdoutText.split(
      separator: "\n")
    XCTAssertEqual(wide.count, 2)
    let header = wide[0].split(separator: " ").map(String.init)
    XCTAssertEqual(
      Array(header.suffix(7)),
      ["SESSION", "PANE-ID", "SIZE", "HB-STATUS", "WAITING-FOR", "LEASE", "PROCESS"])
    XCTAssertTrue(wide[1].hasPrefix("coder-2 "))
    XCTAssertTrue(wide[1].contains(" 200x50 "), String(wide[1]))
    XCTAssertTrue(wide[1].hasSuffix("agent stub coder-2 --interval 1"), String(wide[1]))

    // Names narrow the listing, in the order given, in every format.
    let two = try f.mosaic.run(["fleet", "ps", "-o", "name", "reviewer", "coder-1"])
    XCTAssertEqual(two.stdoutText, "reviewer\ncoder-1\n")
    let json = try f.mosaic.json(["fleet", "ps", "-o", "json", "canary-pi"])
    XCTAssertEqual(json["schema"]?.stringValue, "mosaic.fleet.ps/v1")
    XCTAssertEqual(
      json["agents"]?.arrayValue?.compactMap { $0["name"]?.stringValue }, ["canary-pi"])
    XCTAssertEqual(
      json["agents"]?.arrayValue?.first?["flags"],
      .array([.string("drift"), .string("boot-enable")]))
    let alias = try f.mosaic.json(["fleet", "ps", "--json", "canary-pi"])
    XCTAssertEqual(alias["agents"]?.arrayValue?.count, 1)

    // An unknown name is an error with a hint; nothing on stdout.
    let typo = try f.mosaic.run(["fleet", "ps", "-o", "json", "coder-1", "revewer"])
    XCTAssertEqual(typo.status, 1)
    XCTAssertEqual(typo.stdoutText, "")
    XCTAssertTrue(
      typo.stderrText.hasPrefix("mosaic: fleet ps: revewer: no such agent in the roster ("),
      typo.stderrText)
    XCTAssertTrue(
      typo.stderrText.hasSuffix(
        ") or session on socket \(f.socket) (did you mean 'reviewer'?)\n"), typo.stderrText)
    XCTAssertEqual(typo.stderrText.split(separator: "\n").count, 1, typo.stderrText)
    for bad in [["-o", "yaml"], ["--json", "-o", "wide"], ["-o", "name", "--watch"]] {
      let r = try f.mosaic.run(["fleet", "ps"] + bad)
      XCTAssertEqual(r.status, 64, "\(bad)")
      XCTAssertTrue(r.stderrText.hasPrefix("mosaic: fleet ps: "), "\(bad): \(r.stderrText)")
    }
  }

  func testEveryJSONOutputMatchesItsSchema() throws {
    let f = try theFleet()
    var documents: [(String, String, String)] = []
    func add(_ what: String, _ schema: String, _ args: [String], status: Int32 = 0) throws {
      let r = try f.mosaic.run(args)
      XCTAssertEqual(r.status, status, "\(args): \(r.stderrText)")
      XCTAssertFalse(r.stdoutText.isEmpty, "\(args)")
      documents.append((what, schema, r.stdoutText))
    }
    try add("fleet ps", "mosaic.fleet.ps.v1", ["fleet", "ps", "--json"])
    try add("fleet ps --probe", "mosaic.fleet.ps.v1", ["fleet", "ps", "--json", "--probe"])
    try add("fleet ps (filtered)", "mosaic.fleet.ps.v1", ["fleet", "ps", "-o", "json", "planner"])
    try add("fleet check", "mosaic.fleet.check.v1", ["fleet", "check", "--json"], status: 1)
    try add(
      "fleet check (usage)", "mosaic.fleet.check.v1",
      ["fleet", "check", "--json", "--ignore", "nope"],
      status: 3)
    try add(
      "agent send --verify", "mosaic.agent.send.v1",
      ["agent", "send", "coder-2", "--verify", "--nonce", "--json", "schema check"])
    try add(
      "agent send (refused)", "mosaic.agent.send.v1", ["agent", "send", "nobody", "--json", "hi"],
      status: 3)
    try add("agent capture", "mosaic.agent.capture.v1", ["agent", "capture", "coder-2", "--json"])
    let doctor = try f.mosaic.run(["doctor", "--json"])
    XCTAssertTrue([0, 1, 2].contains(doctor.status), doctor.stderrText)
    documents.append(("doctor", "mosaic.doctor.v1", doctor.stdoutText))
    try add("hooks status", "mosaic.hooks.status.v1", ["hooks", "status", "--json"])
    for (what, schema, text) in documents {
      let r = try Harness.validateSchema(text, schema)
      XCTAssertEqual(
        r.status, 0, "\(what) does not match \(schema): \(r.stdoutText)\(r.stderrText)")
    }
    // The validator does reject what breaks a schema (a state outside its enum, a
    // missing required field), so the passes above mean something.
    let ps = documents[0].2
    let broken = ps.replacingOccurrences(of: "\"state\": \"alive\"", with: "\"state\": \"zombie\"")
    XCTAssertNotEqual(broken, ps)
    let rejected = try Harness.validateSchema(broken, "mosaic.fleet.ps.v1")
    XCTAssertEqual(rejected.status, 1, rejected.stderrText)
    XCTAssertTrue(rejected.stdoutText.contains("'zombie' is not one of"), rejected.stdoutText)
    let check = documents[3].2.replacingOccurrences(of: "\"exit\":1", with: "\"exit\":2")
    XCTAssertNotEqual(check, documents[3].2)
    XCTAssertEqual(try Harness.validateSchema(check, "mosaic.fleet.check.v1").status, 1)
  }
}
