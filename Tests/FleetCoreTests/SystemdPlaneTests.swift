import Foundation
import MosaicSupport
import XCTest

@testable import FleetCore

/// Records every request and answers from a script keyed by the systemctl verb.
final class SystemdRecordingRunner: CommandRunner, @unchecked Sendable {
  private let lock = NSLock()
  private var recorded: [CommandRequest] = []
  private let answers: [String: CommandResult]
  private let spawnFails: Bool

  /// `spawnFails`: every request fails to start, as a missing systemctl would.
  init(_ answers: [String: CommandResult] = [:], spawnFails: Bool = false) {
    self.answers = answers
    self.spawnFails = spawnFails
  }

  var requests: [CommandRequest] { lock.withLock { recorded } }

  func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
    lock.withLock { recorded.append(request) }
    if spawnFails {
      return try SpawnRunner().run(CommandRequest(["/nonexistent/mt-systemctl"]))
    }
    let verb = request.argv.first { ["list-units", "list-unit-files", "is-enabled"].contains($0) }
    return answers[verb ?? ""] ?? CommandResult(status: 0, stdout: Array("[]".utf8))
  }
}

/// A private unit search path under a temporary home, so the in-process resolver's input is
/// known. The fixed system directories (/etc/systemd/user, /usr/lib/systemd/user) stay in the
/// path; the unit names carry a random prefix, so nothing there matches them.
final class SystemdFixture {
  let root: String
  let prefix: String
  let environment: [String: String]

  init() throws {
    let base = FileManager.default.temporaryDirectory.path
    root = "\(base)/mt-systemd-\(UUID().uuidString.prefix(8))"
    prefix = "mt-\(String(UInt32.random(in: 0...0xFF_FFFF), radix: 16))"
    environment = [
      "HOME": "\(root)/home", "XDG_RUNTIME_DIR": "\(root)/run", "XDG_CONFIG_DIRS": "\(root)/xdg",
      "XDG_DATA_DIRS": "\(root)/share",
    ]
    try FileManager.default.createDirectory(
      atPath: config, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      atPath: runtimeConfig, withIntermediateDirectories: true)
  }

  var config: String { "\(root)/home/.config/systemd/user" }
  var runtimeConfig: String { "\(root)/run/systemd/user" }

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

  func plane(_ runner: SystemdRecordingRunner, environment: [String: String]? = nil)
    -> SystemctlPlane
  {
    SystemctlPlane(
      runner: runner,
      options: .init(
        environment: environment ?? ["XDG_RUNTIME_DIR": "\(root)/run"],
        runUserRoot: "\(root)/run-user", managerEnvironment: self.environment,
        lingerDirectory: "\(root)/linger", userName: "fleetop", unitFileStates: .index))
  }

  deinit { try? FileManager.default.removeItem(atPath: root) }
}

let agentTemplate = """
  [Unit]
  Description=test agent %i

  [Service]
  Type=oneshot
  RemainAfterExit=yes
  ExecStart=/bin/true

  [Install]
  WantedBy=default.target
  """

final class SystemdPlaneTests: XCTestCase {
  // Captured from `systemctl --user --all --no-pager --output=json list-units` (systemd 252).
  static let capturedListUnits = """
    [{"unit":"dbus.service","load":"loaded","active":"inactive","sub":"dead",\
    "description":"D-Bus User Message Bus"},{"unit":"dbus.socket","load":"loaded",\
    "active":"active","sub":"listening","description":"D-Bus User Message Bus Socket"},\
    {"unit":"mt-exp1-real.service","load":"loaded","active":"active","sub":"exited",\
    "description":"real"}]
    """

  func ok(_ text: String, status: Int32 = 0, stderr: String = "") -> CommandResult {
    CommandResult(status: status, stdout: Array(text.utf8), stderr: Array(stderr.utf8))
  }

  // MARK: - argv and the one-call path

  func testInstancesTakeOneListUnitsCallWithExactArgv() throws {
    let f = try SystemdFixture()
    let p = f.prefix
    try f.write("\(f.config)/\(p)-agent@.service", agentTemplate)
    try f.link(
      "\(f.config)/default.target.wants/\(p)-agent@a.service",
      to: "\(f.config)/\(p)-agent@.service")
    let rows = """
      [{"unit":"\(p)-agent@a.service","load":"loaded","active":"active","sub":"exited",\
      "description":"test agent a"}]
      """
    let runner = SystemdRecordingRunner(["list-units": ok(rows)])
    let result = try f.plane(runner).status(of: ["\(p)-agent@a.service", "\(p)-agent@b.service"])
      .get()

    XCTAssertEqual(runner.requests.count, 1)
    let request = try XCTUnwrap(runner.requests.first)
    XCTAssertEqual(
      request.argv,
      [
        "systemctl", "--user", "--all", "--no-pager", "--output=json", "list-units", "--",
        "\(p)-agent@a.service", "\(p)-agent@b.service",
      ])
    XCTAssertEqual(request.environment, [:])
    XCTAssertNotNil(request.timeout)

    XCTAssertEqual(
      result["\(p)-agent@a.service"],
      UnitStatus(
        unit: "\(p)-agent@a.service", load: "loaded", active: "active", sub: "exited",
        enabled: "enabled"))
    // Not loaded: inactive/dead, load state unknown (systemd would load it on demand).
    XCTAssertEqual(
      result["\(p)-agent@b.service"],
      UnitStatus(
        unit: "\(p)-agent@b.service", load: nil, active: "inactive", sub: "dead",
        enabled: "disabled"))
  }

  func testEmptyQuerySpawnsNothing() throws {
    let runner = SystemdRecordingRunner()
    let f = try SystemdFixture()
    XCTAssertEqual(try f.plane(runner).status(of: []).get(), [:])
    XCTAssertTrue(runner.requests.isEmpty)
  }

  func testManyInstancesUseOneGlobPerTemplate() throws {
    let f = try SystemdFixture()
    let names = (0..<200).map { "\(f.prefix)-agent@n\($0).service" }
    let runner = SystemdRecordingRunner()
    _ = try f.plane(runner).status(of: names + ["\(f.prefix)-other.service"]).get()
    XCTAssertEqual(runner.requests.count, 1)
    XCTAssertEqual(
      runner.requests[0].argv.suffix(3),
      ["--", "\(f.prefix)-agent@*.service", "\(f.prefix)-other.service"])
  }

  func testUnitWithoutFileIsNotFound() throws {
    let f = try SystemdFixture()
    let runner = SystemdRecordingRunner()
    let name = "\(f.prefix)-ghost.service"
    let status = try f.plane(runner).status(of: [name, "\(f.prefix)-ghost@x.service"]).get()
    XCTAssertEqual(
      status[name],
      UnitStatus(
        unit: name, load: "not-found", active: "inactive", sub: "dead", enabled: "not-found"))
    XCTAssertEqual(status["\(f.prefix)-ghost@x.service"]?.enabled, "not-found")
    XCTAssertEqual(runner.requests.count, 1)
  }

  // MARK: - the second call

  func testUnitFilesOfTheirOwnGoToListUnitFiles() throws {
    let f = try SystemdFixture()
    let name = "\(f.prefix)-plain.service"
    try f.write("\(f.config)/\(name)", agentTemplate)
    let files = """
      [{"unit_file":"\(name)","state":"enabled","preset":"enabled"}]
      """
    // list-unit-files exits 1 when nothing matches; a match exits 0.
    let runner = SystemdRecordingRunner(["list-unit-files": ok(files)])
    let status = try f.plane(runner).status(of: [name, "\(f.prefix)-a@x.service"]).get()
    XCTAssertEqual(runner.requests.count, 2)
    XCTAssertEqual(
      runner.requests[1].argv,
      ["systemctl", "--user", "--no-pager", "--output=json", "list-unit-files", "--", name])
    XCTAssertEqual(status[name]?.enabled, "enabled")
  }

  func testUndecidableNamesGoToOneIsEnabledCall() throws {
    let f = try SystemdFixture()
    let p = f.prefix
    try f.write("\(f.config)/\(p)-agent@.service", agentTemplate)
    // A drop-in directory could change [Install]: the index leaves that instance to systemd.
    try f.write("\(f.config)/\(p)-agent@.service.d/extra.conf", "[Install]\nWantedBy=\n")
    try f.write("\(f.config)/\(p)-plain.service", agentTemplate)
    let runner = SystemdRecordingRunner([
      "is-enabled": ok(
        "alias\n", status: 0,
        stderr:
          "Failed to get unit file state for \(p)-agent@x.service: No such file or directory\n"
      )
    ])
    let status = try f.plane(runner).status(of: ["\(p)-agent@x.service", "\(p)-plain.service"])
      .get()
    XCTAssertEqual(runner.requests.count, 2)
    XCTAssertEqual(
      runner.requests[1].argv,
      [
        "systemctl", "--user", "--no-pager", "is-enabled", "--", "\(p)-plain.service",
        "\(p)-agent@x.service",
      ])
    XCTAssertEqual(status["\(p)-plain.service"]?.enabled, "alias")
    XCTAssertEqual(status["\(p)-agent@x.service"]?.enabled, "not-found")
  }

  func testIsEnabledStopsAtTheFirstFailure() {
    let result = CommandResult(
      status: 1, stdout: Array("enabled\n".utf8),
      stderr: Array("Failed to get unit file state for b.service: Invalid argument\n".utf8))
    let parsed = SystemctlPlane.parseIsEnabled(
      result, names: ["a.service", "b.service", "c.service"])
    XCTAssertEqual(parsed, ["a.service": .state("enabled"), "b.service": .error])
  }

  // MARK: - failures

  func testBusFailureIsUnreachable() throws {
    let f = try SystemdFixture()
    let runner = SystemdRecordingRunner([
      "list-units": ok("", status: 1, stderr: "Failed to connect to bus: No medium found\n")
    ])
    let result = f.plane(runner).status(of: ["a.service"])
    XCTAssertEqual(
      result.error,
      SystemdError("user manager unreachable: Failed to connect to bus: No medium found"))
  }

  func testSpawnFailureAndTimeoutAreUnreachable() throws {
    let f = try SystemdFixture()
    let failing = SystemdRecordingRunner(spawnFails: true)
    XCTAssertEqual(
      f.plane(failing).status(of: ["a.service"]).error?.message,
      "user manager unreachable: cannot run /nonexistent/mt-systemctl: No such file or directory")
    let slow = SystemdRecordingRunner([
      "list-units": CommandResult(status: 137, signal: 9, timedOut: true)
    ])
    XCTAssertEqual(
      f.plane(slow).status(of: ["a.service"]).error?.message,
      "user manager unreachable: systemctl --user did not answer in time")
  }

  func testGarbageOutputIsAnError() throws {
    let f = try SystemdFixture()
    let runner = SystemdRecordingRunner(["list-units": ok("UNIT LOAD ACTIVE\n")])
    XCTAssertTrue(
      f.plane(runner).status(of: ["a.service"]).error?.message.hasPrefix(
        "systemctl --user list-units: unreadable output") == true)
  }

  // MARK: - environment

  func testRuntimeDirectoryIsPassedWhenUnset() throws {
    let f = try SystemdFixture()
    let uidDir = "\(f.root)/run-user/\(geteuid())"
    try FileManager.default.createDirectory(atPath: uidDir, withIntermediateDirectories: true)
    let runner = SystemdRecordingRunner()
    _ = f.plane(runner, environment: ["HOME": "/root"]).status(of: ["a.service"])
    XCTAssertEqual(runner.requests.first?.environment, ["XDG_RUNTIME_DIR": uidDir])

    let set = SystemdRecordingRunner()
    _ = f.plane(set, environment: ["XDG_RUNTIME_DIR": "/elsewhere"]).status(of: ["a.service"])
    XCTAssertEqual(set.requests.first?.environment, [:])
  }

  func testNoRuntimeDirectoryPassesNothing() throws {
    let f = try SystemdFixture()
    let runner = SystemdRecordingRunner()
    _ = f.plane(runner, environment: [:]).status(of: ["a.service"])
    XCTAssertEqual(runner.requests.first?.environment, [:])
  }

  func testLingerIsAFileRead() throws {
    let f = try SystemdFixture()
    let runner = SystemdRecordingRunner()
    XCTAssertEqual(f.plane(runner).lingerEnabled(), false)
    try f.write("\(f.root)/linger/fleetop", "")
    XCTAssertEqual(f.plane(runner).lingerEnabled(), true)
    XCTAssertTrue(runner.requests.isEmpty)
  }

  // MARK: - parsing

  func testParsesCapturedListUnits() throws {
    let rows = try SystemctlPlane.parseListUnits(Array(Self.capturedListUnits.utf8)).get()
    XCTAssertEqual(rows.count, 3)
    XCTAssertEqual(
      rows["dbus.socket"],
      UnitStatus(unit: "dbus.socket", load: "loaded", active: "active", sub: "listening"))
    XCTAssertEqual(rows["mt-exp1-real.service"]?.sub, "exited")
  }

  func testParsesCapturedListUnitFiles() throws {
    let captured = """
      [{"unit_file":"systemd-tmpfiles-clean.service","state":"static","preset":null},\
      {"unit_file":"systemd-tmpfiles-setup.service","state":"disabled","preset":"enabled"}]
      """
    XCTAssertEqual(
      try SystemctlPlane.parseListUnitFiles(Array(captured.utf8)).get(),
      ["systemd-tmpfiles-clean.service": "static", "systemd-tmpfiles-setup.service": "disabled"])
  }

  // MARK: - the in-process rules

  func answer(_ f: SystemdFixture, _ name: String) throws -> UnitFileAnswer {
    let path = try XCTUnwrap(UnitSearchPath.user(environment: f.environment, uid: geteuid()))
    return UnitFileIndex(searchPath: path).answer(for: name)
  }

  func testInstanceRules() throws {
    let f = try SystemdFixture()
    let p = f.prefix
    try f.write("\(f.config)/\(p)-a@.service", agentTemplate)
    try f.link("\(f.config)/default.target.wants/\(p)-a@on.service", to: "../\(p)-a@.service")
    try f.link("\(f.runtimeConfig)/default.target.wants/\(p)-a@rt.service", to: "/dev/null")
    try f.link("\(f.root)/share/systemd/user/default.target.wants/\(p)-a@v.service", to: "x")
    try f.write("\(f.config)/\(p)-s@.service", "[Service]\nExecStart=/bin/true\n")
    try f.write("\(f.config)/\(p)-i@.service", "[Install]\nAlso=\(p)-s@x.service\n")
    try f.write("\(f.runtimeConfig)/\(p)-m@.service", "")
    try f.link("\(f.config)/\(p)-n@.service", to: "/dev/null")
    try f.write("\(f.root)/elsewhere/\(p)-l@.service", agentTemplate)
    try f.link("\(f.config)/\(p)-l@.service", to: "\(f.root)/elsewhere/\(p)-l@.service")

    XCTAssertEqual(try answer(f, "\(p)-a@on.service"), .state("enabled"))
    XCTAssertEqual(try answer(f, "\(p)-a@rt.service"), .state("enabled-runtime"))
    XCTAssertEqual(try answer(f, "\(p)-a@v.service"), .state("static"))
    XCTAssertEqual(try answer(f, "\(p)-a@off.service"), .state("disabled"))
    XCTAssertEqual(try answer(f, "\(p)-s@x.service"), .state("static"))
    XCTAssertEqual(try answer(f, "\(p)-i@x.service"), .state("indirect"))
    XCTAssertEqual(try answer(f, "\(p)-m@x.service"), .state("masked-runtime"))
    XCTAssertEqual(try answer(f, "\(p)-n@x.service"), .state("masked"))
    XCTAssertEqual(try answer(f, "\(p)-l@x.service"), .state("disabled"))
    XCTAssertEqual(try answer(f, "\(p)-a@.service"), .listed)
    XCTAssertEqual(try answer(f, "\(p)-none@x.service"), .notFound)
    XCTAssertEqual(try answer(f, "\(p)-x@y.mount"), .error)
    XCTAssertEqual(try answer(f, "not a unit"), .error)
  }

  func testAliasIsLookedUpUnderItsUnitID() throws {
    let f = try SystemdFixture()
    let p = f.prefix
    try f.write("\(f.config)/\(p)-real.service", agentTemplate)
    try f.link("\(f.config)/\(p)-alias.service", to: "\(f.config)/\(p)-real.service")
    try f.write("\(f.config)/\(p)-t@.service", agentTemplate)
    try f.link("\(f.config)/\(p)-u@.service", to: "\(p)-t@.service")
    let path = try XCTUnwrap(UnitSearchPath.user(environment: f.environment, uid: geteuid()))
    let index = UnitFileIndex(searchPath: path)
    XCTAssertEqual(index.unitID(for: "\(p)-alias.service"), "\(p)-real.service")
    XCTAssertEqual(index.unitID(for: "\(p)-real.service"), "\(p)-real.service")
    XCTAssertEqual(index.unitID(for: "\(p)-u@k.service"), "\(p)-t@k.service")
    XCTAssertEqual(index.unitID(for: "\(p)-ghost.service"), "\(p)-ghost.service")

    let rows = """
      [{"unit":"\(p)-real.service","load":"loaded","active":"active","sub":"exited"}]
      """
    let runner = SystemdRecordingRunner(["list-units": ok(rows)])
    let status = try f.plane(runner).status(of: ["\(p)-alias.service"]).get()
    XCTAssertEqual(status["\(p)-alias.service"]?.active, "active")
    XCTAssertEqual(
      Array(runner.requests[0].argv.suffix(2)), ["\(p)-alias.service", "\(p)-real.service"])
  }

  func testSearchPathMatchesTheManagersUnitPath() throws {
    // `systemctl --user show -p UnitPath` of a manager started with HOME=/root and
    // XDG_RUNTIME_DIR=/run/user/0 (systemd 252, Debian 12).
    let captured =
      "/root/.config/systemd/user.control /run/user/0/systemd/user.control "
      + "/run/user/0/systemd/transient /run/user/0/systemd/generator.early "
      + "/root/.config/systemd/user /etc/xdg/systemd/user /etc/systemd/user "
      + "/run/user/0/systemd/user /run/systemd/user /run/user/0/systemd/generator "
      + "/root/.local/share/systemd/user /usr/local/share/systemd/user /usr/share/systemd/user "
      + "/usr/local/lib/systemd/user /usr/lib/systemd/user /run/user/0/systemd/generator.late"
    let path = try XCTUnwrap(
      UnitSearchPath.user(environment: ["HOME": "/root", "XDG_RUNTIME_DIR": "/run/user/0"], uid: 0))
    XCTAssertEqual(path.directories.joined(separator: " "), captured)
    XCTAssertNil(
      UnitSearchPath.user(
        environment: [
          "HOME": "/root", "XDG_RUNTIME_DIR": "/run/user/0", "SYSTEMD_UNIT_PATH": "/x",
        ],
        uid: 0))
    XCTAssertNil(UnitSearchPath.user(environment: ["HOME": "/root"], uid: 0))
  }

  func testInstallSectionParser() {
    func parse(_ s: String) -> InstallSection? { InstallSection.parse(Array(s.utf8)) }
    XCTAssertEqual(parse(agentTemplate), InstallSection(hasRules: true, hasAlso: false))
    XCTAssertEqual(parse("[Service]\nExecStart=/bin/true\n"), InstallSection())
    XCTAssertEqual(parse("[Install]\nWantedBy=a.target\nWantedBy=\n"), InstallSection())
    XCTAssertEqual(
      parse("[Install]\n# WantedBy=a.target\n;Alias=b.service\n"), InstallSection())
    XCTAssertEqual(
      parse("[Install]\nWantedBy=\\\n  a.target\n"), InstallSection(hasRules: true))
    XCTAssertEqual(
      parse("[Service]\nExecStart=/bin/echo \\\n[Install]\nWantedBy=x.target\n"),
      InstallSection())
    XCTAssertEqual(
      parse("[Install]\nAlso=a.service b.socket\n"), InstallSection(hasAlso: true))
    XCTAssertEqual(
      parse("[Install]\nRequiredBy= %i.target \n"), InstallSection(hasRules: true))
    XCTAssertNil(parse("[Install]\nWantedBy=\"a.target\"\n"))
    XCTAssertNil(parse("[Install]\nAlso=%i.service\n"))
    XCTAssertNil(parse("[Install\nWantedBy=a.target\n"))
    XCTAssertNil(parse("[Install]\r\nWantedBy=a.target\r\n"))
  }

  func testUnitNames() {
    XCTAssertEqual(UnitName.classify("a.service"), .plain)
    XCTAssertEqual(UnitName.classify("a@.service"), .template)
    XCTAssertEqual(UnitName.classify("a@b@c.service"), .instance)
    XCTAssertNil(UnitName.classify("@a.service"))
    XCTAssertNil(UnitName.classify("a.unknown"))
    XCTAssertNil(UnitName.classify("a b.service"))
    XCTAssertEqual(UnitName.template(of: "a@b@c.service"), "a@.service")
    XCTAssertEqual(UnitName.instance(of: "a@b@c.service"), "b@c")
    XCTAssertEqual(UnitName.replacingInstance("a@.service", with: "x"), "a@x.service")
    XCTAssertTrue(UnitName.isValidAlias(source: "b.service", target: "a.service"))
    XCTAssertTrue(UnitName.isValidAlias(source: "b@x.service", target: "a@.service"))
    XCTAssertFalse(UnitName.isValidAlias(source: "a.service", target: "a.service"))
    XCTAssertFalse(UnitName.isValidAlias(source: "b.service", target: "a.socket"))
    XCTAssertTrue(UnitName.isHiddenOrBackup("a.service.dpkg-old"))
    XCTAssertTrue(UnitName.isHiddenOrBackup(".a.service"))
    XCTAssertTrue(UnitName.isHiddenOrBackup("a.service~"))
    XCTAssertTrue(UnitName.isHiddenOrBackup("lost+found"))
    XCTAssertFalse(UnitName.isHiddenOrBackup("a.service"))
    XCTAssertFalse(UnitName.isHiddenOrBackup("default.target.wants"))
    XCTAssertEqual(UnitName.type(of: "a@b.service"), "service")
    XCTAssertNil(UnitName.type(of: "service"))
    XCTAssertNil(UnitName.template(of: "a.service"))
    XCTAssertNil(UnitName.template(of: "a.b@c"))
    XCTAssertEqual(UnitName.template(of: "a@.service"), "a@.service")
    XCTAssertNil(UnitName.instance(of: "a@.service"))
    XCTAssertEqual(UnitName.instance(of: "a@x.y.service"), "x.y")
    XCTAssertNil(UnitName.replacingInstance("a@.service", with: "x y"))
    XCTAssertTrue(UnitName.mayTemplate("timer"))
    XCTAssertFalse(UnitName.mayTemplate("device"))
    XCTAssertTrue(UnitName.mayAlias("device"))
    XCTAssertFalse(UnitName.mayAlias(nil))
    XCTAssertEqual(PathText.basename("/a/b/c@.service"), "c@.service")
    XCTAssertEqual(PathText.basename("c.service"), "c.service")
    XCTAssertEqual(PathText.basename("/a/"), "")
  }

  func testTheBusAnswerIsReadByUnitId() {
    let text =
      "a@x.service\u{1f}loaded\u{1f}active\u{1f}running\nbad line\n"
      + "b.service\u{1f}not-found\u{1f}inactive\u{1f}dead\n\u{1f}x\u{1f}y\u{1f}z\n"
    let rows = SystemdBus.parse(text)
    XCTAssertEqual(Set(rows.keys), ["a@x.service", "b.service"])
    XCTAssertEqual(
      rows["a@x.service"],
      UnitStatus(unit: "a@x.service", load: "loaded", active: "active", sub: "running"))
    XCTAssertEqual(rows["b.service"]?.load, "not-found")
    XCTAssertEqual(rows["b.service"]?.sub, "dead")
    XCTAssertEqual(SystemdBus.parse(""), [:])
  }
}

extension Result {
  fileprivate var error: Failure? {
    if case .failure(let e) = self { return e }
    return nil
  }
}
