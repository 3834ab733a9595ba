import FleetCore
import MosaicSupport
import XCTest

/// The roster's `hosts` (SPEC 2.2, 2.12): validated like the other fields, and every agent's
/// `host` is this machine or a roster host.
final class RosterHostsTests: XCTestCase {
  private func agent(_ name: String, host: String? = nil) -> JSONValue {
    var pairs: [(String, JSONValue)] = [("name", .string(name)), ("runtime", .string("stub"))]
    if let host { pairs.append(("host", .string(host))) }
    return .object(pairs)
  }

  private func roster(_ agents: [JSONValue], hosts: JSONValue?) -> JSONValue {
    var top: [(String, JSONValue)] = [("agents", .array(agents))]
    if let hosts { top.append(("hosts", hosts)) }
    return .object(top)
  }

  private func validate(_ value: JSONValue) throws(RosterError) -> Roster {
    try validateRoster(value)
  }

  private func message(
    _ value: JSONValue, file: StaticString = #filePath, line: UInt = #line
  ) -> String {
    rosterError(value, file: file, line: line)
  }

  private func host(_ pairs: (String, JSONValue)...) -> JSONValue { .object(pairs) }

  func testHostsWithDefaultsAndOptions() throws {
    let r = try validate(
      roster(
        [agent("a"), agent("b", host: "vm-b"), agent("c", host: "vm-c")],
        hosts: .object([
          ("vm-c", host(("ssh", .string("vm-c")))),
          (
            "vm-b",
            host(
              ("ssh", .string("fleet@vm-b")), ("mosaic", .string("/usr/bin/mosaic")),
              ("ssh_options", .array([.string("Port=2222"), .string("IdentityFile=~/.ssh/f k")])))
          ),
        ])))
    XCTAssertEqual(
      r.hosts,
      [
        RosterHost(
          name: "vm-b", ssh: "fleet@vm-b", mosaic: "/usr/bin/mosaic",
          sshOptions: ["Port=2222", "IdentityFile=~/.ssh/f k"]),
        RosterHost(name: "vm-c", ssh: "vm-c"),
      ])
    XCTAssertEqual(r.hosts[1].mosaic, "mosaic")
    XCTAssertEqual(r.agents.map(\.host), ["vm1", "vm-b", "vm-c"])
    guard case .object(let pairs) = r.jsonValue,
      case .array(let hosts)? = pairs.first(where: { $0.0 == "hosts" })?.1
    else { return XCTFail("no hosts in \(r.jsonValue)") }
    XCTAssertEqual(hosts.count, 2)
  }

  func testNoHostsIsAnEmptyList() throws {
    XCTAssertEqual(try validate(roster([agent("a")], hosts: nil)).hosts, [])
    XCTAssertEqual(try validate(roster([agent("a")], hosts: .array([]))).hosts, [])
  }

  func testAnAgentsHostMustBeThisMachineOrARosterHost() {
    XCTAssertEqual(
      message(roster([agent("a", host: "vm2")], hosts: nil)),
      #"roster.lua: agent "a": host "vm2" is neither this machine ("vm1") nor a roster host"#
        + #" (did you mean "vm1"?)"#)
    XCTAssertEqual(
      message(
        roster(
          [agent("a", host: "vm-bb")],
          hosts: .object([("vm-b", host(("ssh", .string("vm-b"))))]))),
      #"roster.lua: agent "a": host "vm-bb" is neither this machine ("vm1") nor a roster host"#
        + #" (did you mean "vm-b"?)"#)
    XCTAssertEqual(
      message(roster([agent("a", host: "elsewhere")], hosts: nil)),
      #"roster.lua: agent "a": host "elsewhere" is neither this machine ("vm1") nor a roster"#
        + #" host; add it to hosts: hosts = { ["elsewhere"] = { ssh = "..." } }"#)
  }

  func testBadHostsNameHostAndField() {
    func bad(_ hosts: JSONValue) -> String { message(roster([agent("a")], hosts: hosts)) }
    XCTAssertEqual(
      bad(.array([.string("vm-b")])),
      #"roster.lua: field "hosts" must be a table of hosts by name ({ ["vm-b"] = { ssh = "#
        + #""fleet@vm-b" } }), got a list"#)
    XCTAssertEqual(
      bad(.object([("vm-b", host(("shh", .string("x"))))])),
      #"roster.lua: host "vm-b": unknown field "shh" (did you mean "ssh"?)"#)
    XCTAssertEqual(
      bad(.object([("vm-b", host(("mosaic", .string("/usr/bin/mosaic"))))])),
      #"roster.lua: host "vm-b": missing required field "ssh" (the ssh destination, e.g. "#
        + #""fleet@vm-b")"#)
    XCTAssertEqual(
      bad(.object([("vm b", host(("ssh", .string("x"))))])),
      #"roster.lua: host "vm b": host name is invalid: character " " is not allowed "#
        + #"(letters, digits and "_", "-", "." are)"#)
    // ssh would read a leading dash as an option; spaces and quotes are no destination.
    XCTAssertTrue(
      bad(.object([("vm-b", host(("ssh", .string("-oProxyCommand=x"))))]))
        .contains(#"must not start with "-""#))
    XCTAssertTrue(
      bad(.object([("vm-b", host(("ssh", .string("a b"))))])).contains("is not allowed"))
    // The remote path is part of the remote command line: no shell metacharacters.
    for path in ["/usr/bin/mosaic; rm -rf ~", "$(id)", "/a b", "`x`", "-x"] {
      let text = bad(.object([("vm-b", host(("ssh", .string("x")), ("mosaic", .string(path))))]))
      XCTAssertTrue(text.contains(#"host "vm-b": mosaic "#), text)
    }
    XCTAssertTrue(
      bad(.object([("vm-b", host(("ssh", .string("x")), ("ssh_options", .string("Port=1"))))]))
        .contains(#"field "ssh_options" must be a list"#))
    XCTAssertTrue(
      bad(
        .object([("vm-b", host(("ssh", .string("x")), ("ssh_options", .array([.string("Port")]))))])
      ).contains(#"ssh_options[1] "Port" is invalid: must be Key=Value"#))
    XCTAssertTrue(
      bad(
        .object([
          ("vm-b", host(("ssh", .string("x")), ("ssh_options", .array([.string("A=b\nc")]))))
        ])
      ).contains("control characters"))
  }
}
