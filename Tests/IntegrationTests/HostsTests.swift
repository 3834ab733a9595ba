import Foundation
import MosaicSupport
import XCTest

/// Hosts over OpenSSH (SPEC 2.12) against a real second host on this machine
/// (`scripts/second-host.sh`): the user mosaic-test-remote with its own `systemd --user`
/// manager, tmux socket and stub agents started by units, reached through Debian's sshd run
/// by the test (its own config and host key, loopback high port, key-only, known_hosts
/// entry) inside a UTS namespace whose host name is the roster's name for it.
final class HostsTests: XCTestCase {
  static let script = Harness.repoRoot + "/scripts/second-host.sh"

  /// One fleet: a scratch dir, a local mosaic home whose roster names the second host, and
  /// that host (agents `ra` and `rb` there, `l1` here without a session).
  struct Fleet {
    var dir: String
    var host: String
    var options: [String]
    var mosaic: Mosaic
    var home: String
  }

  private var fleets: [Fleet] = []
  private var canaries: [String] = []

  /// After the last test: the test user's manager too (each host's own things go with it).
  override class func tearDown() {
    _ = try? SpawnRunner().run(CommandRequest([script, "stop-manager"], timeout: 30))
    super.tearDown()
  }

  override func tearDown() {
    for f in fleets { Self.down(f) }
    fleets = []
    for c in canaries { try? FileManager.default.removeItem(atPath: c) }
    super.tearDown()
  }

  static func down(_ f: Fleet) {
    // The shared connection first (it would go with sshd anyway), then the host, then files.
    let control = f.home + "/fleet/run/ssh/%C"
    _ = try? SpawnRunner().run(
      CommandRequest(
        ["ssh", "-O", "exit", "-o", "ControlPath=\(control)"]
          + f.options.flatMap { ["-o", $0] } + ["mosaic-test-remote@127.0.0.1"], timeout: 10))
    _ = try? SpawnRunner().run(CommandRequest([script, "cleanup", f.dir], timeout: 60))
  }

  /// Brings a second host up and writes the local roster.
  func makeFleet(file: StaticString = #filePath, line: UInt = #line) throws -> Fleet {
    let dir = try Harness.makeTempDir("hosts")
    let host = Harness.uniqueName("h")
    let up = try SpawnRunner().run(
      CommandRequest(
        [Self.script, "up", dir, host, Harness.mosaicBinary, "ra", "rb"], timeout: 120))
    guard up.status == 0,
      let optionsPath = up.stdoutText.split(separator: " ")
        .first(where: { $0.hasPrefix("OPTIONS=") })?.dropFirst("OPTIONS=".count)
    else {
      _ = try? SpawnRunner().run(CommandRequest([Self.script, "cleanup", dir], timeout: 60))
      XCTFail("second-host.sh up failed: \(up.stdoutText) \(up.stderrText)", file: file, line: line)
      throw HarnessError.noUserManager
    }
    let options = try String(
      contentsOfFile: String(optionsPath.trimmingCharacters(in: .whitespacesAndNewlines)),
      encoding: .utf8
    )
    .split(separator: "\n").map(String.init)
    let home = dir + "/local"
    try FileManager.default.createDirectory(
      atPath: home + "/fleet", withIntermediateDirectories: true,
      attributes: [.posixPermissions: 0o700])
    chmod(home, 0o700)
    let luaOptions = options.map { "\"\($0)\"" }.joined(separator: ", ")
    let roster = """
      return {
        socket = "\(Harness.uniqueName("hl"))",
        hosts = { ["\(host)"] = { ssh = "mosaic-test-remote@127.0.0.1",
          mosaic = "\(dir)/\(host)/bin/mosaic", ssh_options = { \(luaOptions) } } },
        agents = {
          { name = "l1", runtime = "stub" },
          { name = "ra", runtime = "stub", host = "\(host)", unit = "mt-\(host)-agent@ra.service" },
          { name = "rb", runtime = "stub", host = "\(host)", unit = "mt-\(host)-agent@rb.service" },
        },
      }
      """
    let rosterPath = home + "/fleet/roster.lua"
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: rosterPath, contents: Data(roster.utf8), attributes: [.posixPermissions: 0o600]))
    let f = Fleet(
      dir: dir, host: host, options: options, mosaic: Mosaic(home: home), home: home)
    fleets.append(f)
    return f
  }

  func ps(_ f: Fleet, _ extra: [String] = []) throws -> (CommandResult, [String: JSONValue], Double)
  {
    let start = Clock.monotonic()
    let r = try f.mosaic.run(["fleet", "ps", "--json"] + extra, timeout: 60)
    let elapsed = Clock.monotonic() - start
    guard case .object(let pairs) = try JSONCodec.decode(r.stdout) else {
      XCTFail("not a JSON object: \(r.stdoutText) \(r.stderrText)")
      return (r, [:], elapsed)
    }
    return (r, Dictionary(pairs, uniquingKeysWith: { a, _ in a }), elapsed)
  }

  func rows(_ doc: [String: JSONValue]) -> [String: [String: JSONValue]] {
    guard case .array(let items)? = doc["agents"] else { return [:] }
    var out: [String: [String: JSONValue]] = [:]
    for item in items {
      if case .object(let p) = item, case .string(let name)? = p.first(where: { $0.0 == "name" })?.1
      {
        out[name] = Dictionary(p, uniquingKeysWith: { a, _ in a })
      }
    }
    return out
  }

  func field(_ v: JSONValue?, _ key: String) -> JSONValue? {
    guard case .object(let p)? = v else { return nil }
    return p.first(where: { $0.0 == key })?.1
  }

  func hostEntries(_ doc: [String: JSONValue]) -> [String: [String: JSONValue]] {
    guard case .array(let items)? = doc["hosts"] else { return [:] }
    var out: [String: [String: JSONValue]] = [:]
    for item in items {
      if case .object(let p) = item, case .string(let n)? = p.first(where: { $0.0 == "name" })?.1 {
        out[n] = Dictionary(p, uniquingKeysWith: { a, _ in a })
      }
    }
    return out
  }

  func warningCodes(_ doc: [String: JSONValue]) -> [String] {
    guard case .array(let items)? = doc["warnings"] else { return [] }
    return items.compactMap {
      if case .string(let c)? = field($0, "code") { return c } else { return nil }
    }
  }

  /// Waits until both remote stubs show healthy heartbeats (they start with the host).
  func waitHealthy(_ f: Fleet) throws -> [String: JSONValue] {
    var last: [String: JSONValue] = [:]
    for _ in 0..<40 {
      let (_, doc, _) = try ps(f)
      last = doc
      let r = rows(doc)
      if ["ra", "rb"].allSatisfy({
        field(r[$0]?["heartbeat"], "health") == .string("healthy")
          && field(r[$0]?["pane"], "state") == .string("alive")
      }) {
        return doc
      }
      Thread.sleep(forTimeInterval: 0.25)
    }
    XCTFail("remote stubs never healthy: \(last)")
    return last
  }

  func testMergedFleetPSHasTheRemoteAgentsCells() throws {
    let f = try makeFleet()
    let doc = try waitHealthy(f)
    let local = shortHostName()
    XCTAssertNotEqual(local, f.host, "the UTS namespace must give the second host another name")
    // hosts[]: this machine first, then the second host, reachable, with its own time.
    let hosts = hostEntries(doc)
    XCTAssertEqual(hosts[local]?["reachable"], .bool(true))
    XCTAssertEqual(hosts[f.host]?["reachable"], .bool(true))
    XCTAssertEqual(hosts[f.host]?["error"], .null)
    guard case .string(let remoteTime)? = hosts[f.host]?["generated_at"] else {
      return XCTFail("no generated_at for \(f.host): \(doc)")
    }
    XCTAssertNotNil(ISO8601.parse(remoteTime), remoteTime)
    // The remote's own answer calls itself by the roster's name (no host-name-mismatch).
    XCTAssertFalse(warningCodes(doc).contains("host-name-mismatch"), "\(doc)")
    XCTAssertFalse(warningCodes(doc).contains("host-unreachable"), "\(doc)")
    XCTAssertFalse(warningCodes(doc).contains("remote-agents"), "\(doc)")

    let r = rows(doc)
    XCTAssertEqual(r["l1"]?["host"], .string(local))
    // The remote panes are the remote tmux server's: compare with what tmux there says.
    let list = try sh([
      "runuser", "-u", "mosaic-test-remote", "--", "tmux", "-L", "mt-\(f.host)", "list-panes", "-a",
      "-F", "#{session_name} #{pane_id} #{pane_pid}",
    ])
    for name in ["ra", "rb"] {
      let row = try XCTUnwrap(r[name], "\(name) missing: \(doc)")
      XCTAssertEqual(row["host"], .string(f.host))
      XCTAssertEqual(field(row["pane"], "state"), .string("alive"))
      let line = try XCTUnwrap(
        list.split(separator: "\n").first { $0.hasPrefix(name + " ") }, list)
      let parts = line.split(separator: " ")
      XCTAssertEqual(field(row["pane"], "id"), .string(String(parts[1])), "\(row)")
      XCTAssertEqual(field(row["pane"], "pid"), .int(Int64(parts[2])!), "\(row)")
      XCTAssertEqual(field(row["heartbeat"], "health"), .string("healthy"))
      XCTAssertEqual(field(row["heartbeat"], "interval_s")?.doubleValue, 2, "\(row)")
      XCTAssertEqual(field(row["systemd"], "active"), .string("active"), "\(row)")
      guard case .array(let argv)? = field(row["process"], "argv") else {
        return XCTFail("no process argv: \(row)")
      }
      XCTAssertTrue(argv.contains(.string("stub")), "\(argv)")
    }
    // The merged document, and the one with an unreachable host below, follow the schema.
    let json = try f.mosaic.run(["fleet", "ps", "--json"])
    let valid = try Harness.validateSchema(json.stdoutText, "mosaic.fleet.ps.v1")
    XCTAssertEqual(valid.status, 0, valid.stdoutText + valid.stderrText)
    // The table and -o name carry the same rows.
    let table = try f.mosaic.run(["fleet", "ps", "--no-headers"])
    XCTAssertEqual(table.status, 0, table.stderrText)
    let tableRows = table.stdoutText.split(separator: "\n").map {
      $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    }
    XCTAssertEqual(tableRows.first { $0.first == "ra" }?[2], f.host, table.stdoutText)
    XCTAssertEqual(tableRows.first { $0.first == "ra" }?[5], "alive", table.stdoutText)
    let names = try f.mosaic.run(["fleet", "ps", "-o", "name"])
    XCTAssertEqual(names.stdoutText.split(separator: "\n").sorted(), ["l1", "ra", "rb"])
  }

  func testSendVerifyToARemoteStubArrivesVerbatimAndRunsNothing() throws {
    let f = try makeFleet()
    _ = try waitHealthy(f)
    let tag = Harness.uniqueName("c")
    let c1 = "/tmp/\(tag)-1"
    let c2 = "/tmp/\(tag)-2"
    let c3 = "/tmp/\(tag)-3"
    canaries = [c1, c2, c3]
    let text = "go; touch \(c1) $(touch \(c2)) \"dq\" 'sq' `touch \(c3)` \\n $HOME\nsecond line"
    let r = try f.mosaic.run(["agent", "send", "ra", "--verify", "--json", "-"], input: text)
    XCTAssertEqual(r.status, 0, r.stderrText + r.stdoutText)
    guard case .object(let pairs) = try JSONCodec.decode(r.stdout) else {
      return XCTFail(r.stdoutText)
    }
    let result = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    XCTAssertEqual(result["verdict"], .string("accepted"), r.stdoutText)
    XCTAssertEqual(result["host"], .string(f.host))
    XCTAssertEqual(result["bytes"], .int(Int64(text.utf8.count)))
    // The stub echoes what it read: the exact text, line by line, on the remote screen.
    let capture = try f.mosaic.run(["agent", "capture", "ra", "--plain"])
    XCTAssertEqual(capture.status, 0, capture.stderrText)
    let lines = text.split(separator: "\n").map(String.init)
    XCTAssertTrue(capture.stdoutText.contains("stub> " + lines[0] + "\n"), capture.stdoutText)
    XCTAssertTrue(capture.stdoutText.contains("\n" + lines[1] + "\n"), capture.stdoutText)
    XCTAssertTrue(
      capture.stdoutText.contains("ok: \(text.utf8.count) bytes"), capture.stdoutText)
    // watch --once (not on a terminal: plain text, through ssh -T) shows the same screen.
    let watch = try f.mosaic.run(["agent", "watch", "ra", "--once"])
    XCTAssertEqual(watch.status, 0, watch.stderrText)
    XCTAssertTrue(watch.stdoutText.contains(lines[1]), watch.stdoutText)
    XCTAssertTrue(watch.stdoutText.contains("ok: \(text.utf8.count) bytes"), watch.stdoutText)
    // capture --json comes back as the remote wrote it.
    let json = try f.mosaic.run(["agent", "capture", "ra", "--json"])
    XCTAssertEqual(json.status, 0, json.stderrText)
    XCTAssertTrue(json.stdoutText.contains("\"mosaic.agent.capture/v1\""), json.stdoutText)
    for c in [c1, c2, c3] {
      XCTAssertFalse(
        FileManager.default.fileExists(atPath: c), "\(c) exists: something ran the text")
    }
    // The local agent is not routed anywhere: it is refused here (no tmux server).
    let here = try f.mosaic.run(["agent", "send", "l1", "hello"])
    XCTAssertEqual(here.status, 3, here.stderrText)
    // --host must agree with the roster.
    let wrong = try f.mosaic.run(["agent", "capture", "ra", "--host", shortHostName()])
    XCTAssertEqual(wrong.status, 1)
    XCTAssertTrue(wrong.stderrText.contains("lives on host \(f.host)"), wrong.stderrText)
  }

  func testAttachToARemoteAgentRunsThereOnThisTerminal() throws {
    let f = try makeFleet()
    _ = try waitHealthy(f)
    // This "terminal" is a pane of a tmux server of the test's own.
    let socket = Harness.uniqueName("hatt")
    defer {
      _ = try? SpawnRunner().run(
        CommandRequest(["tmux", "-L", socket, "kill-server"], timeout: 10))
      // The server leaves its socket file behind: remove it too.
      let tmp = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
      try? FileManager.default.removeItem(atPath: "\(tmp)/tmux-\(getuid())/\(socket)")
    }
    try sh([
      "tmux", "-L", socket, "new-session", "-d", "-x", "100", "-y", "30", "-e",
      "MOSAIC_HOME=\(f.home)", "-e", "NO_COLOR=1",
      "\(Harness.mosaicBinary) agent attach ra --yes; echo attach-exit=$?; sleep 60",
    ])
    func screen() throws -> String { try sh(["tmux", "-L", socket, "capture-pane", "-p"]) }
    func lease() throws -> JSONValue? { field(rows(try ps(f).1)["ra"]?["lease"], "holder") }
    var holder: JSONValue? = nil
    for _ in 0..<60 where holder == nil || holder == .null {
      Thread.sleep(forTimeInterval: 0.25)
      holder = try lease()
    }
    let shown = try screen()
    XCTAssertNotNil(holder, shown)
    XCTAssertNotEqual(holder, .null, shown)
    // The remote tmux client shows the agent's prompt here.
    XCTAssertTrue(shown.contains("stub>"), shown)
    try sh(["tmux", "-L", socket, "send-keys", "C-b", "d"])
    var text = ""
    for _ in 0..<40 {
      text = try screen()
      if text.contains("attach-exit=") { break }
      Thread.sleep(forTimeInterval: 0.25)
    }
    XCTAssertTrue(text.contains("attach-exit=0"), text)
    XCTAssertTrue(text.contains("lease released"), text)
    XCTAssertEqual(field(rows(try ps(f).1)["ra"]?["lease"], "holder"), nil)
  }

  func testHostNarrowsFleetPSAndCheck() throws {
    let f = try makeFleet()
    _ = try waitHealthy(f)
    let (r, doc, _) = try ps(f, ["--host", f.host])
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertEqual(Set(rows(doc).keys), ["ra", "rb"])
    XCTAssertEqual(Set(hostEntries(doc).keys), [f.host])
    let (rl, local, _) = try ps(f, ["--host", shortHostName()])
    XCTAssertEqual(rl.status, 0, rl.stderrText)
    XCTAssertEqual(Set(rows(local).keys), ["l1"])
    XCTAssertEqual(Set(hostEntries(local).keys), [shortHostName()], "the other host is not asked")
    let bad = try f.mosaic.run(["fleet", "ps", "--host", f.host + "x"])
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(bad.stderrText.contains("did you mean '\(f.host)'"), bad.stderrText)

    // fleet check across hosts: the remote agents are judged (their states counted).
    let check = try f.mosaic.run(["fleet", "check", "--json", "--host", f.host])
    guard case .object(let pairs) = try JSONCodec.decode(check.stdout) else {
      return XCTFail(check.stdoutText)
    }
    let verdict = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    XCTAssertEqual(field(verdict["perfdata"], "agents"), .int(2), check.stdoutText)
    XCTAssertEqual(field(verdict["perfdata"], "healthy"), .int(2), check.stdoutText)
    XCTAssertEqual(field(verdict["perfdata"], "remote"), .int(0), check.stdoutText)
    XCTAssertNotEqual(verdict["state"], .string("CRITICAL"), check.stdoutText)
    XCTAssertNotEqual(verdict["state"], .string("UNKNOWN"), check.stdoutText)

    // No mosaic at the roster's path over there: the remote shell's 127 is a refusal
    // (nothing ran, exit 3, the JSON object still printed), never the verb's own status.
    let rosterPath = f.home + "/fleet/roster.lua"
    let original = try String(contentsOfFile: rosterPath, encoding: .utf8)
    let broken = original.replacingOccurrences(of: "/bin/mosaic\"", with: "/bin/no-mosaic\"")
    XCTAssertNotEqual(broken, original)
    try broken.write(toFile: rosterPath, atomically: true, encoding: .utf8)
    chmod(rosterPath, 0o600)
    let send = try f.mosaic.run(["agent", "send", "ra", "--json", "hello"], timeout: 60)
    XCTAssertEqual(send.status, 3, send.stderrText)
    XCTAssertTrue(send.stderrText.contains("could not be run (status 127)"), send.stderrText)
    guard case .object(let sent) = try JSONCodec.decode(send.stdout) else {
      return XCTFail(send.stdoutText)
    }
    let result = Dictionary(sent, uniquingKeysWith: { a, _ in a })
    XCTAssertEqual(result["refused_code"], .string("host-unreachable"), send.stdoutText)
    XCTAssertEqual(result["delivered"], .bool(false), send.stdoutText)
  }

  func testStoppedSSHDIsAWarningWithNullCellsAndCheckIsCritical() throws {
    let f = try makeFleet()
    _ = try waitHealthy(f)
    try sh([Self.script, "stop-sshd", f.dir, f.host])
    let (r, doc, elapsed) = try ps(f)
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertLessThan(elapsed, 20, "bounded")
    XCTAssertTrue(warningCodes(doc).contains("host-unreachable"), "\(doc)")
    let entry = hostEntries(doc)[f.host]
    XCTAssertEqual(entry?["reachable"], .bool(false))
    guard case .string(let why)? = entry?["error"] else { return XCTFail("no error: \(doc)") }
    XCTAssertFalse(why.isEmpty)
    let rs = rows(doc)
    XCTAssertEqual(rs["l1"]?["host"], .string(shortHostName()), "the local listing is kept")
    for name in ["ra", "rb"] {
      // Null cells: every plane's value unknown, the heartbeat "unknown" (SPEC 2.4).
      let row = try XCTUnwrap(rs[name], "\(doc)")
      XCTAssertEqual(row["host"], .string(f.host))
      for (plane, key) in [
        ("pane", "state"), ("pane", "pid"), ("systemd", "active"), ("heartbeat", "age_s"),
      ] {
        XCTAssertEqual(field(row[plane], key), .null, "\(plane).\(key): \(row)")
      }
      XCTAssertEqual(row["process"], .null, "\(row)")
      XCTAssertEqual(field(row["heartbeat"], "health"), .string("unknown"), "\(row)")
    }
    let valid = try Harness.validateSchema(r.stdoutText, "mosaic.fleet.ps.v1")
    XCTAssertEqual(valid.status, 0, valid.stdoutText + valid.stderrText)
    let table = try f.mosaic.run(["fleet", "ps"])
    XCTAssertEqual(table.status, 0)
    XCTAssertTrue(table.stderrText.contains("host \(f.host)"), table.stderrText)

    let start = Clock.monotonic()
    let check = try f.mosaic.run(["fleet", "check", "--json"])
    XCTAssertLessThan(Clock.monotonic() - start, 30)
    XCTAssertEqual(check.status, 2, check.stdoutText)
    XCTAssertTrue(check.stdoutText.contains("\"host-unreachable\""), check.stdoutText)
    XCTAssertTrue(check.stdoutText.contains("\"CRITICAL\""), check.stdoutText)

    // An agent verb to the unreachable host fails with one line, nothing sent.
    let send = try f.mosaic.run(["agent", "send", "ra", "hello"])
    XCTAssertEqual(send.status, 3, send.stderrText)
    XCTAssertTrue(
      send.stderrText.hasPrefix("mosaic: agent send: ra: host \(f.host)"), send.stderrText)
    XCTAssertEqual(send.stderrText.split(separator: "\n").count, 1, send.stderrText)
    // --json still prints the result object (a refusal: nothing delivered).
    let json = try f.mosaic.run(["agent", "send", "ra", "--json", "hello"])
    XCTAssertEqual(json.status, 3, json.stderrText)
    let sendValid = try Harness.validateSchema(json.stdoutText, "mosaic.agent.send.v1")
    XCTAssertEqual(sendValid.status, 0, sendValid.stdoutText + json.stdoutText)
    XCTAssertTrue(json.stdoutText.contains("\"delivered\": false"), json.stdoutText)
  }

  func testAHostThatAcceptsButNeverAnswersIsBounded() throws {
    let f = try makeFleet()
    _ = try waitHealthy(f)  // a shared connection is open now, and it will hang too
    try sh([Self.script, "freeze-sshd", f.dir, f.host])
    defer { _ = try? sh([Self.script, "thaw-sshd", f.dir, f.host]) }
    let (r, doc, elapsed) = try ps(f, ["--host-timeout", "3"])
    XCTAssertEqual(r.status, 0, r.stderrText)
    XCTAssertGreaterThan(elapsed, 2.5, "it did wait for the host")
    XCTAssertLessThan(elapsed, 12, "killed at its deadline")
    XCTAssertTrue(warningCodes(doc).contains("host-unreachable"), "\(doc)")
    XCTAssertEqual(hostEntries(doc)[f.host]?["reachable"], .bool(false))
    XCTAssertEqual(field(rows(doc)["ra"]?["pane"], "state"), .null)
    XCTAssertEqual(field(rows(doc)["ra"]?["pane"], "pid"), .null)

    let start = Clock.monotonic()
    let check = try f.mosaic.run(["fleet", "check", "--json", "--timeout", "8"])
    let took = Clock.monotonic() - start
    XCTAssertLessThan(took, 12)
    XCTAssertEqual(check.status, 2, check.stdoutText)
    XCTAssertTrue(check.stdoutText.contains("\"host-unreachable\""), check.stdoutText)
  }
}
