import Foundation
import MosaicSupport
import XCTest

/// Issue 11's findings that need a real fleet (a real tmux server, a real `systemd --user`
/// manager): the colour of the UNIT cell, unrostered sessions with awkward names, and the
/// tenant of unrostered rows.
final class FleetHardeningTests: DogfoodTestCase {
  /// `mosaic fleet ps` on a pseudo-terminal (util-linux `script`), so it paints colours.
  func psOnATerminal(_ f: DogfoodFleet, roster: String) throws -> String {
    var env = ProcessInfo.processInfo.environment
    // Empty, not removed: the runner merges this process's environment, which may set it.
    env["NO_COLOR"] = ""
    env["MOSAIC_HOME"] = f.home
    env["TERM"] = "xterm"
    let command = "'\(Harness.mosaicBinary)' fleet ps --roster '\(roster)'"
    let r = try SpawnRunner().run(
      CommandRequest(
        ["script", "-qec", command, "/dev/null"], environment: env,
        timeout: 30))
    XCTAssertEqual(r.status, 0, r.stdoutText + r.stderrText)
    return r.stdoutText
  }

  func testTheUnitCellIsRedOnlyWhenTheUnitIsNotActive() throws {
    let f = try theFleet()
    let roster = f.home + "/colour-roster.lua"
    try """
    return { socket = "\(f.socket)", agents = {
      { name = "coder-1", runtime = "stub", unit = "\(f.unit("coder-1"))" },
      { name = "ghost", runtime = "stub", unit = "\(Harness.uniqueName("ghost")).service" },
    } }
    """.write(toFile: roster, atomically: true, encoding: .utf8)
    chmod(roster, 0o600)
    let text = try psOnATerminal(f, roster: roster)
    let lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
    let coder = try XCTUnwrap(lines.first { $0.hasPrefix("coder-1") }, text)
    let ghost = try XCTUnwrap(lines.first { $0.hasPrefix("ghost") }, text)
    let red = "\u{1b}[31m"
    XCTAssertTrue(coder.contains("active/"), coder)
    XCTAssertFalse(coder.contains(red + "active"), "an active unit is not red: \(coder)")
    XCTAssertTrue(
      ghost.contains(red + "inactive"), "an inactive unit is red: \(ghost.debugDescription)")
  }

  func testAnUnrosteredSessionNamedLikeAnOptionIsAddressable() throws {
    let f = try theFleet()
    try sh(["tmux", "-L", f.socket, "new-session", "-d", "-s", "-t", "cat"])
    defer { _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=-t"]) }
    let row = try f.row("-t")
    XCTAssertEqual(row["flags"]?.arrayValue, [.string("unrostered")])
    XCTAssertEqual(row["tenant_id"]?.stringValue, "default", "the roster's default tenant")
    let send = try f.mosaic.run(["agent", "send", "--", "-t", "hello from the other side"])
    XCTAssertEqual(send.status, 0, send.stderrText)
    var screen = ""
    for _ in 0..<40 {
      screen = try f.mosaic.run(["agent", "capture", "--", "-t"]).stdoutText
      if screen.contains("hello from the other side\nhello from the other side") { break }
      usleep(50_000)
    }
    // cat echoes the line back: typed (tty echo), then printed.
    XCTAssertTrue(screen.contains("hello from the other side\nhello from the other side"), screen)
  }

  /// SIGTERM at any moment of a large send: no tmux buffer is left behind, and the agent got
  /// either nothing or the whole text and Enter, never a draft without Enter.
  func testSIGTERMDuringASendLeavesNothingHalfDone() throws {
    let f = try theFleet()
    let log = f.home + "/bytelog"
    let fixture = Harness.repoRoot + "/Tests/IntegrationTests/Fixtures/send_bytelog.py"
    try sh(["tmux", "-L", f.socket, "new-session", "-d", "-s", "sigterm", "python3", fixture, log])
    defer {
      _ = try? SpawnRunner().run(["tmux", "-L", f.socket, "kill-session", "-t", "=sigterm"])
    }
    usleep(300_000)
    let text = String(repeating: "0123456789abcdef", count: 60_000)  // 960 KB, no newline
    let file = f.home + "/big.txt"
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    var outcomes: [String] = []
    // The window between the paste and Enter is a few ms wide somewhere after ~40 ms (the
    // roster and planes are read first): sweep across it.
    for delay in [0.0, 0.01, 0.02] + stride(from: 0.03, through: 0.12, by: 0.004).map({ $0 }) {
      try Data().write(to: URL(fileURLWithPath: log))
      let p = Process()
      p.executableURL = URL(fileURLWithPath: Harness.mosaicBinary)
      p.arguments = ["agent", "send", "sigterm", "--file", file]
      p.environment = ProcessInfo.processInfo.environment.merging(f.mosaic.environment) { $1 }
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      usleep(useconds_t(delay * 1_000_000))
      kill(p.processIdentifier, SIGTERM)
      p.waitUntilExit()
      usleep(400_000)
      let buffers = try SpawnRunner().run([
        "tmux", "-L", f.socket, "list-buffers", "-F", "#{buffer_name}",
      ])
      XCTAssertFalse(
        buffers.stdoutText.contains("mosaic-send-"), "delay \(delay): \(buffers.stdoutText)")
      let got = try Data(contentsOf: URL(fileURLWithPath: log))
      let complete = got == Data((text + "\r").utf8)
      XCTAssertTrue(
        got.isEmpty || complete, "delay \(delay): \(got.count) bytes, ends \(Array(got.suffix(2)))")
      outcomes.append(got.isEmpty ? "nothing" : complete ? "whole" : "HALF")
    }
    print("SIGTERM outcomes:", outcomes)
  }
}
