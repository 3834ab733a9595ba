import Foundation
import MosaicSupport
import XCTest

/// `mosaic hooks event claude` finds its agent from `$TMUX_PANE` by the resolver's rule
/// (the roster and one tmux listing, nothing else), on a real tmux server of its own.
final class HooksAttributionTests: BinaryTestCase {
  let socket = "mt-hooks-\(UUID().uuidString.prefix(8).lowercased())"

  func tmux(_ args: [String]) throws -> String {
    let r = try SpawnRunner().run(
      CommandRequest(["tmux", "-u", "-L", socket, "-f", "/dev/null"] + args, timeout: 10))
    XCTAssertEqual(r.status, 0, "tmux \(args): \(r.stderrText)")
    return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  override func tearDown() {
    _ = try? SpawnRunner().run(CommandRequest(["tmux", "-L", socket, "kill-server"], timeout: 10))
    let tmp = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
    try? FileManager.default.removeItem(atPath: "\(tmp)/tmux-\(getuid())/\(socket)")
    super.tearDown()
  }

  func event(pane: String) throws -> (line: String?, log: String) {
    let r = try run(
      ["hooks", "event", "claude"], stdin: Array(#"{"hook_event_name": "Stop"}"#.utf8),
      env: ["TMUX_PANE": pane])
    assertNoCrash(r, "hooks event \(pane)")
    XCTAssertEqual(r.status, 0, r.stderr)
    let hb = try? String(contentsOfFile: config + "/fleet/run/h1.hb", encoding: .utf8)
    let log = try? String(contentsOfFile: home + "/.local/state/mosaic/hooks.log", encoding: .utf8)
    return (hb, log ?? "")
  }

  func testAHookEventFindsItsAgentByItsPane() throws {
    try FileManager.default.createDirectory(
      atPath: config + "/fleet", withIntermediateDirectories: true)
    let roster = try write(
      "roster.lua",
      "return { socket = \"\(socket)\", agents = {"
        + " { name = \"h1\", runtime = \"claude\", session = \"s-h1\" } } }\n", mode: 0o600)
    try FileManager.default.moveItem(atPath: roster, toPath: config + "/fleet/roster.lua")
    _ = try tmux(["new-session", "-d", "-s", "s-h1", "sleep", "300"])
    _ = try tmux(["split-window", "-d", "-t", "=s-h1:", "sleep", "300"])
    let agentPane = try tmux(["display-message", "-p", "-t", "=s-h1:0.0", "#{pane_id}"])
    let otherPane = try tmux(["display-message", "-p", "-t", "=s-h1:0.1", "#{pane_id}"])

    // A pane that is not the agent's pane (the second of its session) is nobody's.
    let other = try event(pane: otherPane)
    XCTAssertNil(other.line)
    XCTAssertTrue(other.log.contains("no agent's pane is \(otherPane)"), other.log)

    // The agent pane: the roster agent whose session it is, by its roster name.
    let hit = try event(pane: agentPane)
    XCTAssertTrue(hit.line?.contains("status=ok") ?? false, "\(hit.line ?? "nil") \(hit.log)")
  }
}
