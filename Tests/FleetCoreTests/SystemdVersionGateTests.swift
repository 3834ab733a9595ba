import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// Answers each request with a closure of its argv, and records the argv.
final class ScriptedRunner: CommandRunner, @unchecked Sendable {
  private let lock = NSLock()
  private var recorded: [[String]] = []
  private let answer: @Sendable ([String]) -> CommandResult

  init(_ answer: @escaping @Sendable ([String]) -> CommandResult) { self.answer = answer }

  var argvs: [[String]] { lock.withLock { recorded } }

  func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
    lock.withLock { recorded.append(request.argv) }
    return answer(request.argv)
  }
}

/// The gate on `UnitFileIndex` (a port of systemd 252's rules): the manager's systemd version
/// read from its memory map, the decision, and the batched `is-enabled` fallback, without a
/// manager (the same paths against a real one are in SystemdUnitFileStateTests).
final class SystemdVersionGateTests: XCTestCase {
  func testTheVersionIsReadFromTheSharedLibraryInTheMaps() {
    func version(_ text: String) -> Int? {
      UserManagerProcess.systemdVersion(maps: Array(text.utf8))
    }
    let debian = """
      55d0c0a2e000-55d0c0a30000 r--p 00000000 fe:01 1234 /usr/lib/systemd/systemd
      7f1c2a000000-7f1c2a0a0000 r--p 00000000 fe:01 5678 /usr/lib/x86_64-linux-gnu/systemd/libsystemd-core-252.so
      7f1c2b000000-7f1c2b0a0000 r-xp 00000000 fe:01 5679 /usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so

      """
    XCTAssertEqual(version(debian), 252)
    XCTAssertEqual(
      version("7f r-xp 0 fe:01 1 /usr/lib64/systemd/libsystemd-shared-255.4-1.fc40.so\n"), 255)
    XCTAssertEqual(version("7f r-xp 0 fe:01 1 /usr/lib/systemd/libsystemd-shared-256.so\n"), 256)
    XCTAssertNil(version("7f r-xp 0 fe:01 1 /usr/lib/libsystemd.so.0\n"), "libsystemd is not it")
    XCTAssertNil(version("7f r-xp 0 fe:01 1 /usr/lib/systemd/libsystemd-shared-.so\n"))
    XCTAssertNil(version(""))
    XCTAssertNil(version("/libsystemd-shared-"))
    XCTAssertEqual(version("/libsystemd-shared-9"), 9)
    // No overflow on absurd digits: the value stops growing and is not a verified version.
    let huge = version("/libsystemd-shared-" + String(repeating: "9", count: 40) + ".so")
    XCTAssertNotNil(huge)
    XCTAssertFalse(SystemctlPlane.verifiedSystemdVersions.contains(huge ?? 0))
  }

  func testTheIndexAnswersOnlyOnVerifiedVersionsUnlessForced() {
    XCTAssertEqual(SystemctlPlane.verifiedSystemdVersions, [252])
    XCTAssertTrue(SystemctlPlane.usesIndex(.auto, systemdVersion: 252))
    XCTAssertFalse(SystemctlPlane.usesIndex(.auto, systemdVersion: 251))
    XCTAssertFalse(SystemctlPlane.usesIndex(.auto, systemdVersion: 257))
    XCTAssertFalse(SystemctlPlane.usesIndex(.auto, systemdVersion: nil), "unknown: ask systemd")
    XCTAssertTrue(SystemctlPlane.usesIndex(.index, systemdVersion: 257))
    XCTAssertTrue(SystemctlPlane.usesIndex(.index, systemdVersion: nil))
    XCTAssertFalse(SystemctlPlane.usesIndex(.systemctl, systemdVersion: 252))

    func plane(_ env: [String: String], _ options: SystemctlPlane.Options = .init())
      -> SystemctlPlane
    {
      var o = options
      o.environment = env
      return SystemctlPlane(runner: ScriptedRunner { _ in CommandResult(status: 0) }, options: o)
    }
    let key = SystemctlPlane.UnitFileStates.environmentKey
    XCTAssertEqual(key, "MOSAIC_SYSTEMD_UNIT_FILES")
    XCTAssertTrue(plane([:], .init(systemdVersion: 252)).usesIndex(runtimeDirectory: nil))
    XCTAssertFalse(plane([:], .init(systemdVersion: 253)).usesIndex(runtimeDirectory: nil))
    XCTAssertFalse(
      plane([key: "systemctl"], .init(systemdVersion: 252)).usesIndex(runtimeDirectory: nil))
    XCTAssertTrue(plane([key: "index"], .init(systemdVersion: 9)).usesIndex(runtimeDirectory: nil))
    XCTAssertTrue(plane([key: "auto"], .init(systemdVersion: 252)).usesIndex(runtimeDirectory: nil))
    XCTAssertTrue(
      plane([key: "bogus"], .init(systemdVersion: 252)).usesIndex(runtimeDirectory: nil),
      "an unknown value is auto")
    // The option wins over the environment.
    XCTAssertTrue(
      plane([key: "systemctl"], .init(unitFileStates: .index)).usesIndex(runtimeDirectory: nil))
    // No manager in this runtime directory: the version is unknown, so systemd is asked.
    let empty = NSTemporaryDirectory() + "mt-gate-\(UInt32.random(in: 0..<UInt32.max))"
    XCTAssertNil(UserManagerProcess.systemdVersion(runtimeDirectory: empty))
    XCTAssertFalse(plane([:]).usesIndex(runtimeDirectory: empty))
  }

  /// systemd 252's `is-enabled A B C` stops at the first name it cannot answer; the fallback
  /// asks again from the next name, so one missing unit does not hide the others.
  func testTheFallbackAsksEveryNameWhateverFails() throws {
    let known = [
      "a.service": "enabled", "b@x.service": "disabled", "d.service": "static",
      "e.service": "masked", "al.service": "alias", "tpl@.service": "disabled",
    ]
    let runner = ScriptedRunner { argv in
      if argv.contains("list-units") {
        return CommandResult(
          status: 0,
          stdout: Array(
            #"[{"unit":"a.service","load":"loaded","active":"active","sub":"running"},{"unit":"real.service","load":"loaded","active":"active","sub":"exited"}]"#
              .utf8))
      }
      if argv.contains("show") {
        return CommandResult(
          status: 0, stdout: Array("LoadState=loaded\nActiveState=active\nSubState=exited\n".utf8))
      }
      guard argv.contains("is-enabled"), let dash = argv.firstIndex(of: "--") else {
        return CommandResult(status: 1)
      }
      var out = ""
      for name in argv[(dash + 1)...] {
        guard let state = known[name] else {
          let why = name == "weird.service" ? "Invalid argument" : "No such file or directory"
          return CommandResult(
            status: 1, stdout: Array(out.utf8),
            stderr: Array("Failed to get unit file state for \(name): \(why)\n".utf8))
        }
        out += state + "\n"
      }
      return CommandResult(status: 0, stdout: Array(out.utf8))
    }
    let plane = SystemctlPlane(
      runner: runner,
      options: .init(environment: ["XDG_RUNTIME_DIR": "/nonexistent"], unitFileStates: .systemctl))
    let names = [
      "a.service", "ghost.service", "b@x.service", "weird.service", "d.service", "e.service",
      "al.service", "bad name", "tpl@.service",
    ]
    let r = try plane.status(of: names).get()
    XCTAssertEqual(
      r["a.service"],
      UnitStatus(
        unit: "a.service", load: "loaded", active: "active", sub: "running", enabled: "enabled"))
    XCTAssertEqual(r["ghost.service"]?.enabled, "not-found")
    XCTAssertEqual(r["ghost.service"]?.load, "not-found")
    XCTAssertEqual(r["ghost.service"]?.active, "inactive", "a unit that is not loaded is dead")
    XCTAssertEqual(r["b@x.service"]?.enabled, "disabled")
    XCTAssertEqual(r["b@x.service"]?.active, "inactive")
    XCTAssertEqual(r["b@x.service"]?.sub, "dead")
    XCTAssertNil(r["weird.service"]?.enabled, "an error is unknown, not a state")
    XCTAssertNil(r["weird.service"]?.active)
    XCTAssertEqual(r["d.service"]?.enabled, "static")
    XCTAssertEqual(r["e.service"]?.enabled, "masked")
    XCTAssertEqual(r["e.service"]?.load, "masked")
    XCTAssertEqual(r["al.service"]?.enabled, "alias")
    XCTAssertEqual(r["al.service"]?.active, "active", "an alias has the state of its unit")
    XCTAssertEqual(r["al.service"]?.sub, "exited")
    XCTAssertEqual(r["bad name"], UnitStatus(unit: "bad name"), "never asked, all unknown")
    XCTAssertEqual(
      r["tpl@.service"], UnitStatus(unit: "tpl@.service", enabled: "disabled"),
      "a template cannot be loaded: no active state")

    let argvs = runner.argvs
    let isEnabled = argvs.filter { $0.contains("is-enabled") }
    XCTAssertEqual(isEnabled.count, 3, "one call, then one after each failing name")
    XCTAssertEqual(
      isEnabled.map { Array($0[($0.firstIndex(of: "--")! + 1)...]) },
      [
        Array(names.prefix(7)) + ["tpl@.service"],
        ["b@x.service", "weird.service", "d.service", "e.service", "al.service", "tpl@.service"],
        ["d.service", "e.service", "al.service", "tpl@.service"],
      ])
    XCTAssertEqual(argvs.filter { $0.contains("show") }.count, 1, "one show, for the alias")
    XCTAssertEqual(argvs.last?.suffix(2), ["--", "al.service"])
    XCTAssertFalse(argvs.contains { $0.contains("list-unit-files") })
  }

  /// A manager that goes away in the middle: the loop ends, nothing is invented.
  func testTheFallbackStopsWhenSystemdStopsAnswering() throws {
    let runner = ScriptedRunner { argv in
      if argv.contains("list-units") { return CommandResult(status: 0, stdout: Array("[]".utf8)) }
      return CommandResult(status: 1, stderr: Array("Failed to connect to bus: gone\n".utf8))
    }
    let plane = SystemctlPlane(
      runner: runner,
      options: .init(environment: ["XDG_RUNTIME_DIR": "/nonexistent"], unitFileStates: .systemctl))
    let r = try plane.status(of: ["a.service", "b.service"]).get()
    XCTAssertNil(r["a.service"]?.enabled)
    XCTAssertNil(r["a.service"]?.active)
    XCTAssertEqual(runner.argvs.filter { $0.contains("is-enabled") }.count, 1)
  }
}
