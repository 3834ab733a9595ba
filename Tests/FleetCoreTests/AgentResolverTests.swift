import FleetCore
import MosaicSupport
import XCTest

/// The one agent resolver, without tmux: roster rules, the listing, the messages and codes.
final class AgentResolverTests: XCTestCase {
  let here = "vm1"

  func roster(_ agents: [RosterAgent]) -> Roster {
    Roster(path: "/r/roster.lua", tenant: "acme", socket: "fleet", agents: agents)
  }

  var sample: Roster {
    roster([
      RosterAgent(name: "coder-1", runtime: "claude", host: here),
      RosterAgent(
        name: "reviewer", runtime: "codex", tenant: "beta", host: here, session: "rev",
        heartbeatInterval: 30),
      RosterAgent(name: "far", runtime: "stub", host: "vm2"),
    ])
  }

  func listing(_ sessions: [String]) -> Result<TmuxListing, TmuxError> {
    .success(
      TmuxListing(
        version: "3.3a",
        panes: sessions.enumerated().map {
          TmuxPane(session: $0.element, paneId: "%\($0.offset)", panePid: 100 + Int32($0.offset))
        }))
  }

  func testARosterAgentIsFoundByNameInItsOwnSession() throws {
    let r = AgentResolver(roster: sample, host: here)
    let id = try r.identify("reviewer").get()
    XCTAssertEqual(id.session, "rev")
    XCTAssertEqual(id.tenant, "beta")
    XCTAssertEqual(id.socket, "fleet")
    XCTAssertEqual(id.heartbeatInterval, 30)
    XCTAssertEqual(id.rostered?.runtime, "codex")
    let t = try r.locate(id, in: listing(["coder-1", "rev"])).get()
    XCTAssertEqual(t.pane.paneId, "%1")
  }

  func testTheSocketOptionWinsOverTheRosters() {
    XCTAssertEqual(AgentResolver(roster: sample, socket: "other", host: here).socket, "other")
    XCTAssertEqual(AgentResolver(roster: sample, host: here).socket, "fleet")
  }

  func testAnUnrosteredSessionIsAddressableByItsExactName() throws {
    let r = AgentResolver(roster: sample, host: here)
    // `-t` would be an option to tmux: it is only ever a session name here.
    let id = try r.identify("-t").get()
    XCTAssertNil(id.rostered)
    XCTAssertEqual(id.session, "-t")
    XCTAssertEqual(id.tenant, "acme")
    XCTAssertEqual(id.host, here)
    XCTAssertEqual(try r.locate(id, in: listing(["coder-1", "-t"])).get().pane.paneId, "%1")
  }

  func testARosterAgentsSessionIsNotAnotherName() {
    let r = AgentResolver(roster: sample, host: here)
    guard case .failure(let e) = r.identify("rev") else { return XCTFail("rev resolved") }
    XCTAssertEqual(e.code, .noSuchAgent)
    XCTAssertEqual(e.message, "no such agent (session 'rev' belongs to agent 'reviewer')")
  }

  func testARemoteAgentIsIdentifiedButNotLocal() throws {
    let r = AgentResolver(roster: sample, host: here)
    let id = try r.identify("far").get()
    XCTAssertEqual(id.host, "vm2")
    guard case .failure(let e) = r.requireLocal(id) else { return XCTFail("far is local") }
    XCTAssertEqual(e.code, .remoteHost)
    XCTAssertTrue(e.message.hasPrefix("runs on host vm2"), e.message)
  }

  func testAnUnknownNameGetsOneMessageWithASuggestion() {
    let r = AgentResolver(roster: sample, host: here)
    let id = try? r.identify("codr-1").get()
    XCTAssertNotNil(id)
    guard let id, case .failure(let e) = r.locate(id, in: listing(["coder-1", "rev", "scratch"]))
    else { return XCTFail("codr-1 located") }
    XCTAssertEqual(e.code, .noSuchAgent)
    XCTAssertEqual(
      e.message,
      "no such agent in the roster (/r/roster.lua) or session on socket fleet"
        + " (did you mean 'coder-1'?)")
    // Unrostered sessions are candidates too; sessions a roster agent owns and remote
    // agents are not.
    XCTAssertEqual(
      r.noSuchAgent("scratc", sessions: ["scratch"]).message.hasSuffix("(did you mean 'scratch'?)"),
      true)
    XCTAssertFalse(r.noSuchAgent("fa", sessions: []).message.contains("did you mean"))
    XCTAssertFalse(r.noSuchAgent("re", sessions: ["rev"]).message.contains("'rev'"))
  }

  func testWithoutARosterTheMessageSaysHowToWriteOne() {
    let r = AgentResolver(
      roster: Roster(path: "/c/fleet/roster.lua", agents: []), rosterMissing: true, host: here)
    guard case .success(let id) = r.identify("x"),
      case .failure(let e) = r.locate(id, in: listing(["y"]))
    else { return XCTFail("x resolved") }
    XCTAssertEqual(e.code, .noSuchAgent)
    XCTAssertEqual(
      e.message,
      "no such agent: no roster yet at /c/fleet/roster.lua ('mosaic fleet init' writes one)"
        + " and no session of that name on socket mosaic-factory")
  }

  func testNoSessionNoServerAndAnUnreadableServerAreToldApart() throws {
    let r = AgentResolver(roster: sample, host: here)
    let coder = try r.identify("coder-1").get()
    let loose = try r.identify("loose").get()
    func code(_ id: AgentIdentity, _ l: Result<TmuxListing, TmuxError>) -> AgentLookupError? {
      if case .failure(let e) = r.locate(id, in: l) { return e }
      return nil
    }
    XCTAssertEqual(code(coder, listing(["rev"]))?.code, .noSession)
    XCTAssertEqual(code(coder, listing(["rev"]))?.message, "no session 'coder-1' on socket fleet")
    XCTAssertEqual(code(coder, .failure(.serverAbsent))?.code, .noSession)
    XCTAssertEqual(
      code(coder, .failure(.serverAbsent))?.message,
      "no session 'coder-1': no tmux server on socket fleet")
    // An unrostered name without a server is simply unknown.
    XCTAssertEqual(code(loose, .failure(.serverAbsent))?.code, .noSuchAgent)
    XCTAssertEqual(code(coder, .failure(.failed("timed out")))?.code, .tmuxUnreadable)
    XCTAssertEqual(
      code(coder, .failure(.failed("timed out")))?.message, "tmux socket fleet: timed out")
  }

  func testTheAgentPaneIsTheSessionsFirstPane() throws {
    let r = AgentResolver(roster: sample, host: here)
    let panes = [
      TmuxPane(session: "coder-1", paneId: "%7", windowIndex: 1, paneIndex: 0),
      TmuxPane(session: "coder-1", paneId: "%5", windowIndex: 0, paneIndex: 1),
      TmuxPane(session: "coder-1", paneId: "%6", windowIndex: 0, paneIndex: 0),
    ]
    let id = try r.identify("coder-1").get()
    let t = try r.locate(id, in: .success(TmuxListing(version: nil, panes: panes))).get()
    XCTAssertEqual(t.pane.paneId, "%6")
  }

  func testResolveAsksTmuxOnceAndNothingElse() {
    let runner = CountingRunner()
    let r = AgentResolver(roster: sample, host: here)
    let tmux = TmuxClient(socket: r.socket, runner: runner)
    guard case .failure(let e) = r.resolve("coder-1", tmux: tmux) else {
      return XCTFail("resolved without a server")
    }
    XCTAssertEqual(e.code, .noSession)
    XCTAssertEqual(runner.argvs.count, 1)
    XCTAssertEqual(Array(runner.argvs.first?.prefix(4) ?? []), ["tmux", "-u", "-L", "fleet"])
    XCTAssertTrue(runner.argvs.first?.contains("list-panes") ?? false)
    // A remote agent or a roster conflict never reaches tmux.
    _ = r.resolve("far", tmux: tmux)
    _ = r.resolve("rev", tmux: tmux)
    XCTAssertEqual(runner.argvs.count, 1)
  }

  func testAPaneLeadsBackToItsAgent() {
    let r = AgentResolver(roster: sample, host: here)
    let panes = TmuxListing(
      version: nil,
      panes: [
        TmuxPane(session: "rev", paneId: "%1"),
        TmuxPane(session: "rev", paneId: "%2", paneIndex: 1),
        TmuxPane(session: "far", paneId: "%3"),
        TmuxPane(session: "loose", paneId: "%4"),
      ])
    XCTAssertEqual(try? r.agent(ofPane: "%1", in: .success(panes)).get(), "reviewer")
    XCTAssertEqual(try? r.agent(ofPane: "%4", in: .success(panes)).get(), "loose")
    // Not the agent pane of its session; a remote agent's session; no such pane; no server.
    for pane in ["%2", "%3", "%9"] {
      guard case .failure(let e) = r.agent(ofPane: pane, in: .success(panes)) else {
        return XCTFail("\(pane) attributed")
      }
      XCTAssertEqual(e.message, "no agent's pane is \(pane) (socket fleet)")
    }
    guard case .failure(let e) = r.agent(ofPane: "%1", in: .failure(.serverAbsent)) else {
      return XCTFail("attributed without a server")
    }
    XCTAssertEqual(e.code, .noSuchAgent)
  }

  func testSnapshotVerbsShareTheMessage() {
    let r = AgentResolver(roster: sample, host: here)
    XCTAssertEqual(try? r.lookup("rev", in: ["coder-1", "rev"]).get(), 1)
    guard case .failure(let e) = r.lookup("revewer", in: ["coder-1", "reviewer"]) else {
      return XCTFail("found")
    }
    XCTAssertEqual(e.code, .noSuchAgent)
    XCTAssertTrue(e.message.hasSuffix("(did you mean 'reviewer'?)"), e.message)
  }
}

/// Answers every command as tmux does when no server runs, and records the argv.
final class CountingRunner: CommandRunner, @unchecked Sendable {
  var argvs: [[String]] = []
  func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
    argvs.append(request.argv)
    return CommandResult(
      status: 1, stderr: Array("no server running on /tmp/tmux-1000/fleet\n".utf8))
  }
}
