import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// The systemd plane against a real `systemd --user` manager: every unit-file state systemd
/// distinguishes is produced with real `systemctl --user` commands, and the plane must print
/// exactly what `systemctl --user is-enabled` prints and report what `systemctl --user show`
/// reports, in a number of processes that does not grow with the number of units.
final class SystemdUnitFileStateTests: XCTestCase {
  var prefix = ""
  var config = ""
  var runtimeConfig = ""
  var dataHome = ""
  var outside = ""

  static let repoRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

  struct SetupFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
  }

  struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  @discardableResult
  func sh(_ argv: [String]) throws -> Output {
    let r = try SpawnRunner().run(CommandRequest(argv, timeout: 60))
    return Output(status: r.status, stdout: r.stdoutText, stderr: r.stderrText)
  }

  @discardableResult
  func systemctl(_ args: String...) throws -> Output {
    let out = try sh(["systemctl", "--user"] + args)
    XCTAssertEqual(out.status, 0, "systemctl --user \(args.joined(separator: " ")): \(out.stderr)")
    return out
  }

  func write(_ path: String, _ text: String) throws {
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }

  func link(_ path: String, to target: String) throws {
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
  }

  func unit(_ install: String, description: String = "mosaic test unit") -> String {
    """
    [Unit]
    Description=\(description)

    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/bin/true
    \(install.isEmpty ? "" : "\n[Install]\n" + install + "\n")
    """
  }

  override func setUpWithError() throws {
    let script = Self.repoRoot + "/scripts/user-manager.sh"
    let out = try sh(["bash", script])
    guard out.status == 0,
      let line = out.stdout.split(separator: "\n").first(where: {
        $0.hasPrefix("export XDG_RUNTIME_DIR=")
      })
    else {
      throw SetupFailure(
        message: "scripts/user-manager.sh could not start a user manager: \(out.stderr)")
    }
    let runtime = String(line.dropFirst("export XDG_RUNTIME_DIR=".count))
    setenv("XDG_RUNTIME_DIR", runtime, 1)

    prefix = "mt-" + String(format: "%06x", UInt32.random(in: 0...0xFF_FFFF))
    let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
    config =
      (ProcessInfo.processInfo.environment["XDG_CONFIG_HOME"] ?? home + "/.config")
      + "/systemd/user"
    dataHome =
      (ProcessInfo.processInfo.environment["XDG_DATA_HOME"] ?? home + "/.local/share")
      + "/systemd/user"
    runtimeConfig = runtime + "/systemd/user"
    outside = NSTemporaryDirectory() + prefix + "-linked"
  }

  override func tearDownWithError() throws {
    guard !prefix.isEmpty else { return }
    _ = try? sh(["systemctl", "--user", "stop", "--", "\(prefix)-*"])
    let fm = FileManager.default
    for dir in [config, runtimeConfig, dataHome] {
      for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
        if name.hasPrefix(prefix) { try? fm.removeItem(atPath: dir + "/" + name) }
        let sub = dir + "/" + name
        if name.hasSuffix(".wants") || name.hasSuffix(".requires") {
          for inner in (try? fm.contentsOfDirectory(atPath: sub)) ?? []
          where inner.hasPrefix(prefix) {
            try? fm.removeItem(atPath: sub + "/" + inner)
          }
          if (try? fm.contentsOfDirectory(atPath: sub))?.isEmpty == true {
            try? fm.removeItem(atPath: sub)
          }
        }
      }
    }
    try? fm.removeItem(atPath: outside)
    _ = try? sh(["systemctl", "--user", "daemon-reload"])
    _ = try? sh(["systemctl", "--user", "reset-failed"])
  }

  /// What systemd says about `unit`: is-enabled's line ("not-found" when it fails with ENOENT,
  /// nil on any other failure) and show's ActiveState/SubState (nil where show fails, as for a
  /// template, which cannot be loaded).
  func truth(_ unit: String) throws -> (enabled: String?, active: String?, sub: String?) {
    let e = try sh(["systemctl", "--user", "is-enabled", "--", unit])
    var enabled: String? = e.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    if enabled == "" {
      enabled = e.stderr.contains("No such file or directory") ? "not-found" : nil
    }
    let s = try sh(["systemctl", "--user", "show", "-p", "ActiveState,SubState", "--", unit])
    var props: [String: String] = [:]
    for line in s.stdout.split(separator: "\n") {
      let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
      if kv.count == 2 { props[kv[0]] = kv[1] }
    }
    guard s.status == 0 else { return (enabled, nil, nil) }
    return (enabled, props["ActiveState"] ?? "?", props["SubState"] ?? "?")
  }

  func testEveryUnitFileStateEqualsIsEnabled() throws {
    let p = prefix
    // Templates shaped like the fleet's mosaic-agent@.service.
    try write("\(config)/\(p)-agent@.service", unit("WantedBy=default.target"))
    try write(
      "\(config)/\(p)-dflt@.service", unit("WantedBy=default.target\nDefaultInstance=main"))
    try write("\(config)/\(p)-static@.service", unit(""))
    try write("\(config)/\(p)-also@.service", unit("Also=\(p)-plain.service"))
    try write("\(runtimeConfig)/\(p)-rt@.service", unit("WantedBy=default.target"))
    try write("\(config)/\(p)-dropin@.service", unit(""))
    try write(
      "\(config)/\(p)-dropin@.service.d/install.conf", "[Install]\nWantedBy=default.target\n")
    try write("\(outside)/\(p)-linked@.service", unit("WantedBy=default.target"))
    // Plain units.
    try write(
      "\(config)/\(p)-plain.service", unit("WantedBy=default.target\nAlias=\(p)-alias.service"))
    try write("\(config)/\(p)-off.service", unit("WantedBy=default.target"))
    try write("\(config)/\(p)-static.service", unit(""))
    try write("\(config)/\(p)-rtplain.service", unit("WantedBy=default.target"))
    try write("\(outside)/\(p)-linked.service", unit("WantedBy=default.target"))
    // An instance enabled by a vendor-style link (not in a config or runtime directory).
    try link(
      "\(dataHome)/default.target.wants/\(p)-agent@vendor.service",
      to: "\(config)/\(p)-agent@.service")
    try systemctl("daemon-reload")

    try systemctl("enable", "\(p)-agent@on.service")
    try systemctl("enable", "--runtime", "\(p)-agent@rt.service")
    try systemctl("mask", "\(p)-agent@masked.service")
    try systemctl("enable", "\(p)-dflt@.service")
    try systemctl("enable", "--runtime", "\(p)-rt@one.service")
    try systemctl("enable", "\(p)-plain.service")
    try systemctl("enable", "--runtime", "\(p)-rtplain.service")
    try systemctl("link", "\(outside)/\(p)-linked.service")
    try systemctl("link", "\(outside)/\(p)-linked@.service")
    try systemctl("mask", "\(p)-masked.service")
    try systemctl("mask", "--runtime", "\(p)-maskrt.service")
    try systemctl("daemon-reload")
    try systemctl(
      "start", "\(p)-agent@on.service", "\(p)-agent@off.service", "\(p)-plain.service",
      "\(p)-rt@one.service")

    let units = [
      "\(p)-agent@on.service", "\(p)-agent@off.service", "\(p)-agent@rt.service",
      "\(p)-agent@masked.service", "\(p)-agent@vendor.service", "\(p)-agent@.service",
      "\(p)-dflt@main.service", "\(p)-dflt@other.service", "\(p)-dflt@.service",
      "\(p)-static@x.service", "\(p)-also@x.service", "\(p)-rt@one.service",
      "\(p)-rt@two.service", "\(p)-dropin@x.service", "\(p)-linked@x.service",
      "\(p)-linked@.service", "\(p)-plain.service", "\(p)-alias.service", "\(p)-off.service",
      "\(p)-static.service", "\(p)-rtplain.service", "\(p)-linked.service",
      "\(p)-masked.service", "\(p)-maskrt.service", "\(p)-ghost.service",
      "\(p)-ghost@x.service",
    ]
    // Two queries: with the drop-in instance, whose state the index leaves to systemd (one
    // batched is-enabled call), and without it (one list-unit-files call for the units that
    // have files of their own).
    let plane = SystemctlPlane(runner: SpawnRunner())
    var before = SpawnRunner.spawnCount
    let statuses = try plane.status(of: units).get()
    let spawns = SpawnRunner.spawnCount - before
    let withoutFallback = units.filter { !$0.contains("-dropin@") }
    before = SpawnRunner.spawnCount
    let statuses2 = try plane.status(of: withoutFallback).get()
    let spawns2 = SpawnRunner.spawnCount - before
    XCTAssertLessThanOrEqual(spawns, 2, "a query takes at most two systemctl processes")
    XCTAssertLessThanOrEqual(spawns2, 2, "a query takes at most two systemctl processes")
    // The index answered: this manager runs a verified systemd (the gate is checked in
    // testTheGateReadsTheManagersVersion).
    XCTAssertTrue(plane.usesIndex(runtimeDirectory: runtimeDirectory), "the index was not used")

    // The fallback for other systemd versions, forced by the operator setting: every state
    // from batched is-enabled calls (one more after each name systemd cannot answer: the two
    // ghosts) and one show for the alias.
    let runtime = try XCTUnwrap(runtimeDirectory)
    let fallback = SystemctlPlane(
      runner: SpawnRunner(),
      options: .init(environment: [
        "XDG_RUNTIME_DIR": runtime, SystemctlPlane.UnitFileStates.environmentKey: "systemctl",
      ]))
    XCTAssertFalse(fallback.usesIndex(runtimeDirectory: runtime))
    before = SpawnRunner.spawnCount
    let statuses3 = try fallback.status(of: units).get()
    let spawns3 = SpawnRunner.spawnCount - before
    XCTAssertLessThanOrEqual(spawns3, 1 + 3 + 1, "list-units, is-enabled after each ghost, show")

    var seen = Set<String>()
    for name in units {
      let t = try truth(name)
      for (label, result) in [
        ("is-enabled path", statuses), ("list-unit-files path", statuses2),
        ("fallback", statuses3),
      ] {
        guard label != "list-unit-files path" || withoutFallback.contains(name) else { continue }
        let s = try XCTUnwrap(result[name], name)
        XCTAssertEqual(s.enabled, t.enabled, "\(name) (\(label)): enabled")
        XCTAssertEqual(s.active, t.active, "\(name) (\(label)): active")
        XCTAssertEqual(s.sub, t.sub, "\(name) (\(label)): sub")
      }
      let s = try XCTUnwrap(statuses[name], name)
      print(
        "VERIFIED \(name.replacingOccurrences(of: p, with: "<p>")): plane=\(s.enabled ?? "nil") "
          + "is-enabled=\(t.enabled ?? "nil") active/sub=\(s.active ?? "nil")/\(s.sub ?? "nil")")
      if let e = t.enabled { seen.insert(e) }
    }
    print(
      "VERIFIED \(units.count) units in \(spawns) systemctl processes "
        + "(\(withoutFallback.count) without the drop-in unit: \(spawns2); "
        + "the is-enabled fallback: \(spawns3))")
    for state in [
      "enabled", "enabled-runtime", "disabled", "static", "masked", "masked-runtime", "linked",
      "alias", "indirect", "not-found",
    ] {
      XCTAssertTrue(seen.contains(state), "no unit reached \(state)")
    }
  }

  var runtimeDirectory: String? { ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] }

  /// The manager's version as the gate reads it (its memory map) is the one
  /// `systemctl --user --version` prints, and the gate's decision follows it.
  func testTheGateReadsTheManagersVersion() throws {
    let runtime = try XCTUnwrap(runtimeDirectory)
    let out = try sh(["systemctl", "--user", "--version"])
    XCTAssertEqual(out.status, 0, out.stderr)
    let first = out.stdout.split(separator: "\n").first.map(String.init) ?? ""
    let printed = first.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    let read = UserManagerProcess.systemdVersion(runtimeDirectory: runtime)
    XCTAssertNotNil(printed, first)
    XCTAssertEqual(read, printed, "maps vs systemctl --version (\(first))")
    let auto = SystemctlPlane(runner: SpawnRunner())
    XCTAssertEqual(
      auto.usesIndex(runtimeDirectory: runtime),
      SystemctlPlane.verifiedSystemdVersions.contains(printed ?? -1))
    // Read again: the cached answer.
    XCTAssertEqual(UserManagerProcess.systemdVersion(runtimeDirectory: runtime), read)
    print("VERIFIED the user manager runs systemd \(read.map(String.init) ?? "?"): \(first)")
    // What the gate costs in this process: the first read (connect, /proc/<pid>/maps) and
    // later ones (connect, the cached answer), beside the spawn it replaces.
    let pid = try XCTUnwrap(
      ProcPlane.listenerPID(socketPath: runtime + "/systemd/private"))
    func best(_ body: () throws -> Void) rethrows -> Double {
      var b = Double.infinity
      for _ in 0..<20 {
        let t = Clock.monotonic()
        try body()
        b = min(b, Clock.monotonic() - t)
      }
      return b * 1e6
    }
    let uncached = try best {
      let maps = try UserManagerProcess.readProcFile("/proc/\(pid)/maps").get()
      XCTAssertEqual(UserManagerProcess.systemdVersion(maps: maps), read)
    }
    let cached = best { _ = UserManagerProcess.systemdVersion(runtimeDirectory: runtime) }
    let spawn = try best { _ = try sh(["systemctl", "--user", "--version"]) }
    print(
      String(
        format: "TIMING systemd version: maps read %.0f us, cached %.0f us, "
          + "systemctl --user --version %.0f us (best of 20)", uncached, cached, spawn))
  }

  /// The fallback at fleet scale: the same answers as is-enabled, in two processes when no
  /// name fails (list-units and one is-enabled for all).
  func testTheFallbackAtScaleEqualsIsEnabled() throws {
    let p = prefix
    try write("\(config)/\(p)-agent@.service", unit("WantedBy=default.target"))
    try systemctl("daemon-reload")
    let all = (0..<60).map { String(format: "\(p)-agent@n%03d.service", $0) }
    try systemctl(["enable"] + all.prefix(30).map { $0 })
    try systemctl(["start"] + all.prefix(10).map { $0 })
    let plane = SystemctlPlane(runner: SpawnRunner(), options: .init(unitFileStates: .systemctl))
    let before = SpawnRunner.spawnCount
    let got = try plane.status(of: all).get()
    XCTAssertEqual(SpawnRunner.spawnCount - before, 2)
    let reference = try sh(["systemctl", "--user", "is-enabled", "--"] + all)
    let lines = reference.stdout.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, all.count)
    for (name, line) in zip(all, lines) { XCTAssertEqual(got[name]?.enabled, line, name) }
    XCTAssertEqual(lines.filter { $0 == "enabled" }.count, 30)
    for (i, name) in all.enumerated() {
      XCTAssertEqual(got[name]?.active, i < 10 ? "active" : "inactive", name)
      XCTAssertEqual(got[name]?.sub, i < 10 ? "exited" : "dead", name)
    }
  }

  /// The in-process D-Bus query (`SystemdBus`, sd-bus on the manager's private socket) lists
  /// exactly what `systemctl --user list-units --all` lists for the same patterns, and the
  /// plane with the bus spawns nothing for units whose boot state the index knows; with no
  /// manager on the socket it says why, and the plane falls back to systemctl.
  func testTheBusAnswersAsListUnits() throws {
    let runtime = try XCTUnwrap(runtimeDirectory)
    let p = prefix
    try write("\(config)/\(p)-agent@.service", unit("WantedBy=default.target"))
    try write("\(config)/\(p)-solo.service", unit(""))
    try systemctl("daemon-reload")
    let all = (0..<40).map { String(format: "\(p)-agent@n%03d.service", $0) }
    try systemctl(["enable"] + all.prefix(20).map { $0 })
    try systemctl(["start"] + all.prefix(10).map { $0 } + ["\(p)-solo.service"])
    try systemctl(["stop", all[3]])
    let patterns = ["\(p)-agent@*.service", "\(p)-solo.service", "\(p)-missing.service"]

    let socket = SystemdBus.privateSocket(runtimeDirectory: runtime)
    let before = SpawnRunner.spawnCount
    let bus = try SystemdBus.listUnits(socket: socket, patterns: patterns, timeout: 10).get()
    XCTAssertEqual(SpawnRunner.spawnCount, before, "the bus query starts no process")
    let listed = try sh(
      ["systemctl", "--user", "--all", "--no-pager", "--output=json", "list-units", "--"]
        + patterns)
    XCTAssertEqual(listed.status, 0, listed.stderr)
    let reference = try SystemctlPlane.parseListUnits(Array(listed.stdout.utf8)).get()
    XCTAssertEqual(bus, reference)
    XCTAssertEqual(
      bus.count, 21, "the twenty enabled instances (loaded: default.target wants them), solo")
    XCTAssertEqual(bus[all[0]]?.active, "active")
    XCTAssertEqual(bus[all[0]]?.sub, "exited")
    XCTAssertEqual(bus[all[3]]?.active, "inactive")
    XCTAssertEqual(bus["\(p)-solo.service"]?.load, "loaded")

    // The plane: the same rows with the bus as without it, and no spawn with it.
    let names = all + ["\(p)-solo.service", "\(p)-missing.service"]
    let withBus = SystemctlPlane(
      runner: SpawnRunner(), options: .init(unitFileStates: .index, bus: true))
    let without = SystemctlPlane(runner: SpawnRunner(), options: .init(unitFileStates: .index))
    var start = SpawnRunner.spawnCount
    let a = try withBus.status(of: names).get()
    let busSpawns = SpawnRunner.spawnCount - start
    start = SpawnRunner.spawnCount
    let b = try without.status(of: names).get()
    XCTAssertEqual(a, b)
    XCTAssertEqual(
      busSpawns, SpawnRunner.spawnCount - start - 1, "list-units is the one spawn saved")
    XCTAssertEqual(a[all[5]]?.enabled, "enabled")
    XCTAssertEqual(a[all[25]]?.enabled, "disabled", "an instance not enabled")

    // No manager on the socket: a reason, and the plane asks systemctl instead.
    let nowhere = NSTemporaryDirectory() + p + "-no-manager"
    switch SystemdBus.listUnits(
      socket: nowhere + "/systemd/private", patterns: patterns, timeout: 5)
    {
    case .success: XCTFail("a socket with no manager answered")
    case .failure(let failure):
      XCTAssertLessThan(failure.code, 0)
      XCTAssertTrue(failure.message.contains("systemd/private"), failure.message)
    }
    let fallback = SystemctlPlane(
      runner: SpawnRunner(),
      options: .init(
        environment: ["XDG_RUNTIME_DIR": nowhere], unitFileStates: .systemctl, bus: true))
    start = SpawnRunner.spawnCount
    _ = fallback.status(of: names)  // systemctl finds no manager there either: it only must try
    XCTAssertGreaterThan(SpawnRunner.spawnCount, start, "the fallback spawned systemctl")
  }

  func testSpawnsDoNotGrowWithUnits() throws {
    let p = prefix
    try write("\(config)/\(p)-agent@.service", unit("WantedBy=default.target"))
    try systemctl("daemon-reload")
    let all = (0..<200).map { String(format: "\(p)-agent@n%03d.service", $0) }
    try systemctl(["enable"] + all.prefix(100).map { $0 })
    try systemctl(["start"] + all.prefix(20).map { $0 })

    let plane = SystemctlPlane(runner: SpawnRunner())
    var before = SpawnRunner.spawnCount
    let five = try plane.status(of: Array(all.prefix(5))).get()
    let spawnsFive = SpawnRunner.spawnCount - before
    before = SpawnRunner.spawnCount
    let t0 = Clock.monotonic()
    let two = try plane.status(of: all).get()
    var best = Clock.monotonic() - t0
    let spawnsTwoHundred = SpawnRunner.spawnCount - before
    for _ in 0..<2 {
      let t = Clock.monotonic()
      _ = try plane.status(of: all).get()
      best = min(best, Clock.monotonic() - t)
    }
    XCTAssertEqual(spawnsFive, spawnsTwoHundred)
    XCTAssertLessThanOrEqual(spawnsTwoHundred, 2)
    XCTAssertEqual(five.count, 5)
    XCTAssertEqual(two.count, 200)

    var isEnabledBest = Double.infinity
    var reference = Output(status: 0, stdout: "", stderr: "")
    for _ in 0..<3 {
      let t = Clock.monotonic()
      reference = try sh(["systemctl", "--user", "is-enabled", "--"] + all)
      isEnabledBest = min(isEnabledBest, Clock.monotonic() - t)
    }
    let lines = reference.stdout.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, 200)
    for (name, line) in zip(all, lines) { XCTAssertEqual(two[name]?.enabled, line, name) }
    let running = all.prefix(20).allSatisfy { two[$0]?.active == "active" }
    XCTAssertTrue(running)
    print(
      "TIMING 200 units: status(of:) \(String(format: "%.1f", best * 1000)) ms in "
        + "\(spawnsTwoHundred) process(es) (5 units: \(spawnsFive)); systemctl --user is-enabled "
        + "of the same 200: \(String(format: "%.1f", isEnabledBest * 1000)) ms")
  }

  @discardableResult
  func systemctl(_ args: [String]) throws -> Output {
    let out = try sh(["systemctl", "--user"] + args)
    XCTAssertEqual(out.status, 0, "systemctl --user \(args.prefix(3)): \(out.stderr)")
    return out
  }
}
