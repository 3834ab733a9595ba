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

  /// A shared Codex daemon's event names no pane: its agent is the Codex whose program works
  /// in the event's `cwd` (the roster, one listing and /proc; no systemd, no screens, no
  /// second tmux call), and an event that two agents or none could own is refused.
  func testACodexEventFindsItsAgentByItsWorkingDirectory() throws {
    try FileManager.default.createDirectory(
      atPath: config + "/fleet", withIntermediateDirectories: true)
    // As the kernel reports a cwd (no doubled slash), which is what Codex sends.
    let base = URL(fileURLWithPath: home).standardizedFileURL.path
    let dirA = base + "/proj-a"
    let dirB = base + "/proj-b"
    for d in [dirA, dirB] {
      try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    }
    let roster = try write(
      "roster.lua",
      "return { socket = \"\(socket)\", agents = {"
        + " { name = \"xa\", runtime = \"codex\", match = \"^sleep\" },"
        + " { name = \"xb\", runtime = \"codex\", match = \"^sleep\" },"
        + " { name = \"xc\", runtime = \"codex\", match = \"^sleep\" },"
        + " { name = \"gone\", runtime = \"codex\" } } }\n", mode: 0o600)
    try FileManager.default.moveItem(atPath: roster, toPath: config + "/fleet/roster.lua")
    _ = try tmux(["new-session", "-d", "-s", "xa", "-c", dirA, "sleep", "300"])
    _ = try tmux(["new-session", "-d", "-s", "xb", "-c", dirB, "sleep", "300"])
    _ = try tmux(["new-session", "-d", "-s", "xc", "-c", dirB, "sleep", "301"])

    func event(cwd: String) throws -> (status: Int32, stderr: String) {
      let r = try run(
        ["hooks", "event", "codex"],
        stdin: Array(#"{"hook_event_name": "Stop", "cwd": "\#(cwd)"}"#.utf8))
      assertNoCrash(r, "hooks event codex \(cwd)")
      let log =
        (try? String(contentsOfFile: home + "/.local/state/mosaic/hooks.log", encoding: .utf8))
        ?? ""
      return (r.status, r.stderr + log)
    }
    func heartbeat(_ name: String) -> String? {
      try? String(contentsOfFile: config + "/fleet/run/\(name).hb", encoding: .utf8)
    }

    let a = try event(cwd: dirA)
    XCTAssertEqual(a.status, 0, a.stderr)
    XCTAssertTrue(heartbeat("xa")?.contains("hook=Stop") ?? false, "\(heartbeat("xa") ?? "nil")")
    XCTAssertNil(heartbeat("xb"))

    let b = try event(cwd: dirB)
    XCTAssertTrue(b.stderr.contains("two codex agents work in \(dirB)"), b.stderr)
    XCTAssertNil(heartbeat("xb"))
    XCTAssertNil(heartbeat("xc"))

    let none = try event(cwd: base + "/elsewhere")
    XCTAssertTrue(none.stderr.contains("no codex agent works in \(base)/elsewhere"), none.stderr)
    XCTAssertTrue(none.stderr.contains("xa in \(dirA), pane alive"), none.stderr)
    XCTAssertTrue(none.stderr.contains("gone in nil, pane absent"), none.stderr)

    // One process started in all, the tmux listing: no fleet ps, which would also ask the
    // user manager (here through a spawned systemctl) and look at screens.
    let count = try run(
      [
        "-e",
        "local name = assert(require('mosaic.hooks').attribute('codex', { cwd = '\(dirA)' }, {}))"
          + " io.write(name, ' ', require('mosaic._host').spawn_count())",
      ], env: ["MOSAIC_SYSTEMD_BUS": "off"])
    XCTAssertEqual(count.stdout, "xa 1", count.stderr)
  }
}
