import Foundation
import XCTest

/// The hostile-input suite (issue 11): every file mosaic reads and every public Lua function
/// and command argument, fed hostile values, each case held to SPEC 3 on the built binary:
/// a `mosaic: <what>: <why>` line on stderr, a non-zero exit, no crash, nothing run or
/// half-written, and an answer within the case's deadline (a case that hangs is killed and
/// fails). New readers and functions join the tables when they are written.
final class HostileInputTests: BinaryTestCase {
  /// One hostile input.
  struct Case {
    /// What is fed, for failure messages.
    var name: String
    /// Puts the hostile input in place (files under `config`, `dir`).
    var setup: (HostileInputTests) throws -> Void = { _ in }
    var args: [String]
    var stdin: [UInt8]? = nil
    /// A part of the `mosaic: ...` line that says why.
    var expect: String
    /// Uncaught errors of scripts (`-e`) carry a Lua traceback after the line (SPEC 2.9);
    /// everything else is exactly one line.
    var oneLine = true
    var deadline: Double = 10
  }

  /// The file hostile code creates if it ever runs.
  var marker: String { dir + "/ran" }
  var roster: String { config + "/fleet/roster.lua" }

  /// Lua that leaves `marker` behind if it runs at all.
  var hostileCode: String {
    "local f = io.open(\"\(marker)\", \"w\") if f then f:write(\"ran\") f:close() end\n"
  }

  func check(_ c: Case, file: StaticString = #filePath, line: UInt = #line) throws {
    try? FileManager.default.removeItem(atPath: marker)
    try c.setup(self)
    let r = try run(c.args, stdin: c.stdin, timeout: c.deadline, file: file, line: line)
    assertNoCrash(r, c.name, file: file, line: line)
    XCTAssertNotEqual(r.status, 0, "\(c.name): exit status", file: file, line: line)
    XCTAssertLessThan(r.elapsed, c.deadline, "\(c.name): too slow", file: file, line: line)
    let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    XCTAssertTrue(r.stderr.hasSuffix("\n"), "\(c.name): \(r.stderr)", file: file, line: line)
    if c.oneLine {
      // One line, and for usage errors the hint that follows it (`Try 'mosaic ... --help'.`).
      let hint = lines.count == 3 && lines[1].hasPrefix("Try 'mosaic ")
      XCTAssertTrue(
        lines.count == 2 || hint, "\(c.name): not one line: \(r.stderr)", file: file, line: line)
    }
    let first = String(lines.first ?? "")
    XCTAssertNotNil(
      first.wholeMatch(of: #/mosaic: [^\n]+: [^\n]+/#), "\(c.name): \(first)", file: file,
      line: line)
    XCTAssertTrue(first.contains(c.expect), "\(c.name): \(first)", file: file, line: line)
    XCTAssertFalse(
      FileManager.default.fileExists(atPath: marker), "\(c.name): the hostile code ran",
      file: file, line: line)
  }

  func checkAll(_ cases: [Case], file: StaticString = #filePath, line: UInt = #line) throws {
    for c in cases {
      try check(c, file: file, line: line)
      tearDown()
      try setUpWithError()
    }
  }

  // MARK: Helpers for special files

  static func put(_ text: String, _ path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  }

  func writeRoster(_ text: String, mode: Int) throws {
    try FileManager.default.createDirectory(
      atPath: config + "/fleet", withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: roster)
    try Data(text.utf8).write(to: URL(fileURLWithPath: roster))
    chmod(roster, mode_t(mode))
  }

  func fifo(_ path: String) throws {
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: path)
    XCTAssertEqual(mkfifo(path, 0o600), 0, path)
  }

  /// Gives `path` to another user (uid 65534, nobody); needs root, as in CI.
  func giveAway(_ path: String) throws {
    guard chown(path, 65534, 65534) == 0 else {
      throw XCTSkip("chown to uid 65534 needs root: \(String(cString: strerror(errno)))")
    }
  }

  func writeCode(_ rel: String, mode: Int) throws -> String {
    let path = config + "/" + rel
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data((hostileCode + "return {}\n").utf8).write(to: URL(fileURLWithPath: path))
    chmod(path, mode_t(mode))
    return path
  }

  // MARK: Code files (SPEC 2.2): roster, init.lua, commands, lua modules

  func testUntrustedRostersAreRefusedAndNothingRuns() throws {
    let returns = "return { agents = { { name = \"a\", runtime = \"stub\" } } }\n"
    var cases: [Case] = []
    for (verb, mode, why) in [
      ("ps", 0o666, "group or world writable (mode 666)"),
      ("export", 0o620, "group or world writable (mode 620)"),
    ] {
      cases.append(
        Case(
          name: "roster mode \(String(mode, radix: 8)) / fleet \(verb)",
          setup: { t in try t.writeRoster(t.hostileCode + returns, mode: mode) },
          args: ["fleet", verb], expect: why))
    }
    for verb in ["ps", "export"] {
      cases.append(
        Case(
          name: "roster FIFO / fleet \(verb)", setup: { t in try t.fifo(t.roster) },
          args: ["fleet", verb], expect: "not a regular file", deadline: 5))
    }
    cases.append(
      Case(
        name: "roster is a directory",
        setup: { t in
          try FileManager.default.createDirectory(
            atPath: t.roster, withIntermediateDirectories: true)
        }, args: ["fleet", "ps"], expect: "not a regular file"))
    cases.append(
      Case(
        name: "roster symlink to a world-writable file",
        setup: { t in
          let target = try t.write("elsewhere.lua", t.hostileCode + returns, mode: 0o666)
          try FileManager.default.createDirectory(
            atPath: t.config + "/fleet", withIntermediateDirectories: true)
          try FileManager.default.createSymbolicLink(atPath: t.roster, withDestinationPath: target)
        }, args: ["fleet", "ps"], expect: "group or world writable"))
    cases.append(
      Case(
        name: "--roster /dev/zero", args: ["fleet", "ps", "--roster", "/dev/zero"],
        expect: "not a regular file"))
    cases.append(
      Case(
        name: "roster another user's",
        setup: { t in
          try t.writeRoster(t.hostileCode + returns, mode: 0o644)
          try t.giveAway(t.roster)
        }, args: ["fleet", "ps"], expect: "owned by uid 65534"))
    try checkAll(cases)
    // `fleet check` answers a monitoring system on stdout: UNKNOWN (3) naming the refusal.
    for mode in [0o602, 0o600] {
      try writeRoster(hostileCode + returns, mode: mode)
      if mode == 0o600 { try? FileManager.default.removeItem(atPath: roster) }
      if mode == 0o600 { try fifo(roster) }
      let r = try run(["fleet", "check"], timeout: 5)
      XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
      XCTAssertTrue(r.stdout.hasPrefix("MOSAIC FLEET UNKNOWN - "), r.stdout)
      XCTAssertTrue(
        r.stdout.contains(mode == 0o602 ? "group or world writable" : "not a regular file"),
        r.stdout)
      XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the roster ran")
    }
  }

  func testInvalidRosterValuesAreErrorsNamingTheField() throws {
    let bad: [(String, String, String)] = [
      ("heartbeat_interval = 0/0", "agents = {}", "roster.heartbeat_interval: must be a finite"),
      ("heartbeat_interval = 1/0", "agents = {}", "roster.heartbeat_interval: must be a finite"),
      ("heartbeat_interval = -1", "agents = {}", "field \"heartbeat_interval\" must be a positive"),
      ("heartbeat_interval = 0", "agents = {}", "field \"heartbeat_interval\" must be a positive"),
      (
        "", "agents = { { name = \"a\", runtime = \"stub\", heartbeat_interval = -1/0 } }",
        "roster.agents[1].heartbeat_interval: must be a finite"
      ),
      (
        "", "agents = { { name = \"a\", runtime = \"stub\", match = \"[a\" } }",
        "agent \"a\": field \"match\" is not a valid Lua pattern: malformed pattern"
      ),
      (
        "", "agents = { { name = \"b\", runtime = \"x\", match = \"(()\" } }",
        "agent \"b\": field \"match\" is not a valid Lua pattern: unfinished capture"
      ),
      (
        "", "agents = { { name = \"c\", runtime = \"stub\", match = \"%\" } }",
        "agent \"c\": field \"match\" is not a valid Lua pattern"
      ),
      ("", "agents = { { name = \"a\\0b\", runtime = \"stub\" } }", "name"),
      ("", "agents = { { name = string.rep(\"a\", 1e6), runtime = \"stub\" } }", "name"),
      ("socket = \"x\\n\"", "agents = {}", "socket"),
      ("", "agents = { [1e9] = {} }", "agents"),
    ]
    try checkAll(
      bad.map { top, agents, why in
        Case(
          name: "roster { \(top) \(agents) }",
          setup: { t in
            try t.writeRoster(
              "return { \(top)\(top.isEmpty ? "" : ", ") \(agents) }\n", mode: 0o600)
          }, args: ["fleet", "ps"], expect: why)
      })
  }

  // MARK: Command arguments

  func testBadCommandArgumentsAreUsageErrorsSayingWhy() throws {
    let socket = "mt-nosuch-\(getpid())"
    let cases: [([String], String)] = [
      (["heartbeat", "a", "--interval", "-1"], "--interval must be a positive number, got '-1'"),
      (["heartbeat", "a", "--interval", "0"], "--interval must be a positive number"),
      (["heartbeat", "a", "--interval", "nan"], "--interval must be a positive number"),
      (["heartbeat", "a", "--interval", "-inf"], "--interval must be a positive number"),
      (["heartbeat", "a", "--interval=1e999"], "--interval must be a positive number"),
      (["agent", "stub", "a", "--interval", "-0.5"], "--interval must be a positive number"),
      (["agent", "capture", "a", "--history", "-5"], "--history must be a non-negative integer"),
      (
        ["agent", "capture", "a", "--history", "1e999"], "--history must be a non-negative integer"
      ),
      (["agent", "send", "a", "--timeout", "-1", "x"], "--timeout must be a positive number"),
      (["agent", "send", "a", "--timeout", "nan", "x"], "--timeout must be a positive number"),
      (["agent", "watch", "a", "--interval", "-1"], "interval"),
      (["agent", "watch", "a", "--interval", "nan"], "interval"),
      (["fleet", "ps", "--probe-timeout", "-2"], "--probe-timeout must be a positive number"),
      (["fleet", "ps", "--watch", "-1"], "watch"),
      (["fleet", "ps", "--watch", "nan"], "watch"),
      (["fleet", "ps", "--bogus"], "unknown option '--bogus'"),
      (["fleet", "export", "--timeout", "-1"], "timeout"),
      (["fleet", "export", "--timeout", "nan"], "timeout"),
      (["fleet", "ps", "--tenant"], "--tenant"),
      (["-e"], "-e"),
      (["run", "--timeout", "-1", "x.lua"], "timeout"),
      (["run", "--timeout", "nan", "x.lua"], "timeout"),
      (["run", "--memory", "-1", "x.lua"], "memory"),
    ]
    try checkAll(
      cases.map { args, why in
        Case(
          name: args.joined(separator: " "),
          setup: { t in
            try t.writeRoster("return { socket = \"\(socket)\", agents = {} }\n", mode: 0o600)
          }, args: args, expect: why)
      })
  }

  func testUntrustedCommandsAndModulesAreRefused() throws {
    try checkAll([
      Case(
        name: "commands/team/report.lua 0666",
        setup: { t in _ = try t.writeCode("commands/team/report.lua", mode: 0o666) },
        args: ["team", "report"], expect: "refusing to run it: group or world writable"),
      Case(
        name: "commands/fleet/ps.lua 0664 (an override of a shipped command)",
        setup: { t in _ = try t.writeCode("commands/fleet/ps.lua", mode: 0o664) },
        args: ["fleet", "ps"], expect: "refusing to run it: group or world writable"),
      Case(
        name: "commands/team/report.lua FIFO",
        setup: { t in try t.fifo(t.config + "/commands/team/report.lua") },
        args: ["team", "report"], expect: "not a regular file", deadline: 5),
      Case(
        name: "lua/hostile.lua 0646",
        setup: { t in _ = try t.writeCode("lua/hostile.lua", mode: 0o646) },
        args: ["-e", "require 'hostile'"], expect: "group or world writable", oneLine: false),
      Case(
        name: "lua/hostile/init.lua FIFO",
        setup: { t in try t.fifo(t.config + "/lua/hostile/init.lua") },
        args: ["-e", "require 'hostile'"], expect: "not a regular file", oneLine: false,
        deadline: 5),
      Case(
        name: "commands/team/report.lua another user's",
        setup: { t in try t.giveAway(try t.writeCode("commands/team/report.lua", mode: 0o644)) },
        args: ["team", "report"], expect: "owned by uid 65534"),
    ])
    // `help` lists commands without running them, and a FIFO among them cannot block it.
    try fifo(config + "/commands/team/report.lua")
    let help = try run(["help"], timeout: 5)
    XCTAssertEqual(help.status, 0, help.stderr)
  }

  func testAnUntrustedInitLuaIsReportedAndNotRun() throws {
    for mode in [0o666, 0o620] {
      _ = try writeCode("init.lua", mode: mode)
      let r = try run(["shell"], stdin: Array("print('still here')\n".utf8), timeout: 10)
      assertNoCrash(r, "init.lua \(mode)")
      XCTAssertEqual(r.stdout, "still here\n")
      XCTAssertTrue(
        r.stderr.hasPrefix("mosaic: \(config)/init.lua: refusing to run it: group or world"),
        r.stderr)
      XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "init.lua ran")
    }
    // A trusted one runs.
    _ = try writeCode("init.lua", mode: 0o600)
    let ok = try run(["shell"], stdin: Array("print('x')\n".utf8), timeout: 10)
    XCTAssertEqual(ok.stderr, "")
    XCTAssertTrue(FileManager.default.fileExists(atPath: marker), "a trusted init.lua must run")
  }

  // MARK: Output that cannot be written

  func testAFailedWriteToStdoutIsAnErrorNeverSilence() throws {
    let socket = "mt-nosuch-\(UInt32.random(in: 0...UInt32.max))"
    try writeRoster("return { socket = \"\(socket)\", agents = {} }\n", mode: 0o600)
    let commands: [[String]] = [
      ["-e", "print('x')"], ["-e", "for i = 1, 100000 do print(i) end"],
      ["-e", "io.write('x') os.exit(0)"], ["fleet", "ps"], ["fleet", "ps", "--json"],
      ["fleet", "export"], ["help"], ["--version"],
    ]
    for args in commands {
      for (redirect, why) in [(">/dev/full", "write failed"), (">&-", "stdout is closed")] {
        let r = try run(
          ["-c", "exec \"$0\" \"$@\" \(redirect)", binary] + args, executable: "/bin/sh",
          timeout: 10)
        let what = "\(args) \(redirect)"
        assertNoCrash(r, what)
        XCTAssertEqual(r.status, 1, "\(what): \(r.stderr)")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("mosaic: stdout: ") }.count, 1, what)
        XCTAssertTrue(lines.last?.hasPrefix("mosaic: stdout: write failed") ?? false, what)
        XCTAssertTrue(r.stderr.contains(why), "\(what): \(r.stderr)")
      }
    }
    // A reader that leaves (`| head -1`) ends the writer quietly, as SIGPIPE would.
    let piped = try run(
      [
        "-c", "\"$0\" -e 'for i = 1, 1e6 do print(i) end' | head -1; exit ${PIPESTATUS:-0}", binary,
      ],
      executable: "/bin/bash", timeout: 10)
    XCTAssertEqual(piped.stdout, "1\n")
    XCTAssertEqual(piped.stderr, "")
  }

  // MARK: Files other processes write into <run>

  /// Hostile heartbeat files: never healthy, always `unknown` with a reason, and `heartbeat.read`
  /// answers at once (a FIFO cannot block it).
  func testHostileHeartbeatsAreUnknownWithAReason() throws {
    let runDir = config + "/fleet/run"
    try FileManager.default.createDirectory(
      atPath: runDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let now = ISO8601DateFormatter().string(from: Date())  // 2026-...Z
    let day = String(now.prefix(10))
    let time = String(now.dropFirst(10).prefix(9))  // Thh:mm:ss
    let cases: [(String, (String) throws -> Void)] = [
      ("offset -96:00", { p in try Self.put("ts=\(day)\(time)-96:00 pid=1 status=ok\n", p) }),
      ("offset +00:99", { p in try Self.put("ts=\(day)\(time)+00:99 pid=1 status=ok\n", p) }),
      ("30 February", { p in try Self.put("ts=2026-02-30T00:00:00Z pid=1 status=ok\n", p) }),
      ("31 April", { p in try Self.put("ts=2026-04-31T00:00:00Z pid=1 status=ok\n", p) }),
      ("interval nan", { p in try Self.put("ts=\(now) pid=1 status=ok interval=nan\n", p) }),
      ("interval inf", { p in try Self.put("ts=\(now) pid=1 status=ok interval=inf\n", p) }),
      ("pid huge", { p in try Self.put("ts=\(now) pid=99999999999999999999 status=ok\n", p) }),
      ("control bytes", { p in try Self.put("ts=\(now) pid=1 status=ok\u{1b}[2J\u{7}\n", p) }),
      ("NUL byte", { p in try Self.put("ts=\(now) pid=1\u{0} status=ok\n", p) }),
      (
        "5 KiB",
        { p in
          try Self.put("ts=\(now) pid=1 status=ok x=" + String(repeating: "a", count: 5000), p)
        }
      ),
      ("FIFO", { p in XCTAssertEqual(mkfifo(p, 0o600), 0) }),
      (
        "directory",
        { p in
          try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false)
        }
      ),
      (
        "symlink",
        { p in
          let target = p + ".target"
          try Self.put("ts=\(now) pid=1 status=ok\n", target)
          try FileManager.default.createSymbolicLink(atPath: p, withDestinationPath: target)
        }
      ),
      (
        "world-writable",
        { p in
          try Self.put("ts=\(now) pid=1 status=ok\n", p)
          chmod(p, 0o666)
        }
      ),
    ]
    for (what, make) in cases {
      let path = runDir + "/a.hb"
      try? FileManager.default.removeItem(atPath: path)
      try make(path)
      if !what.hasPrefix("world") && !what.hasPrefix("FIFO") && !what.hasPrefix("dir") {
        chmod(path, 0o600)
      }
      let r = try run(
        [
          "-e",
          "local r = heartbeat.read('a', 15) print(r.health, r.reason ~= nil and #r.reason > 0)",
        ],
        timeout: 5)
      assertNoCrash(r, what)
      XCTAssertEqual(r.stdout, "unknown\ttrue\n", "\(what): \(r.stdout) \(r.stderr)")
      XCTAssertLessThan(r.elapsed, 5, what)
    }
  }

  // MARK: Public Lua functions (SPEC 2.10: a programming error raises at the caller's line)

  /// Bad arguments to every public function: each call raises (never hangs, never runs with a
  /// NaN or infinite time, never truncates at a NUL) and the error names the caller's line.
  func testBadArgumentsRaiseAtTheCallersLine() throws {
    let calls = [
      #"fleet.probe("a", 0/0)"#, #"fleet.probe("a", -5)"#, #"fleet.probe("a", 1/0)"#,
      #"fleet.probe("a", "x")"#, #"fleet.probe({1})"#, #"fleet.probe(true)"#,
      #"fleet.wait{agent="a", timeout=0/0}"#, #"fleet.wait{agent="a", timeout=-1}"#,
      #"fleet.wait{agent="a", timeout=1/0}"#, #"fleet.wait{agent="a", every=0/0}"#,
      #"fleet.wait{agent="a", every=-1}"#, #"fleet.wait{agent="a", timeout="x"}"#,
      #"fleet.wait{agent=1}"#, #"fleet.wait{agents={"a", {}}}"#,
      #"fleet.wait{agent="a", until_fn=1}"#, #"fleet.wait(nil)"#,
      #"fleet.ps{roster=1}"#, #"fleet.ps("x")"#, #"fleet.ps{probe_timeout=0/0}"#,
      #"fleet.ps{probe_timeout=1/0}"#, #"fleet.ps{bogus=1}"#, #"fleet.agent(1)"#,
      #"fleet.agent("a", 1)"#, #"fleet.agent("a", {socket=1})"#, #"fleet.ps_json(1)"#,
      #"agent.capture("a", {history=0/0})"#, #"agent.capture("a", {history=-1})"#,
      #"agent.capture(1)"#, #"agent.capture("a", {socket=1})"#,
      #"agent.watch("a", {interval=0/0})"#, #"agent.watch("a", {interval=1/0})"#,
      #"agent.watch("a", {interval=0})"#, #"agent.attach(1)"#, #"agent.attach("a", 1)"#,
      #"agent.send(1, "x")"#, #"agent.send("a", {})"#, #"agent.send("a", "x", 1)"#,
      #"agent.send("a", "x", {timeout=0/0})"#, #"agent.send("a", "x", {timeout=-1})"#,
      #"mosaic.exec({"echo", "a\0b"})"#, #"mosaic.exec({"tr\0ue"})"#,
      #"mosaic.exec({"true"}, {env={["A=B"]="c"}})"#, #"mosaic.exec({"true"}, {env={[""]="c"}})"#,
      #"mosaic.exec({"true"}, {env={A="a\0b"}})"#, #"mosaic.exec({"true"}, {env={["A\0"]="b"}})"#,
      #"mosaic.exec("x")"#, #"mosaic.exec({})"#, #"mosaic.exec({"true"}, {timeout=0/0})"#,
      #"mosaic.exec({"true"}, {timeout=-1})"#, #"mosaic.exec({"true"}, {bogus=1})"#,
      #"mosaic.sleep(0/0)"#, #"mosaic.sleep(-1)"#, #"mosaic.sleep(1/0)"#, #"mosaic.sleep("x")"#,
      #"mosaic.log(1)"#, #"mosaic.lock(1)"#, #"mosaic.lock("a", {timeout=0/0})"#,
      #"mosaic.lock("a", 1)"#, #"mosaic.json.encode(0/0)"#, #"mosaic.json.encode(1/0)"#,
      #"mosaic.json.decode({})"#, #"mosaic.write_file({}, "a")"#,
      #"mosaic.write_file("/tmp/x", "a", -1)"#, #"heartbeat.read({})"#,
      #"heartbeat.read("a", 0/0)"#, #"heartbeat.read("a", -1)"#, #"heartbeat.read("a", 1/0)"#,
      #"heartbeat.read("../x")"#, #"heartbeat.health("x", 15)"#, #"heartbeat.health(0/0, 15)"#,
      #"heartbeat.health(1, 0/0)"#, #"heartbeat.health(1, 15, 1/0)"#, #"heartbeat.write({})"#,
      #"heartbeat.write("a", {interval=0/0})"#, #"heartbeat.write("a", {pid=-1})"#,
      #"heartbeat.respond("a", {interval=0/0})"#, #"heartbeat.respond("a", {interval=-1})"#,
      #"heartbeat.wrap("a", "x")"#, #"heartbeat.wrap("a", {})"#, #"heartbeat.wrap("a", {1})"#,
      #"heartbeat.wrap("a", {"true"}, {interval=-1})"#,
    ]
    try writeRoster(
      "return { socket = \"mt-nosuch-\(getpid())\", agents = { { name = \"a\", runtime = \"stub\" } } }\n",
      mode: 0o600)
    for call in calls {
      // Line 3 of the script makes the call (not as a tail call, which would drop the frame).
      let script = try write(
        "call.lua",
        "local ok, err = pcall(function()\n  local results = {\n    \(call)\n  }\n  return results\nend)\n"
          + "print(ok, err)\n")
      let r = try run(["run", "--timeout", "5", script], timeout: 10)
      assertNoCrash(r, call)
      XCTAssertTrue(
        r.stdout.hasPrefix("false\t\(script):3: bad argument #"), "\(call): \(r.stdout) \(r.stderr)"
      )
      XCTAssertLessThan(r.elapsed, 5, call)
    }
  }

  /// Hostile lease files: a lease is honoured only while its holder runs (the same pid AND
  /// the same start time: a reused pid is not the holder), and `fleet ps` never hangs or
  /// fails on one.
  func testHostileLeasesAreIgnored() throws {
    let runDir = config + "/fleet/run"
    try FileManager.default.createDirectory(
      atPath: runDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try writeRoster(
      "return { socket = \"mt-nosuch-\(getpid())\", agents = { { name = \"a\", runtime = \"stub\" } } }\n",
      mode: 0o600)
    // This test process is a live holder; its start time is field 22 of /proc/self/stat.
    let stat = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
    let afterComm = stat[stat.range(of: ")", options: .backwards)!.upperBound...]
    let start = try XCTUnwrap(Int(afterComm.split(separator: " ")[19]))
    let me = getpid()
    let lease = { (pid: String, start: String) in
      "{\"holder\":\"op@vm\",\"since\":\"2026-11-30T00:00:00Z\",\"pid\":\(pid),\"pid_start\":\(start)}\n"
    }
    let cases: [(String, Bool, (String) throws -> Void)] = [
      ("the live holder", true, { p in try Self.put(lease("\(me)", "\(start)"), p) }),
      (
        "a reused pid (start time differs)", false,
        { p in try Self.put(lease("\(me)", "\(start + 1)"), p) }
      ),
      ("pid 1, another start", false, { p in try Self.put(lease("1", "999999999"), p) }),
      ("a pid that does not run", false, { p in try Self.put(lease("2147483646", "1"), p) }),
      ("pid too large", false, { p in try Self.put(lease("99999999999999", "1"), p) }),
      ("pid negative", false, { p in try Self.put(lease("-1", "1"), p) }),
      ("pid NaN", false, { p in try Self.put(lease("\"nan\"", "1"), p) }),
      ("not JSON", false, { p in try Self.put("pid=\(me)\n", p) }),
      (
        "5 KiB", false,
        { p in try Self.put(String(repeating: " ", count: 5000) + lease("\(me)", "\(start)"), p) }
      ),
      ("FIFO", false, { p in XCTAssertEqual(mkfifo(p, 0o600), 0) }),
      (
        "symlink to a good lease", false,
        { p in
          try Self.put(lease("\(me)", "\(start)"), p + ".real")
          try FileManager.default.createSymbolicLink(atPath: p, withDestinationPath: p + ".real")
        }
      ),
      (
        "world-writable", false,
        { p in
          try Self.put(lease("\(me)", "\(start)"), p)
          chmod(p, 0o666)
        }
      ),
    ]
    for (what, honoured, make) in cases {
      let path = runDir + "/a.lease"
      try? FileManager.default.removeItem(atPath: path)
      try? FileManager.default.removeItem(atPath: path + ".real")
      try make(path)
      if !what.hasPrefix("world") && !what.hasPrefix("FIFO") { chmod(path, 0o600) }
      let r = try run(["fleet", "ps", "--json"], timeout: 5)
      assertNoCrash(r, what)
      XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
      let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
      let row = (json?["agents"] as? [[String: Any]])?.first
      let held = row?["lease"] is [String: Any]
      XCTAssertEqual(held, honoured, "\(what): \(row?["lease"] ?? "no row")")
      XCTAssertLessThan(r.elapsed, 5, what)
    }
  }

  // MARK: Limits that must hold

  /// Lua runs `__gc` with hooks off, so the time limit's hook cannot stop a finalizer that
  /// loops: the process is ended shortly after the limit, with one line saying so.
  func testAFinalizerThatLoopsCannotOutliveTheTimeLimit() throws {
    for trigger in ["collectgarbage()", "-- (the state is closed at exit)"] {
      let script = try write(
        "gc.lua",
        "setmetatable({}, { __gc = function() while true do end end })\n\(trigger)\n")
      let r = try run(["run", "--timeout", "1", script], timeout: 8)
      assertNoCrash(r, trigger)
      XCTAssertEqual(r.status, 1, trigger)
      XCTAssertLessThan(r.elapsed, 5, trigger)
      XCTAssertTrue(
        r.stderr.hasPrefix("mosaic: time limit exceeded (1 s): the script could not be stopped"),
        "\(trigger): \(r.stderr)")
    }
  }

  /// A program's output is capped like the script's memory: `exec` says so and stops it.
  func testExecOutputIsCappedByTheMemoryLimit() throws {
    let script = try write(
      "exec.lua",
      """
      local r, err = mosaic.exec({"head", "-c", "300000000", "/dev/zero"})
      print(r, err)
      print(#mosaic.exec({"head", "-c", "1000", "/dev/zero"}).stdout)
      """)
    let r = try run(["run", "--memory", "32", script], timeout: 20)
    assertNoCrash(r, "exec")
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(
      r.stdout,
      "nil\thead: output larger than 33554432 bytes (the script's memory limit); the program "
        + "was stopped\n1000\n")
    XCTAssertLessThan(r.elapsed, 10)
  }

  /// `mosaic shell` reading a script on stdin: linear in its length, and capped.
  func testTheShellReadsStdinInLinearTimeAndCapsIt() throws {
    let lines = (1...60_000).map { "-- comment line \($0)" }.joined(separator: "\n")
    let r = try run(["shell"], stdin: Array((lines + "\nerror('last')\n").utf8), timeout: 20)
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(r.stderr.hasPrefix("mosaic: stdin:60001: last"), r.stderr)
    XCTAssertLessThan(r.elapsed, 3, "60,000 lines took \(r.elapsed) s")

    let huge = [UInt8](repeating: UInt8(ascii: "-"), count: 65 << 20)
    let big = try run(["shell"], stdin: huge, timeout: 20)
    assertNoCrash(big, "65 MiB on stdin")
    XCTAssertEqual(big.status, 1)
    XCTAssertEqual(big.stderr, "mosaic: stdin: a script larger than 67108864 bytes\n")
  }

  /// Hostile probe files before a responder: it ignores them (no answer for garbage), never
  /// hangs or crashes, and still answers the next real probe.
  func testHostileProbesLeaveTheResponderAnswering() throws {
    let runDir = config + "/fleet/run"
    try FileManager.default.createDirectory(
      atPath: runDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try writeRoster("return { agents = { { name = \"a\", runtime = \"stub\" } } }\n", mode: 0o600)
    let responder = Process()
    responder.executableURL = URL(fileURLWithPath: binary)
    responder.arguments = ["heartbeat", "a", "--interval", "1"]
    responder.environment = environment([:])
    responder.standardOutput = FileHandle.nullDevice
    responder.standardError = FileHandle.nullDevice
    try responder.run()
    defer {
      responder.terminate()
      responder.waitUntilExit()
    }
    let probe = runDir + "/a.probe"
    let cases: [(String, (String) throws -> Void)] = [
      ("FIFO", { p in XCTAssertEqual(mkfifo(p, 0o600), 0) }),
      (
        "directory",
        { p in
          try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false)
        }
      ),
      (
        "symlink",
        { p in
          try Self.put("abcdef12\n", p + ".real")
          try FileManager.default.createSymbolicLink(atPath: p, withDestinationPath: p + ".real")
        }
      ),
      ("1 MiB", { p in try Self.put(String(repeating: "a", count: 1 << 20), p) }),
      ("control bytes", { p in try Self.put("\u{1b}]0;x\u{7}\n", p) }),
      ("NUL", { p in try Self.put("abc\u{0}def\n", p) }),
      (
        "world-writable",
        { p in
          try Self.put("abcdef12\n", p)
          chmod(p, 0o666)
        }
      ),
    ]
    for (what, make) in cases {
      try make(probe)
      usleep(1_500_000)  // the responder looks at least once a second
      let hb = try String(contentsOfFile: runDir + "/a.hb", encoding: .utf8)
      XCTAssertFalse(hb.contains("probe=abcdef12"), "\(what): a hostile probe was answered: \(hb)")
      XCTAssertTrue(responder.isRunning, "\(what): the responder died")
      // A real probe is still answered.
      let r = try run(["-e", "print(fleet.probe('a', 3).a)"], timeout: 10)
      XCTAssertEqual(r.stdout, "true\n", "\(what): \(r.stderr)")
      try? FileManager.default.removeItem(atPath: probe)
      try? FileManager.default.removeItem(atPath: probe + ".real")
    }
  }
}
