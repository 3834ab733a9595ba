import Foundation
import XCTest

/// The base of the end-to-end tests on the built `mosaic` binary: finds it, gives every
/// test an empty HOME and MOSAIC_HOME of its own (removed after it), and runs the binary
/// with a kill timeout, capturing its output through files.
///
/// The binary is `$MOSAIC_BIN`, else `mosaic` next to the test bundle in the build
/// products directory; a test fails (never skips) when it is not there.
class BinaryTestCase: XCTestCase {
  /// What one run of a program did.
  struct Run {
    var status: Int32
    var signaled: Bool
    var stdout: String
    var stderr: String
    var elapsed: Double
  }

  static let binaryPath: String? = {
    let env = ProcessInfo.processInfo.environment
    if let bin = env["MOSAIC_BIN"], !bin.isEmpty { return bin }
    var dirs: [URL] = []
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
      dirs.append(bundle.bundleURL.deletingLastPathComponent())
    }
    dirs.append(Bundle.main.bundleURL)
    dirs.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    for dir in dirs {
      let path = dir.appendingPathComponent("mosaic").path
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
  }()

  var binary = ""
  /// Scratch space: scripts, captured output. Removed after each test.
  var dir = ""
  var home = ""
  var config = ""
  var runs = 0

  override func setUpWithError() throws {
    binary = try XCTUnwrap(
      Self.binaryPath, "no mosaic binary: build it, or set MOSAIC_BIN to its path")
    dir = try makeDirectory("mosaic-script")
    home = dir + "/home"
    config = dir + "/config"
    try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
  }

  override func tearDown() {
    if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
  }

  // MARK: Helpers

  func makeDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// The environment of every run: the test's own minus anything mosaic reads, with an
  /// empty HOME and MOSAIC_HOME, and the binary's directory first on PATH.
  func environment(_ extra: [String: String]) -> [String: String] {
    var env = ProcessInfo.processInfo.environment.filter {
      !$0.key.hasPrefix("MOSAIC_") && !$0.key.hasPrefix("XDG_") && !$0.key.hasPrefix("LUA_")
    }
    env["HOME"] = home
    env["MOSAIC_HOME"] = config
    let binDir = (binary as NSString).deletingLastPathComponent
    env["PATH"] = binDir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
    for (k, v) in extra { env[k] = v }
    return env
  }

  /// Runs `executable` (the mosaic binary by default) and waits for it, killing it after
  /// `timeout` seconds (which fails the test).
  func run(
    _ args: [String], stdin: [UInt8]? = nil, env: [String: String] = [:], cwd: String? = nil,
    executable: String? = nil, timeout: Double = 60,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> Run {
    runs += 1
    let outPath = dir + "/.stdout-\(runs)"
    let errPath = dir + "/.stderr-\(runs)"
    XCTAssertTrue(FileManager.default.createFile(atPath: outPath, contents: nil))
    XCTAssertTrue(FileManager.default.createFile(atPath: errPath, contents: nil))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable ?? binary)
    process.arguments = args
    process.environment = environment(env)
    process.currentDirectoryURL = URL(fileURLWithPath: cwd ?? dir)
    let out = try XCTUnwrap(FileHandle(forWritingAtPath: outPath))
    let err = try XCTUnwrap(FileHandle(forWritingAtPath: errPath))
    process.standardOutput = out
    process.standardError = err
    if let stdin {
      let inPath = dir + "/.stdin-\(runs)"
      XCTAssertTrue(FileManager.default.createFile(atPath: inPath, contents: Data(stdin)))
      process.standardInput = try XCTUnwrap(FileHandle(forReadingAtPath: inPath))
    } else {
      process.standardInput = FileHandle.nullDevice
    }
    let start = Date()
    try process.run()
    while process.isRunning, Date().timeIntervalSince(start) < timeout { usleep(5_000) }
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      XCTFail("\(args) still running after \(timeout) s", file: file, line: line)
    }
    process.waitUntilExit()
    let elapsed = Date().timeIntervalSince(start)
    try out.close()
    try err.close()
    return Run(
      status: process.terminationStatus,
      signaled: process.terminationReason == .uncaughtSignal,
      stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self),
      stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self),
      elapsed: elapsed)
  }

  /// `mosaic -e CHUNK`.
  func eval(
    _ chunk: String, env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line
  )
    throws -> Run
  {
    try run(["-e", chunk], env: env, file: file, line: line)
  }

  /// Writes `text` to `name` under the scratch directory and returns its path.
  @discardableResult
  func write(_ name: String, _ text: String, mode: Int = 0o644) throws -> String {
    try write(name, Data(text.utf8), mode: mode)
  }

  @discardableResult
  func write(_ name: String, _ data: Data, mode: Int = 0o644) throws -> String {
    let path = dir + "/" + name
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try data.write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    return path
  }

  /// No Swift trap, crash report or Lua panic, whatever the input.
  func assertNoCrash(_ r: Run, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(r.signaled, "\(what): killed by a signal (\(r.status))", file: file, line: line)
    for marker in ["Fatal error", "Program crashed", "Backtracing", "unprotected Lua error"] {
      XCTAssertFalse(r.stderr.contains(marker), "\(what): \(r.stderr)", file: file, line: line)
    }
  }

}
