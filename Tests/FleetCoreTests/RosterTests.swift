import FleetCore
import MosaicSupport
import XCTest

final class RosterTests: XCTestCase {
  private func agent(_ pairs: (String, JSONValue)...) -> JSONValue { .object(pairs) }

  private func roster(_ agents: [JSONValue], _ top: (String, JSONValue)...) -> JSONValue {
    .object(top + [("agents", .array(agents))])
  }

  private func validate(_ value: JSONValue) throws(RosterError) -> Roster {
    try validateRoster(value)
  }

  private func message(
    _ value: JSONValue, file: StaticString = #filePath, line: UInt = #line
  ) -> String {
    rosterError(value, file: file, line: line)
  }

  func testMinimalAgentGetsEveryDefault() throws {
    let r = try validate(
      roster([agent(("name", .string("coder-1")), ("runtime", .string("claude")))]))
    XCTAssertEqual(r.tenant, "default")
    XCTAssertEqual(r.socket, "mosaic-factory")
    XCTAssertEqual(r.heartbeatInterval, 15)
    XCTAssertEqual(r.path, "roster.lua")
    XCTAssertEqual(
      r.agents,
      [
        RosterAgent(
          name: "coder-1", runtime: "claude", tenant: "default", host: "vm1",
          unit: "mosaic-agent@coder-1.service", session: "coder-1", heartbeatInterval: 15,
          match: nil)
      ])
  }

  func testSpecExampleRoster() throws {
    let value = roster(
      [
        agent(("name", .string("coder-1")), ("runtime", .string("claude"))),
        agent(("name", .string("canary-pi")), ("runtime", .string("pi"))),
        agent(
          ("name", .string("reviewer")), ("runtime", .string("codex")), ("tenant", .string("beta")),
          ("unit", .string("codex-reviewer.service")), ("session", .string("reviewer")),
          ("heartbeat_interval", .int(30))),
      ], ("tenant", .string("acme")), ("socket", .string("mosaic-factory")),
      ("heartbeat_interval", .int(15)))
    let r = try validate(value)
    XCTAssertEqual(r.tenant, "acme")
    XCTAssertEqual(r.agents.map(\.name), ["coder-1", "canary-pi", "reviewer"])
    XCTAssertEqual(r.agents.map(\.tenant), ["acme", "acme", "beta"])
    XCTAssertEqual(r.agents.map(\.host), ["vm1", "vm1", "vm1"])
    XCTAssertEqual(r.agents[2].unit, "codex-reviewer.service")
    XCTAssertEqual(r.agents[2].heartbeatInterval, 30)
    XCTAssertEqual(r.agents[1].heartbeatInterval, 15)
    XCTAssertEqual(r.agent(named: "canary-pi")?.runtime, "pi")
    XCTAssertEqual(r.agent(inSession: "reviewer")?.name, "reviewer")
    XCTAssertNil(r.agent(named: "nobody"))
  }

  func testTopLevelDefaultsOverrideAndFractionalInterval() throws {
    let r = try validate(
      roster(
        [
          agent(
            ("name", .string("a")), ("runtime", .string("stub")), ("host", .string("vm2.example")))
        ],
        ("socket", .string("mt-sock.1")), ("heartbeat_interval", .double(2.5)),
        // An agent's host is this machine or a roster host (SPEC 2.12).
        ("hosts", .object([("vm2.example", .object([("ssh", .string("vm2.example"))]))]))))
    XCTAssertEqual(r.socket, "mt-sock.1")
    XCTAssertEqual(r.agents[0].heartbeatInterval, 2.5)
    XCTAssertEqual(r.agents[0].host, "vm2.example")
  }

  func testEmptyAgentsListIsAnEmptyFleet() throws {
    XCTAssertEqual(try validate(roster([])).agents, [])
  }

  func testNilFieldsAreAbsent() throws {
    let r = try validate(
      roster([
        agent(
          ("name", .string("a")), ("runtime", .string("pi")), ("tenant", .null), ("match", .null))
      ]))
    XCTAssertEqual(r.agents[0].tenant, "default")
    XCTAssertNil(r.agents[0].match)
  }

  func testUnknownAgentFieldSuggestsTheClosest() {
    XCTAssertEqual(
      message(roster([agent(("name", .string("coder-1")), ("runtim", .string("claude")))])),
      #"roster.lua: agent "coder-1": unknown field "runtim" (did you mean "runtime"?)"#)
    XCTAssertEqual(
      message(
        roster([agent(("name", .string("c")), ("runtime", .string("pi")), ("interval", .int(3)))])),
      #"roster.lua: agent "c": unknown field "interval" (did you mean "heartbeat_interval"?)"#)
    XCTAssertEqual(
      message(
        roster([
          agent(("name", .string("c")), ("runtime", .string("pi")), ("Session", .string("x")))
        ])),
      #"roster.lua: agent "c": unknown field "Session" (did you mean "session"?)"#)
  }

  func testUnknownFieldWithoutSuggestionListsKnownFields() {
    XCTAssertEqual(
      message(
        roster([
          agent(("name", .string("c")), ("runtime", .string("pi")), ("colour", .string("red")))
        ])),
      #"roster.lua: agent "c": unknown field "colour" (known: name, runtime, tenant, host, "#
        + #"unit, session, heartbeat_interval, match)"#)
  }

  func testUnknownTopLevelField() {
    XCTAssertEqual(
      message(.object([("agent", .array([]))])),
      #"roster.lua: unknown field "agent" (did you mean "agents"?)"#)
    XCTAssertEqual(
      message(roster([], ("sockets", .string("x")))),
      #"roster.lua: unknown field "sockets" (did you mean "socket"?)"#)
  }

  func testMissingRequiredFieldsNameTheAgentByPosition() {
    let ok = agent(("name", .string("a")), ("runtime", .string("pi")))
    XCTAssertEqual(
      message(
        roster([
          ok, agent(("name", .string("b")), ("runtime", .string("pi"))),
          agent(("runtime", .string("pi"))),
        ])),
      #"roster.lua: agent #3: missing required field "name""#)
    XCTAssertEqual(
      message(roster([.array([])])), #"roster.lua: agent #1: missing required field "name""#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("x")))])),
      #"roster.lua: agent "x": missing required field "runtime" (one of claude, codex, pi, "#
        + #"opencode, stub)"#)
    XCTAssertEqual(
      message(.object([("tenant", .string("acme"))])),
      #"roster.lua: missing required field "agents" (a list of agent tables)"#)
    XCTAssertEqual(
      message(.array([])), #"roster.lua: missing required field "agents" (a list of agent tables)"#
    )
  }

  func testDuplicateNames() {
    let a = agent(("name", .string("x")), ("runtime", .string("pi")))
    let b = agent(("name", .string("y")), ("runtime", .string("pi")))
    let c = agent(("name", .string("z")), ("runtime", .string("pi")))
    XCTAssertEqual(
      message(roster([a, b, c, a])), #"roster.lua: duplicate agent name "x" (agents #1 and #4)"#)
  }

  func testDuplicateSessions() {
    let a = agent(("name", .string("x")), ("runtime", .string("pi")))
    let b = agent(("name", .string("y")), ("runtime", .string("pi")), ("session", .string("x")))
    XCTAssertEqual(
      message(roster([a, b])),
      #"roster.lua: agent "y": session "x" is already used by agent "x" (agents #1 and #2)"#)
  }

  func testInvalidNames() {
    XCTAssertEqual(
      message(roster([agent(("name", .string("a.b")), ("runtime", .string("pi")))])),
      #"roster.lua: agent #1: name "a.b" is invalid: character "." is not allowed (letters, "#
        + #"digits and "_", "-" are); tmux rewrites "." and ":" in session names"#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("-x")), ("runtime", .string("pi")))])),
      #"roster.lua: agent #1: name "-x" is invalid: must start with a letter or a digit"#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("")), ("runtime", .string("pi")))])),
      #"roster.lua: agent #1: name "" is invalid: must not be empty"#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("bad\nname")), ("runtime", .string("pi")))])),
      #"roster.lua: agent #1: name "bad\nname" is invalid: character "\n" is not allowed "#
        + #"(letters, digits and "_", "-" are)"#)
    XCTAssertTrue(
      message(roster([agent(("name", .string("ü")), ("runtime", .string("pi")))])).contains(
        "must start with"))
    let max = String(repeating: "a", count: 64)
    XCTAssertNoThrow(
      try validate(roster([agent(("name", .string(max)), ("runtime", .string("pi")))])))
    XCTAssertEqual(
      message(roster([agent(("name", .string(max + "a")), ("runtime", .string("pi")))])),
      #"roster.lua: agent #1: name ""# + max + "a"
        + #"" is invalid: longer than 64 characters"#)
    XCTAssertEqual(
      message(
        roster([
          agent(("name", .string("ok")), ("runtime", .string("pi")), ("session", .string("s:1")))
        ])),
      #"roster.lua: agent "ok": session "s:1" is invalid: character ":" is not allowed "#
        + #"(letters, digits and "_", "-" are); tmux rewrites "." and ":" in session names"#)
  }

  func testWrongTypes() {
    XCTAssertEqual(
      message(roster([agent(("name", .int(3)), ("runtime", .string("pi")))])),
      #"roster.lua: agent #1: field "name" must be a string, got number"#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("a")), ("runtime", .bool(true)))])),
      #"roster.lua: agent "a": field "runtime" must be a string, got boolean"#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("a")), ("runtime", .string("<function>")))])),
      #"roster.lua: agent "a": field "runtime" must be a string, got function"#)
    XCTAssertEqual(
      message(
        roster([agent(("name", .string("a")), ("runtime", .string("pi")), ("match", .array([])))])),
      #"roster.lua: agent "a": field "match" must be a string, got table"#)
    XCTAssertEqual(
      message(
        roster([
          agent(
            ("name", .string("a")), ("runtime", .string("pi")),
            ("heartbeat_interval", .string("15")))
        ])),
      #"roster.lua: agent "a": field "heartbeat_interval" must be a number of seconds, "#
        + "got string")
    XCTAssertEqual(
      message(roster([], ("tenant", .string("<userdata>")))),
      #"roster.lua: field "tenant" must be a string, got userdata"#)
    XCTAssertEqual(
      message(roster([.string("coder-1")])),
      #"roster.lua: agent #1: an agent must be a table, got string"#)
    XCTAssertEqual(
      message(roster([.array([.string("coder-1"), .string("claude")])])),
      #"roster.lua: agent #1: an agent must be a table with named fields, got a list"#)
    XCTAssertEqual(
      message(.string("<function>")), #"roster.lua: the roster must be a table, got function"#)
    XCTAssertEqual(
      message(.object([("agents", .object([("name", .string("x"))]))])),
      #"roster.lua: field "agents" must be a list of agent tables ({ { name = ..., "#
        + #"runtime = ... }, ... }), got a table with named fields"#)
    XCTAssertEqual(
      message(.object([("agents", .bool(false))])),
      #"roster.lua: field "agents" must be a list of agent tables, got boolean"#)
  }

  func testIntervalMustBePositive() {
    XCTAssertEqual(
      message(roster([], ("heartbeat_interval", .int(0)))),
      #"roster.lua: field "heartbeat_interval" must be a positive number of seconds up to "#
        + "86400, got 0")
    XCTAssertEqual(
      message(
        roster([
          agent(
            ("name", .string("a")), ("runtime", .string("pi")),
            ("heartbeat_interval", .double(-1.5)))
        ])),
      #"roster.lua: agent "a": field "heartbeat_interval" must be a positive number of "#
        + "seconds up to 86400, got -1.5")
    XCTAssertTrue(
      message(roster([], ("heartbeat_interval", .double(.infinity)))).hasSuffix("got inf"))
    XCTAssertTrue(message(roster([], ("heartbeat_interval", .double(.nan)))).hasSuffix("got nan"))
  }

  func testUnknownRuntimeNeedsAMatchPattern() throws {
    XCTAssertEqual(
      message(roster([agent(("name", .string("a")), ("runtime", .string("claud")))])),
      #"roster.lua: agent "a": unknown runtime "claud" (did you mean "claude"?); known "#
        + #"runtimes are claude, codex, pi, opencode, stub, another needs a "match" pattern"#)
    XCTAssertEqual(
      message(roster([agent(("name", .string("a")), ("runtime", .string("aider")))])),
      #"roster.lua: agent "a": unknown runtime "aider"; known runtimes are claude, codex, "#
        + #"pi, opencode, stub, another needs a "match" pattern"#)
    let r = try validate(
      roster([
        agent(("name", .string("a")), ("runtime", .string("aider")), ("match", .string("aider%s")))
      ]))
    XCTAssertEqual(r.agents[0].runtime, "aider")
    XCTAssertEqual(r.agents[0].match, "aider%s")
    XCTAssertFalse(r.agents[0].hasKnownRuntime)
    XCTAssertEqual(
      message(roster([agent(("name", .string("a")), ("runtime", .string("")))])),
      #"roster.lua: agent "a": runtime "" is invalid: must not be empty"#)
    XCTAssertEqual(
      message(
        roster([agent(("name", .string("a")), ("runtime", .string("pi")), ("match", .string("")))])),
      #"roster.lua: agent "a": field "match" must not be empty (a Lua pattern for the "#
        + #"command line)"#)
  }

  func testUnitRules() throws {
    for good in ["codex-reviewer.service", "mosaic-agent@x.service", "a\\x2db.service"] {
      XCTAssertNoThrow(
        try validate(
          roster([
            agent(("name", .string("a")), ("runtime", .string("pi")), ("unit", .string(good)))
          ])),
        good)
    }
    let bad: [(String, String)] = [
      ("codex.timer", #"must end in ".service""#),
      (".service", #"empty name before ".service""#),
      (
        "mosaic-agent@.service",
        #"a template without an instance ("name@instance.service") "#
          + "cannot run"
      ),
      ("@x.service", #"empty name before "@""#),
      ("a@b@c.service", #"more than one "@""#),
      ("a b.service", #"character " " is not allowed in a unit name"#),
      ("a/b.service", #"character "/" is not allowed in a unit name"#),
    ]
    for (unit, why) in bad {
      XCTAssertEqual(
        message(
          roster([
            agent(("name", .string("a")), ("runtime", .string("pi")), ("unit", .string(unit)))
          ])),
        #"roster.lua: agent "a": unit ""# + unit + #"" is invalid: "# + why)
    }
  }

  func testTenantHostAndSocketAreIdentifiers() {
    XCTAssertEqual(
      message(roster([], ("socket", .string("../x")))),
      #"roster.lua: socket "../x" is invalid: must start with a letter or a digit"#)
    XCTAssertEqual(
      message(
        roster([
          agent(("name", .string("a")), ("runtime", .string("pi")), ("tenant", .string("a b")))
        ])),
      #"roster.lua: agent "a": tenant "a b" is invalid: character " " is not allowed "#
        + #"(letters, digits and "_", "-", "." are)"#)
    XCTAssertEqual(
      message(
        roster([agent(("name", .string("a")), ("runtime", .string("pi")), ("host", .string("")))])),
      #"roster.lua: agent "a": host "" is invalid: must not be empty"#)
  }

  func testErrorCarriesItsParts() {
    do {
      _ = try validate(roster([agent(("name", .string("coder-1")), ("runtim", .string("claude")))]))
      XCTFail("expected an error")
    } catch {
      XCTAssertEqual(error.path, "roster.lua")
      XCTAssertEqual(error.agent, #"agent "coder-1""#)
      XCTAssertEqual(error.field, "runtim")
    }
  }

  func testJSONShape() throws {
    let r = try validate(
      roster(
        [agent(("name", .string("a")), ("runtime", .string("pi")))], ("tenant", .string("acme"))))
    XCTAssertEqual(
      r.agents[0].jsonValue,
      .object([
        ("name", .string("a")), ("tenant_id", .string("acme")), ("host", .string("vm1")),
        ("runtime", .string("pi")),
        ("unit", .string("mosaic-agent@a.service")), ("session", .string("a")),
        ("heartbeat_interval", .int(15)),
        ("match", .null),
      ]))
  }
}
