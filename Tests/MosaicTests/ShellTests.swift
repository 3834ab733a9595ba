import Foundation
import MosaicSupport
import XCTest

/// `mosaic shell` end to end on the built binary: stdin as a script through a pipe, and
/// the interactive REPL through a real terminal (a tmux server on a socket of its own).
final class ShellTests: XCTestCase {
  private var home: URL!
  private var terminals: [ShellTerminal] = []

  override func setUpWithError() throws {
    home = FileManager.default.temporaryDirectory
      .appendingPathComponent("mt-shell-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    let binary = ShellTests.binary
    guard FileManager.default.isExecutableFile(atPath: binary) else {
      throw TerminalError("no mosaic binary at \(binary): build it, or set MOSAIC_BIN to its path")
    }
  }

  override func tearDown() {
    for terminal in terminals { terminal.kill() }
    terminals = []
    if let home { try? FileManager.default.removeItem(at: home) }
  }

  // MARK: Without a terminal

  func testScriptPrintsExpressionValues() throws {
    let r = try runPiped("x = {1, {a=2}}\nx\n")
    XCTAssertEqual(r.stdout, "{ 1, { a = 2 } }\n")
    XCTAssertEqual(r.stderr, "")
    XCTAssertEqual(r.status, 0)
  }

  func testScriptRunsStatementsInOrderWithContinuation() throws {
    let r = try runPiped(
      """
      local n = 0
      function f(a,
                 b)
        return a + b, "x"
      end
      f(1, 2)

      print("done")
      "text"

      """)
    XCTAssertEqual(r.stdout, "3\tx\ndone\ntext\n")
    XCTAssertEqual(r.status, 0)
  }

  func testScriptStopsAtTheFirstError() throws {
    let r = try runPiped("print(1)\n\nerror(\"boom\")\nprint(2)\n")
    XCTAssertEqual(r.stdout, "1\n")
    XCTAssertTrue(r.stderr.hasPrefix("mosaic: stdin:3: boom\nstack traceback:"), r.stderr)
    XCTAssertEqual(r.status, 1)
  }

  func testScriptSyntaxErrorAndIncompleteEnd() throws {
    let bad = try runPiped("print(1)\nx = = 2\nprint(2)\n")
    XCTAssertEqual(bad.stdout, "1\n")
    XCTAssertTrue(bad.stderr.hasPrefix("mosaic: stdin:2: unexpected symbol near '='"), bad.stderr)
    XCTAssertEqual(bad.status, 1)

    let cut = try runPiped("print(1)\nfor i = 1, 2 do\n  print(i)\n")
    XCTAssertEqual(cut.stdout, "1\n")
    XCTAssertTrue(
      cut.stderr.hasPrefix("mosaic: stdin:3: 'end' expected (to close 'for' at line 2) near <eof>"),
      cut.stderr)
    XCTAssertEqual(cut.status, 1)
  }

  func testScriptSeesInitLua() throws {
    try writeInit("greeting = 'hello from init'\n")
    let r = try runPiped("greeting\n")
    XCTAssertEqual(r.stdout, "hello from init\n")
    XCTAssertEqual(r.status, 0)
  }

  func testCompletionCandidates() throws {
    let r = try runPiped(
      """
      c = require("mosaic._repl").complete
      obj = setmetatable({own = 1, fn = print}, {__index = {inherited = 2, _hidden = 3, m = print}})
      s = "abc"
      c("fle")
      c("x = mosaic.js")
      c("mosaic.json.e")
      c('("x"):up')
      c("s:rep")
      c("obj.")
      c("obj:")
      c("obj._")
      c("f().x")
      c("12a")
      c("whi")
      c("nope.x")

      """)
    XCTAssertEqual(
      r.stdout.split(separator: "\n").map(String.init),
      [
        "{ \"fleet\" }\tfle", "{ \"json\" }\tjs", "{ \"encode\" }\te", "{ \"upper\" }\tup",
        "{ \"rep\" }\trep", "{ \"fn\", \"inherited\", \"m\", \"own\" }\t", "{ \"fn\", \"m\" }\t",
        "{ \"_hidden\" }\t_", "{}\tx", "{}\t12a", "{ \"while\" }\twhi", "{}\tx",
      ], r.stderr)
    XCTAssertEqual(r.status, 0)
  }

  func testHelpAndUsageErrors() throws {
    let help = try runPiped("", arguments: ["shell", "--help"])
    XCTAssertTrue(help.stdout.hasPrefix("Usage: mosaic shell"), help.stdout)
    XCTAssertEqual(help.status, 0)

    let bad = try runPiped("", arguments: ["shell", "--bogus"])
    XCTAssertEqual(bad.stdout, "")
    XCTAssertTrue(bad.stderr.contains("shell: unknown option '--bogus'"), bad.stderr)
    XCTAssertEqual(bad.status, 64)
  }

  // MARK: On a terminal

  func testExpressionsPrintTablesAndStatementsRun() throws {
    let t = try startShell()
    XCTAssertTrue(t.text().contains("shell (Lua 5.4"), t.text())
    try t.enter("x = {1, {a=2}}")
    try t.enter("x", expect: "{ 1, { a = 2 } }")
    try t.enter("#x + 40", expect: "42")
  }

  func testIncompleteInputContinues() throws {
    let t = try startShell()
    try t.enter("function f()", prompt: ">>")
    try t.enter("return 1", prompt: ">>")
    try t.enter("end")
    try t.enter("f() + 100", expect: "101")
    XCTAssertTrue(t.screen().contains(">> return 1"), t.text())
  }

  func testErrorPrintsTracebackAndShellGoesOn() throws {
    let t = try startShell()
    try t.enter("error('boom')", expect: "stdin:1: boom")
    XCTAssertTrue(t.screen().contains("stack traceback:"), t.text())
    try t.enter("x = = 1", expect: "stdin:1: unexpected symbol near '='")
    try t.enter("6 * 7", expect: "42")
  }

  func testTabCompletesGlobalsAndFields() throws {
    let t = try startShell()
    t.type("fle")
    t.keys("Tab")
    try t.waitUntil("'fle' completes to 'fleet'") { $0.last == "> fleet" }
    t.keys("C-u")
    t.type("mosaic.js")
    t.keys("Tab")
    try t.waitUntil("'mosaic.js' completes to 'mosaic.json'") { $0.last == "> mosaic.json" }
    t.type(".enc")
    t.keys("Tab")
    try t.waitUntil("'.enc' completes to '.encode'") { $0.last == "> mosaic.json.encode" }
    t.keys("C-u")
    t.type("fleet.p")
    t.keys("Tab")
    try t.waitUntil("the candidates are listed") { lines in
      lines.contains { $0.contains("probe") && $0.contains("ps") } && lines.last == "> fleet.p"
    }
  }

  func testCtrlCInterruptsRunningCode() throws {
    let t = try startShell()
    for loop in ["while true do end", "while true do pcall(function() end) end"] {
      let before = t.screen().filter { $0 == "interrupted" }.count
      t.type(loop)
      t.keys("Enter")
      try t.waitUntil("the loop runs") { $0.last == "> " + loop }
      Thread.sleep(forTimeInterval: 0.3)
      t.keys("C-c")
      try t.waitUntil("the loop is interrupted") { lines in
        lines.filter { $0 == "interrupted" }.count == before + 1 && lines.last == ">"
      }
    }
    try t.enter("1+1", expect: "2")
  }

  func testCtrlCAtThePromptDiscardsTheLine() throws {
    let t = try startShell()
    t.type("abc def")
    t.keys("Left", "Left", "C-c")
    try t.waitUntil("the line is discarded") { $0.suffix(2) == ["> abc def^C", ">"] }
    try t.enter("for i = 1, 2 do", prompt: ">>")
    t.keys("C-c")
    try t.waitUntil("the continuation is discarded") { $0.suffix(2) == [">> ^C", ">"] }
    try t.enter("40 + 2", expect: "42")
  }

  func testHistoryPersistsAcrossSessions() throws {
    let first = try startShell()
    try first.enter("print('mt-' .. 'history')", expect: "mt-history")
    try first.enter("y = 1")
    first.keys("C-d")
    try first.waitUntil("the first shell leaves") { $0.contains("[exit 0]") }
    first.kill()

    let file = home.appendingPathComponent("state/mosaic/shell_history")
    let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
    XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    let dir = try FileManager.default.attributesOfItem(
      atPath: file.deletingLastPathComponent().path)
    XCTAssertEqual((dir[.posixPermissions] as? NSNumber)?.intValue, 0o700)

    let second = try startShell()
    second.keys("Up")
    try second.waitUntil("Up recalls the newest line") { $0.last == "> y = 1" }
    second.keys("Up")
    try second.waitUntil("Up again recalls the one before") {
      $0.last == "> print('mt-' .. 'history')"
    }
    second.keys("Enter")
    try second.waitUntil("the recalled line runs") { lines in
      lines.filter { $0 == "mt-history" }.count == 1 && lines.last == ">"
    }
  }

  func testInitLuaRunsFirst() throws {
    try writeInit("print('init ran') greeting = 'hello'\n")
    let t = try startShell()
    let lines = t.screen()
    XCTAssertEqual(lines.firstIndex(of: "init ran"), 1, lines.joined(separator: "\n"))
    try t.enter("greeting", expect: "hello")
  }

  func testInitLuaErrorIsReportedAndShellStarts() throws {
    try writeInit("error('bad init')\n")
    let t = try startShell()
    XCTAssertTrue(t.text().contains("init.lua:1: bad init"), t.text())
    try t.enter("1 + 2", expect: "3")
  }

  func testCtrlDLeaves() throws {
    let t = try startShell()
    t.keys("C-d")
    try t.waitUntil("the shell leaves with status 0") { $0.contains("[exit 0]") }
  }

  // MARK: Helpers

  struct Result {
    var stdout: String
    var stderr: String
    var status: Int32
  }

  /// The built `mosaic`: `$MOSAIC_BIN`, else next to this test bundle.
  static var binary: String {
    if let bin = ProcessInfo.processInfo.environment["MOSAIC_BIN"], !bin.isEmpty { return bin }
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var products = me.deletingLastPathComponent()
    if let bundle = Bundle.allBundles.first(where: { $0.bundlePath.hasSuffix(".xctest") }) {
      products = bundle.bundleURL.deletingLastPathComponent()
    }
    return products.appendingPathComponent("mosaic").path
  }

  var shellEnvironment: [String: String] {
    [
      "HOME": home.path,
      "XDG_STATE_HOME": home.appendingPathComponent("state").path,
      "MOSAIC_HOME": home.appendingPathComponent("config").path,
      "LANG": "C.UTF-8",
    ]
  }

  func writeInit(_ source: String) throws {
    let config = home.appendingPathComponent("config")
    try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
    try source.write(
      to: config.appendingPathComponent("init.lua"), atomically: true, encoding: .utf8)
  }

  func runPiped(_ input: String, arguments: [String] = ["shell"]) throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ShellTests.binary)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.merge(shellEnvironment) { $1 }
    process.environment = env
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
      status: process.terminationStatus)
  }

  /// A shell in a fresh tmux server, ready at its first prompt.
  func startShell() throws -> ShellTerminal {
    let t = try ShellTerminal(binary: ShellTests.binary, environment: shellEnvironment)
    terminals.append(t)
    try t.waitUntil("the first prompt") { $0.last == ">" }
    return t
  }
}

/// A terminal to drive: a tmux server on its own socket running `mosaic shell`, typed
/// into with send-keys and read with capture-pane. The pane's command prints
/// `[exit N]` when the shell ends, and stays open so the screen can still be read.
final class ShellTerminal {
  let socket = "mt-shell-\(UUID().uuidString.prefix(8).lowercased())"

  init(binary: String, environment: [String: String]) throws {
    let env = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    let command = ["sh", "-c", "\"$@\"; echo \"[exit $?]\"; exec sleep 600", "sh", "env"]
    try tmux(
      ["-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40"] + command + env
        + [binary, "shell"])
  }

  /// Runs tmux on this terminal's socket. Through `SpawnRunner`, not `Process`: the
  /// server that the first command starts inherits the client's descriptors, and
  /// Foundation waits for those to close before it reports the client's exit.
  @discardableResult
  func tmux(_ arguments: [String]) throws -> String {
    let request = CommandRequest(
      ["tmux", "-u", "-L", socket] + arguments, environment: ["TMUX": "", "LANG": "C.UTF-8"],
      timeout: 10)
    let result = try SpawnRunner().run(request)
    guard result.ok else {
      throw TerminalError(
        "tmux \(arguments.first ?? "") failed (\(result.status)): \(result.stderrText)")
    }
    return result.stdoutText
  }

  /// The visible lines, trailing blanks dropped.
  func screen() -> [String] {
    let text = (try? tmux(["capture-pane", "-p"])) ?? ""
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
      String($0.reversed().drop { $0 == " " }.reversed())
    }
    while lines.last == "" { lines.removeLast() }
    return lines
  }

  func text() -> String { screen().joined(separator: "\n") }

  func type(_ text: String) { _ = try? tmux(["send-keys", "-l", text]) }
  func keys(_ names: String...) { _ = try? tmux(["send-keys"] + names) }

  /// Polls the screen until `done` holds (5 s at most).
  func waitUntil(_ what: String, timeout: Double = 5, _ done: ([String]) -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    var lines = screen()
    while !done(lines) {
      guard Date() < deadline else {
        throw TerminalError(
          "timed out waiting for \(what); screen:\n" + lines.joined(separator: "\n"))
      }
      Thread.sleep(forTimeInterval: 0.05)
      lines = screen()
    }
  }

  /// Types a line and presses Enter; waits for `expect` as a whole line after it (if any)
  /// and for the next prompt.
  func enter(_ line: String, expect: String? = nil, prompt: String = ">") throws {
    let before = screen().count
    type(line)
    keys("Enter")
    try waitUntil("the output of \(line)") { lines in
      guard lines.count > before, lines.last == prompt else { return false }
      guard let expect else { return true }
      return lines.dropFirst(max(0, before - 1)).contains(expect)
    }
  }

  /// Ends the server and removes its socket file (tmux leaves it behind).
  func kill() {
    _ = try? tmux(["kill-server"])
    let dir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
    try? FileManager.default.removeItem(atPath: "\(dir)/tmux-\(getuid())/\(socket)")
  }
}

struct TerminalError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
