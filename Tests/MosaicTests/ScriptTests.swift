import Foundation
import XCTest

/// End to end on the built `mosaic` binary: `-e`, `run`, `FILE.lua`, shebang scripts, exit
/// statuses, errors, limits, the `mosaic` module's process and time primitives, command
/// dispatch, module search order, and bad input that must never crash it.
///
/// The binary is `$MOSAIC_BIN`, else `mosaic` next to the test bundle in the build
/// products directory. Every run gets an empty HOME and MOSAIC_HOME of its own.
final class ScriptTests: BinaryTestCase {
  // MARK: -e and JSON

  func testEvalPrintsJSON() throws {
    let r = try eval("print(mosaic.json.encode({1,2,{}}))")
    XCTAssertEqual(r.stdout, "[1,2,[]]\n")
    XCTAssertEqual(r.stderr, "")
    XCTAssertEqual(r.status, 0)
  }

  func testJSONRoundTripKeepsKeyOrderAndNulls() throws {
    let doc =
      #"{"zeta":1,"alpha":null,"list":[1,null,{}],"empty":{},"none":[],"n":{"b":2.5,"a":"x"}}"#
    let r = try eval(
      """
      local doc = assert(mosaic.json.decode(arg[1] or \(luaString(doc))))
      assert(doc.alpha == nil and doc.list[2] == mosaic.json.null, "nulls")
      doc.added = true
      print(mosaic.json.encode(doc))
      print(mosaic.json.encode({b = 1, a = 2, c = mosaic.json.object{}}))
      print(mosaic.json.decode("{oops"))
      """)
    XCTAssertEqual(r.status, 0, r.stderr)
    let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    XCTAssertEqual(lines.first.map(String.init), String(doc.dropLast()) + #","added":true}"#)
    XCTAssertEqual(lines.dropFirst().first, #"{"a":2,"b":1,"c":{}}"#)
    XCTAssertTrue(lines.dropFirst(2).first?.hasPrefix("nil\tinvalid JSON") ?? false, r.stdout)
  }

  func testJSONEncodeErrorsNameTheCaller() throws {
    let r = try eval("local t = {} t.self = t\nmosaic.json.encode(t)")
    XCTAssertEqual(r.status, 1)
    XCTAssertTrue(
      r.stderr.hasPrefix(
        "mosaic: (command line):2: bad argument #1 to 'encode' (value.self: table contains itself)"),
      r.stderr)
  }

  func testSeveralChunksAndAScript() throws {
    try write("tail.lua", "print('script', X, arg[0], ...)")
    let r = try run(["-e", "X = 1", "-e", "X = X + 1", "tail.lua", "p", "q"])
    XCTAssertEqual(r.stdout, "script\t2\ttail.lua\tp\tq\n")
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  // MARK: Scripts and arguments

  func testRunFileWithArguments() throws {
    let path = try write(
      "args.lua",
      """
      print(arg[0], arg[1], arg[2], #arg)
      print(select("#", ...), ...)
      """)
    let r = try run(["run", path, "a", "b c"])
    XCTAssertEqual(r.stdout, "\(path)\ta\tb c\t2\n2\ta\tb c\n")
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testLuaFileAsTheCommand() throws {
    try write("direct.lua", "print('direct', ...)")
    let r = try run(["direct.lua", "x"])
    XCTAssertEqual(r.stdout, "direct\tx\n")
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testScriptFromStdin() throws {
    let r = try run(["-", "one"], stdin: Array("print('from stdin', ...)".utf8))
    XCTAssertEqual(r.stdout, "from stdin\tone\n")
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testShebangScript() throws {
    let path = try write(
      "tool",
      """
      #!/usr/bin/env mosaic
      print("tool", arg[0] ~= nil, ...)
      if ... == "fail" then
        error("failed on purpose")
      end
      """, mode: 0o755)
    let ok = try run(["x", "y"], executable: path)
    XCTAssertEqual(ok.stdout, "tool\ttrue\tx\ty\n")
    XCTAssertEqual(ok.status, 0, ok.stderr)
    let bad = try run(["fail"], executable: path)
    XCTAssertEqual(bad.status, 1)
    // The shebang line is gone but still counted: the error is on line 4.
    XCTAssertTrue(bad.stderr.hasPrefix("mosaic: \(path):4: failed on purpose"), bad.stderr)
    XCTAssertTrue(bad.stderr.contains("stack traceback:"), bad.stderr)
  }

  func testExitStatus() throws {
    XCTAssertEqual(try eval("io.write('out') os.exit(3)").status, 3)
    XCTAssertEqual(try eval("io.write('out') os.exit(3)").stdout, "out", "buffers flushed")
    XCTAssertEqual(try eval("os.exit(true)").status, 0)
    XCTAssertEqual(try eval("os.exit(false)").status, 1)
    XCTAssertEqual(try eval("os.exit(0, true)").status, 0)
    XCTAssertEqual(try eval("local x = 1").status, 0)
    try write("exit.lua", "os.exit(7)")
    XCTAssertEqual(try run(["run", "exit.lua"]).status, 7)
  }

  func testUncaughtError() throws {
    let path = try write(
      "boom.lua",
      """
      print("before")
      local function explode() error("kaboom") end
      explode()
      """)
    let r = try run(["run", path])
    XCTAssertEqual(r.status, 1)
    XCTAssertEqual(r.stdout, "before\n")
    XCTAssertTrue(r.stderr.hasPrefix("mosaic: \(path):2: kaboom"), r.stderr)
    XCTAssertTrue(r.stderr.contains("stack traceback:"), r.stderr)
    XCTAssertTrue(r.stderr.contains("\(path):3: in main chunk"), r.stderr)
    let e = try eval("error({})")
    XCTAssertEqual(e.status, 1)
    XCTAssertTrue(e.stderr.hasPrefix("mosaic: (error object is a table value)"), e.stderr)
    let s = try eval("x = = 1")
    XCTAssertEqual(s.status, 1)
    XCTAssertTrue(s.stderr.hasPrefix("mosaic: (command line):1: unexpected symbol"), s.stderr)
  }

  func testWarningsFromFailingFinalizers() throws {
    let r = try eval(
      """
      warn("@on")
      setmetatable({}, {__gc = function() error("finalizer failed") end})
      collectgarbage()
      print("still here")
      """)
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.stdout, "still here\n")
    XCTAssertTrue(r.stderr.contains("warning"), r.stderr)
    XCTAssertTrue(r.stderr.contains("finalizer failed"), r.stderr)
    assertNoCrash(r, "__gc error")
  }

  // MARK: Usage, version, help

  func testUsageErrors() throws {
    let noFile = try run(["run"])
    XCTAssertEqual(noFile.status, 64)
    XCTAssertTrue(noFile.stderr.hasPrefix("mosaic: run: missing FILE"), noFile.stderr)
    let bogus = try run(["--bogus"])
    XCTAssertEqual(bogus.status, 64)
    XCTAssertTrue(bogus.stderr.hasPrefix("mosaic: unknown option '--bogus'"), bogus.stderr)
    let unknown = try run(["nosuchcmd"])
    XCTAssertEqual(unknown.status, 64)
    XCTAssertTrue(unknown.stderr.hasPrefix("mosaic: unknown command 'nosuchcmd'"), unknown.stderr)
    XCTAssertFalse(unknown.stderr.contains("did you mean"), unknown.stderr)
    let typo = try run(["hepl"])
    XCTAssertEqual(typo.status, 64)
    XCTAssertTrue(typo.stderr.contains("did you mean 'help'?"), typo.stderr)
    let noChunk = try run(["-e"])
    XCTAssertEqual(noChunk.status, 64)
    XCTAssertTrue(noChunk.stderr.hasPrefix("mosaic: "), noChunk.stderr)
    for args in [
      ["run", "--timeout"], ["run", "--timeout", "abc", "x.lua"],
      ["run", "--memory", "-1", "x.lua"],
      ["run", "--nope", "x.lua"],
    ] {
      let r = try run(args)
      XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
      XCTAssertTrue(r.stderr.hasPrefix("mosaic: run: "), "\(args): \(r.stderr)")
      assertNoCrash(r, "\(args)")
    }
    XCTAssertEqual(noFile.stdout + bogus.stdout + unknown.stdout, "", "usage errors go to stderr")
  }

  func testVersion() throws {
    let r = try run(["--version"])
    XCTAssertEqual(r.status, 0)
    XCTAssertTrue(r.stdout.hasPrefix("mosaic "), r.stdout)
    XCTAssertTrue(r.stdout.contains("Lua 5.4"), r.stdout)
    XCTAssertEqual(r.stdout.split(separator: "\n").count, 1)
  }

  func testHelpListsCommands() throws {
    let r = try run(["help"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stdout.contains("Usage:"), r.stdout)
    XCTAssertTrue(r.stdout.contains("Commands:"), r.stdout)
    XCTAssertTrue(r.stdout.contains("  help "), r.stdout)
    XCTAssertEqual(try run([]).stdout, r.stdout, "no arguments is help")
    XCTAssertEqual(try run(["--help"]).stdout, r.stdout)
    for args in [["help", "--help"], ["help", "help"]] {
      let again = try run(args)
      XCTAssertEqual(again.status, 0, "\(args): \(again.stderr)")
      XCTAssertEqual(again.stdout, r.stdout, "\(args)")
    }
    let unknown = try run(["help", "nosuch"])
    XCTAssertEqual(unknown.status, 64)
    XCTAssertTrue(unknown.stderr.hasPrefix("mosaic: unknown command 'nosuch'"), unknown.stderr)
  }

  // MARK: Limits

  func testTimeoutStopsALoop() throws {
    try write("loop.lua", "while true do end")
    try write("ploop.lua", "while true do pcall(function() end) end")
    try write("sleepy.lua", "mosaic.sleep(30)")
    try write("child.lua", "pcall(mosaic.exec, {'sleep', '30'}) print('not reached')")
    for script in ["loop.lua", "ploop.lua", "sleepy.lua", "child.lua"] {
      let r = try run(["run", "--timeout", "1", script], timeout: 20)
      XCTAssertEqual(r.status, 1, script)
      XCTAssertTrue(
        r.stderr.hasPrefix("mosaic: time limit exceeded (1 s)"), "\(script): \(r.stderr)")
      XCTAssertGreaterThanOrEqual(r.elapsed, 0.9, script)
      XCTAssertLessThan(r.elapsed, 5, script)
    }
    try write("quick.lua", "print('quick')")
    let quick = try run(["run", "--timeout", "1e300", "quick.lua"])
    XCTAssertEqual(quick.stdout, "quick\n", quick.stderr)
    assertNoCrash(quick, "timeout 1e300")
  }

  func testMemoryCap() throws {
    try write("big.lua", "local s = string.rep('x', 100e6) print(#s)")
    try write("grow.lua", "local t = {} while true do t[#t + 1] = {} end")
    try write(
      "pgrow.lua",
      "while true do pcall(function() local t = {} for i = 1, 1e7 do t[i] = i end end) end")
    for script in ["big.lua", "grow.lua", "pgrow.lua"] {
      let r = try run(["run", "--memory", "20", script], timeout: 30)
      XCTAssertEqual(r.status, 1, script)
      XCTAssertEqual(r.stdout, "", script)
      XCTAssertTrue(
        r.stderr.hasPrefix("mosaic: memory limit exceeded (20 MiB)")
          || r.stderr.contains("not enough memory"), "\(script): \(r.stderr)")
      assertNoCrash(r, script)
    }
    // Any positive size is a cap, never a crash.
    for size in ["1e300", "0.000001", "0.5"] {
      let r = try run(["run", "--memory", size, "big.lua"], timeout: 30)
      assertNoCrash(r, size)
      XCTAssertEqual(r.status, size == "1e300" ? 0 : 1, "\(size): \(r.stderr)")
    }
  }

  // MARK: The mosaic module

  func testExecCapturesOutputWithoutAShell() throws {
    let r = try eval(
      """
      local r = mosaic.exec({"printf", "%s|%s", "a;b", "$HOME"})
      io.write(r.stdout, " ", r.status, " ", tostring(r.timed_out), " ", tostring(r.signal), "\\n")
      local e = mosaic.exec({"sh", "-c", "echo err >&2; exit 4"})
      io.write(e.stderr, e.status, "\\n")
      """)
    XCTAssertEqual(r.stdout, "a;b|$HOME 0 false nil\nerr\n4\n")
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testExecStdinWithNULBytes() throws {
    let r = try eval(
      """
      local input = "a\\0b\\0\\255\\n" .. string.rep("z", 200000)
      local r = mosaic.exec({"cat"}, {stdin = input})
      print(r.stdout == input, #r.stdout, r.status)
      """)
    XCTAssertEqual(r.stdout, "true\t200006\t0\n")
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  func testExecTimeoutKillsTheProgram() throws {
    let r = try eval(
      """
      local t = mosaic.monotonic()
      local r = mosaic.exec({"sleep", "10"}, {timeout = 0.5})
      local took = mosaic.monotonic() - t
      print(r.timed_out, r.signal, took >= 0.4, took < 5)
      """)
    XCTAssertEqual(r.stdout, "true\t9\ttrue\ttrue\n")
    XCTAssertLessThan(r.elapsed, 8)
    let huge = try eval("print(mosaic.exec({'true'}, {timeout = 1e300}).status)")
    XCTAssertEqual(huge.stdout, "0\n", huge.stderr)
    assertNoCrash(huge, "timeout 1e300")
  }

  func testExecFailures() throws {
    let r = try eval("print(mosaic.exec({'/nonexistent'}))")
    XCTAssertEqual(r.stdout, "nil\tcannot run /nonexistent: No such file or directory\n")
    XCTAssertEqual(r.status, 0)
    let bad = try eval("mosaic.exec('ls')")
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(
      bad.stderr.hasPrefix("mosaic: (command line):1: bad argument #1 to 'exec'"), bad.stderr)
    let opt = try eval("mosaic.exec({'true'}, {timeuot = 1})")
    XCTAssertTrue(opt.stderr.contains("did you mean 'timeout'?"), opt.stderr)
    let env = try eval(
      "print(mosaic.exec({'sh', '-c', 'printf %s \"$MT_X\"'}, {env = {MT_X = 'set'}}).stdout)")
    XCTAssertEqual(env.stdout, "set\n", env.stderr)
    let noEnv = try eval("print(mosaic.exec({'true'}, {env = {}}).status)")
    XCTAssertEqual(noEnv.stdout, "0\n", noEnv.stderr)
    let badEnv = try eval("mosaic.exec({'true'}, {env = 'PATH=/'})")
    XCTAssertEqual(badEnv.status, 1)
    XCTAssertTrue(
      badEnv.stderr.hasPrefix(
        "mosaic: (command line):1: bad argument #2 to 'exec' (env: table of strings expected)"),
      badEnv.stderr)
  }

  func testSleepAndClocks() throws {
    let r = try eval(
      """
      local t, w = mosaic.monotonic(), mosaic.now()
      mosaic.sleep(0.1)
      local d = mosaic.monotonic() - t
      print(d >= 0.1, d < 2, math.abs(mosaic.now() - w - d) < 1, w > 1.7e9)
      """)
    XCTAssertEqual(r.stdout, "true\ttrue\ttrue\ttrue\n", r.stderr)
    let bad = try eval("mosaic.sleep(-1)")
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(bad.stderr.contains("bad argument #1 to 'sleep'"), bad.stderr)
  }

  func testHostname() throws {
    let expected = try run(["-s"], executable: "/bin/hostname")
    XCTAssertEqual(expected.status, 0)
    let r = try eval("print(mosaic.hostname())")
    XCTAssertEqual(r.stdout, expected.stdout)
    XCTAssertFalse(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
  }

  // MARK: The binary alone, commands, module search

  func testBinaryCopiedAlone() throws {
    let alone = try makeDirectory("mosaic-alone")
    defer { try? FileManager.default.removeItem(atPath: alone) }
    let copy = alone + "/mosaic"
    try FileManager.default.copyItem(atPath: binary, toPath: copy)
    let empty = dir + "/empty-home"
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    let env = ["HOME": empty, "MOSAIC_HOME": empty, "PATH": "/usr/bin:/bin"]
    let e = try run(
      ["-e", "print(mosaic.json.encode({ok = true}), mosaic.version ~= nil)"], env: env, cwd: alone,
      executable: copy)
    XCTAssertEqual(e.stdout, "{\"ok\":true}\ttrue\n", e.stderr)
    XCTAssertEqual(e.status, 0)
    let h = try run(["help"], env: env, cwd: alone, executable: copy)
    XCTAssertEqual(h.status, 0, h.stderr)
    XCTAssertTrue(h.stdout.contains("Commands:"), h.stdout)
    XCTAssertTrue(h.stdout.contains("  help "), h.stdout)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: alone), ["mosaic"])
  }

  func testUserCommand() throws {
    try write(
      "config/commands/team/report.lua",
      """
      --- Weekly team report
      print("report", arg[0], select("#", ...), ...)
      return 5
      """)
    let r = try run(["team", "report", "x", "y z"])
    XCTAssertEqual(r.stdout, "report\tmosaic team report\t2\tx\ty z\n")
    XCTAssertEqual(r.status, 5, r.stderr)
    let help = try run(["help"])
    XCTAssertTrue(help.stdout.contains("team report"), help.stdout)
    XCTAssertTrue(help.stdout.contains("Weekly team report"), help.stdout)
    let group = try run(["team"])
    XCTAssertEqual(group.status, 64)
    XCTAssertTrue(group.stderr.contains("team report"), group.stderr)
    let typo = try run(["team", "reprot"])
    XCTAssertEqual(typo.status, 64)
    XCTAssertTrue(typo.stderr.contains("did you mean 'team report'?"), typo.stderr)
    try write("config/commands/oops.lua", "error('broken command')")
    let broken = try run(["oops"])
    XCTAssertEqual(broken.status, 1)
    XCTAssertTrue(broken.stderr.hasPrefix("mosaic: "), broken.stderr)
    XCTAssertTrue(broken.stderr.contains("broken command"), broken.stderr)
  }

  func testModuleSearchOrder() throws {
    try write("lp/mosaic/inspect.lua", "return function() return 'OVERRIDE' end")
    try write("lp2/extra.lua", "return 'second root'")
    let lp = ["MOSAIC_LUA_PATH": dir + "/lp:" + dir + "/lp2"]
    let code = "print(require('mosaic.inspect')({}), mosaic.inspect({}), (require('extra')))"
    let shipped = try eval("print(mosaic.inspect({1}))")
    XCTAssertEqual(shipped.status, 0, shipped.stderr)
    XCTAssertNotEqual(shipped.stdout, "OVERRIDE\n")
    let override = try eval(code, env: lp)
    XCTAssertEqual(override.stdout, "OVERRIDE\tOVERRIDE\tsecond root\n", override.stderr)
    try write("config/lua/mosaic/inspect.lua", "return function() return 'CONFIG' end")
    let config = try eval(code, env: lp)
    XCTAssertEqual(config.stdout, "CONFIG\tCONFIG\tsecond root\n", config.stderr)
    try write("lp/broken.lua", "return = 1")
    let broken = try eval("require('broken')", env: lp)
    XCTAssertEqual(broken.status, 1)
    XCTAssertTrue(broken.stderr.contains("error loading module 'broken'"), broken.stderr)
    let missing = try eval("require('no.such.module')")
    XCTAssertEqual(missing.status, 1)
    XCTAssertTrue(missing.stderr.contains("module 'no.such.module' not found"), missing.stderr)
  }

  /// argparse is shipped inside the binary (lua/argparse.lua) and found before the
  /// system's copy; the system's Lua 5.4 paths still come after it, so Debian's lua-*
  /// packages load (lua-filesystem's C module, installed with lua-check).
  func testSystemLuaModules() throws {
    let r = try eval(
      """
      local argparse, from = require "argparse"
      local p = argparse("x")
      p:argument("name")
      print(p:parse({"bob"}).name, from)
      local lfs, lfs_from = require "lfs"
      print(type(lfs.attributes), lfs_from)
      """)
    XCTAssertEqual(r.status, 0, r.stderr)
    let lines = r.stdout.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.first, "bob\t@[mosaic]/argparse.lua", r.stdout)
    XCTAssertEqual(lines.count, 2, r.stdout)
    XCTAssertTrue(lines.last?.hasPrefix("function\t/") ?? false, r.stdout)
    XCTAssertTrue(lines.last?.hasSuffix("/lfs.so") ?? false, r.stdout)
  }

  // MARK: Bad input never crashes

  func testBadInputNeverCrashes() throws {
    let missing = try run(["run", dir + "/missing.lua"])
    XCTAssertEqual(missing.status, 1)
    XCTAssertTrue(missing.stderr.hasPrefix("mosaic: cannot read script: "), missing.stderr)
    assertNoCrash(missing, "missing script")

    try FileManager.default.createDirectory(
      atPath: dir + "/adir.lua", withIntermediateDirectories: true)
    for args in [["run", dir + "/adir.lua"], ["adir.lua"], [dir]] {
      let r = try run(args)
      XCTAssertEqual(r.status, 1, "\(args)")
      XCTAssertTrue(r.stderr.hasPrefix("mosaic: "), "\(args): \(r.stderr)")
      XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
      assertNoCrash(r, "\(args)")
    }

    // A string that is not UTF-8 is fine; a name that is not ASCII is a syntax error.
    try write(
      "bad.lua",
      Data(
        Array("print('".utf8) + [0xFF, 0xFE] + Array("')\nlocal ".utf8) + [0xFF]
          + Array(" = 1\n".utf8)))
    let bad = try run(["run", "bad.lua"])
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(bad.stderr.hasPrefix("mosaic: bad.lua:2:"), bad.stderr)
    assertNoCrash(bad, "non-UTF-8 script")

    let comment = String(
      repeating: "-- " + String(repeating: "x", count: 97) + "\n", count: 100_000)
    try write("comments.lua", comment + "print('done')\n")
    let big = try run(["run", "comments.lua"])
    XCTAssertEqual(big.stdout, "done\n", big.stderr)
    XCTAssertEqual(big.status, 0)

    try write("empty.lua", "")
    try write("onlybang.lua", "#!/usr/bin/env mosaic")
    try write("binary.lua", Data([0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00, 0x19, 0x93]))
    for (script, status) in [("empty.lua", 0), ("onlybang.lua", 0), ("binary.lua", 1)] {
      let r = try run(["run", script])
      XCTAssertEqual(r.status, Int32(status), "\(script): \(r.stderr)")
      assertNoCrash(r, script)
    }
  }

  func testBadValuesFromLuaNeverCrash() throws {
    let chunks = [
      "print(#mosaic.json.decode(string.rep('[', 500) .. string.rep(']', 500)))",
      "local t = {} for i = 1, 195 do t = {t} end print(#mosaic.json.encode(t))",
      "local t = {} for i = 1, 5000 do t = {t} end print(pcall(mosaic.json.encode, t))",
      "print(coroutine.wrap(function() local t = {} for i = 1, 195 do t = {t} end return #mosaic.json.encode(t) end)())",
      "print(pcall(mosaic.json.decode, string.rep('[', 100000)))",
      "print(pcall(mosaic.write_file, '\(dir)/w', 'x', -1))",
      "print(pcall(mosaic.write_file, '\(dir)/w', 'x', 2^40))",
      "print(require('mosaic._host').isatty(2^40))",
      "print(pcall(mosaic.sleep, 0/0))",
      "print(pcall(mosaic.exec, {}))",
      "print(pcall(mosaic.exec, {'true'}, {timeout = -1}))",
      "print(pcall(mosaic.exec, {'true'}, {timeout = 0/0}))",
      "print(pcall(mosaic.exec, {'\\0'}))",
      "print(pcall(mosaic.exec, {'true'}, {stdin = {}}))",
      "print(pcall(mosaic.json.encode, {[1] = 1, [2^53] = 2}))",
      "print(pcall(mosaic.log, nil))",
    ]
    for chunk in chunks {
      let r = try eval(chunk)
      assertNoCrash(r, chunk)
      XCTAssertEqual(r.status, 0, "\(chunk): \(r.stderr)")
      XCTAssertFalse(r.stdout.isEmpty, chunk)
    }
  }

  private func luaString(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
      + "'"
  }
}
