import Foundation
import XCTest

/// `mosaic heartbeat` through the binary: the wrapper form beats for its child and exits
/// with the child's status; the sidecar form beats for a pid and stops when it is gone;
/// bad input is a usage error.
final class HeartbeatCommandTests: XCTestCase {
  var home = ""

  override func setUpWithError() throws {
    home = NSTemporaryDirectory() + "mosaic-hbcmd-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: home) }

  func start(_ args: [String]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try XCTUnwrap(BinaryTestCase.binaryPath, "no binary"))
    p.arguments = args
    p.environment = [
      "HOME": home, "MOSAIC_HOME": home, "PATH": "/usr/bin:/bin", "XDG_STATE_HOME": home,
    ]
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = FileHandle.nullDevice
    p.standardError = Pipe()
    try p.run()
    return p
  }

  func heartbeatLine(_ agent: String) -> String? {
    try? String(contentsOfFile: "\(home)/fleet/run/\(agent).hb", encoding: .utf8)
  }

  func field(_ key: String, in line: String) -> String? {
    line.split(separator: " ").first { $0.hasPrefix(key + "=") }.map {
      String($0.dropFirst(key.count + 1)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }

  func testTheWrapperBeatsForItsChildAndExitsWithItsStatus() throws {
    let p = try start([
      "heartbeat", "wrapped", "--interval", "0.2", "--", "sh", "-c", "sleep 1; exit 3",
    ])
    var seen: Set<String> = []
    var childPid: String? = nil
    let deadline = Date().addingTimeInterval(5)
    while p.isRunning, Date() < deadline {
      if let line = heartbeatLine("wrapped") {
        seen.insert(field("seq", in: line) ?? "")
        childPid = field("pid", in: line)
      }
      Thread.sleep(forTimeInterval: 0.05)
    }
    p.waitUntilExit()
    XCTAssertEqual(p.terminationStatus, 3, "the wrapper exits with its child's status")
    XCTAssertGreaterThanOrEqual(seen.count, 3, "beats every 0.2 s while the child lives: \(seen)")
    let pid = try XCTUnwrap(childPid.flatMap { Int32($0) })
    XCTAssertNotEqual(
      pid, p.processIdentifier, "the heartbeat speaks for the child, not the wrapper")
    let attrs = try FileManager.default.attributesOfItem(atPath: "\(home)/fleet/run/wrapped.hb")
    XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
  }

  func testTheSidecarAnswersAProbeAndStopsWhenItsProcessIsGone() throws {
    let sleeper = Process()
    sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
    sleeper.arguments = ["30"]
    try sleeper.run()
    let side = try start([
      "heartbeat", "side", "--interval", "5", "--pid", String(sleeper.processIdentifier),
    ])
    defer { if side.isRunning { side.terminate() } }
    // A probe through the binary, answered within a second.
    let probe = try start(["-e", "io.stderr:write(tostring(fleet.probe('side', 2).side))"])
    probe.waitUntilExit()
    let answer = (probe.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile()
    XCTAssertEqual(answer.map { String(decoding: $0, as: UTF8.self) }, "true")
    XCTAssertEqual(
      heartbeatLine("side").flatMap { field("pid", in: $0) }, String(sleeper.processIdentifier))
    sleeper.terminate()
    sleeper.waitUntilExit()
    let deadline = Date().addingTimeInterval(3)
    while side.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    XCTAssertFalse(side.isRunning, "the sidecar must not outlive the process it speaks for")
    XCTAssertEqual(side.terminationStatus, 0)
  }

  func testBadInputIsAUsageError() throws {
    for args in [
      ["heartbeat", "bad.name"], ["heartbeat", "x", "--interval", "0"],
      ["heartbeat", "x", "--pid", "1", "--", "true"], ["heartbeat"],
    ] {
      let p = try start(args)
      p.waitUntilExit()
      XCTAssertEqual(p.terminationStatus, 64, "\(args)")
    }
  }
}
