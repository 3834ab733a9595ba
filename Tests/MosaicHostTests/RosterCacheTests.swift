import Foundation
import XCTest

@testable import MosaicHost

/// One process evaluates a roster again only when its file changed: `fleet ps` asks for the
/// roster's hosts and then for the whole roster, `--watch` asks every few seconds.
final class RosterCacheTests: LuaHostTestCase {
  func write(_ text: String) throws {
    try FileManager.default.createDirectory(
      atPath: home + "/config/fleet", withIntermediateDirectories: true)
    // A new file renamed over the old one, as editors and `fleet init` write.
    let tmp = home + "/config/fleet/.roster.tmp"
    try text.write(toFile: tmp, atomically: false, encoding: .utf8)
    XCTAssertEqual(rename(tmp, home + "/config/fleet/roster.lua"), 0)
  }

  /// A roster whose heartbeat interval is this process's CPU time in microseconds when it is
  /// evaluated (modulo 3000), so two loads that agree on it are one evaluation.
  func roster(agents: [String], hosts: String = "") -> String {
    let list = agents.map { "{ name = \"\($0)\", runtime = \"stub\" }" }.joined(separator: ", ")
    return
      "return { heartbeat_interval = 10 + (os.clock() * 1e6) % 3000, agents = { \(list) }\(hosts) }\n"
  }

  func testAChangedRosterIsReadAgainAndAnUnchangedOneIsNot() throws {
    try write(roster(agents: ["a"]))
    lua(
      """
      local host = require "mosaic._host"
      _G.count_a = #fleet.roster().agents
      eq(#host.fleet_roster_hosts(), 0, "no hosts")
      """)
    guard case .success(let first) = runtime.loadRoster(nil) else {
      return XCTFail("roster did not load")
    }
    guard case .success(let again) = runtime.loadRoster(nil) else {
      return XCTFail("roster did not load again")
    }
    XCTAssertEqual(first, again, "evaluated once: the same drawn interval")
    XCTAssertNotNil(runtime.rosterCache, "a loaded roster is kept")
    // The control: a fresh evaluation draws another interval.
    runtime.rosterCache = nil
    guard case .success(let third) = runtime.loadRoster(nil) else {
      return XCTFail("roster did not load a third time")
    }
    XCTAssertNotEqual(first.heartbeatInterval, third.heartbeatInterval, "evaluated again")

    // Same size, new content (a rename gives a new inode, and the change time moves).
    try write(roster(agents: ["b"]))
    lua(
      """
      eq(fleet.roster().agents[1].name, "b", "the new roster")
      """)
    // A roster whose file now fails is an error, not the kept one.
    try write("return 42\n")
    lua(
      """
      local r, err = fleet.roster()
      eq(r, nil, "a broken roster")
      check(tostring(err):find("must return a table"), "why: " .. tostring(err))
      """)
    try write(
      roster(
        agents: ["c", "d"], hosts: ", hosts = { [\"vm-b\"] = { ssh = \"fleet@vm-b\" } }"))
    lua(
      """
      local host = require "mosaic._host"
      local hosts = host.fleet_roster_hosts()
      eq(#hosts, 1, "one host")
      eq(hosts[1].name, "vm-b", "its name")
      eq(#fleet.roster().agents, 2, "both agents")
      """)
  }
}
