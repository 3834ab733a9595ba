import Foundation
import MosaicSupport
import XCTest

/// Shared set-up for integration tests: the built `mosaic` binary, a real `systemd --user`
/// manager (started by scripts/user-manager.sh if none answers), and unique names for
/// everything a test creates so it never touches the operator's own fleet.
enum Harness {
  /// Validates `document` against docs/schemas/<schema>.json with python3-jsonschema.
  static func validateSchema(_ document: String, _ schema: String) throws -> CommandResult {
    let dir = try Harness.makeTempDir("schema")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try document.write(toFile: dir + "/doc.json", atomically: true, encoding: .utf8)
    let script = """
      import json, sys, jsonschema
      schema = json.load(open(sys.argv[1]))
      jsonschema.Draft202012Validator.check_schema(schema)
      errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))))
      for e in errors:
          print("/".join(map(str, e.absolute_path)) + ": " + e.message)
      sys.exit(1 if errors else 0)
      """
    return try SpawnRunner().run(
      CommandRequest(
        [
          "/usr/bin/python3", "-c", script, Harness.repoRoot + "/docs/schemas/\(schema).json",
          dir + "/doc.json",
        ],
        timeout: 60))
  }

  /// The repository root (from this file's path).
  static let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// The `mosaic` binary next to the test bundle, or `$MOSAIC_BIN`.
  static let mosaicBinary: String = {
    if let env = ProcessInfo.processInfo.environment["MOSAIC_BIN"], !env.isEmpty { return env }
    var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      dir = URL(fileURLWithPath: exe)
    }
    // …/debug/mosaicPackageTests.xctest (a file on Linux) → …/debug/mosaic
    while dir.path != "/" {
      dir.deleteLastPathComponent()
      let candidate = dir.appendingPathComponent("mosaic").path
      if FileManager.default.isExecutableFile(atPath: candidate),
        !FileManager.default.fileExists(atPath: candidate + "/Package.swift")
      {
        return candidate
      }
    }
    return "mosaic"
  }()

  /// `XDG_RUNTIME_DIR` of a running user manager, starting one if needed. Fails the test
  /// (never skips) when no manager can be had.
  static func userManager(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    if let cached = managerRuntimeDir { return cached }
    let result = try SpawnRunner().run(
      CommandRequest([repoRoot + "/scripts/user-manager.sh"], timeout: 60))
    guard result.status == 0 else {
      XCTFail("scripts/user-manager.sh failed: \(result.stderrText)", file: file, line: line)
      throw HarnessError.noUserManager
    }
    // It prints `export XDG_RUNTIME_DIR=...`.
    let text = result.stdoutText
    guard let r = text.range(of: "XDG_RUNTIME_DIR=") else { throw HarnessError.noUserManager }
    let value = text[r.upperBound...].prefix { !$0.isNewline && $0 != ";" }
      .trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
    setenv("XDG_RUNTIME_DIR", value, 1)
    managerRuntimeDir = value
    return value
  }

  nonisolated(unsafe) private static var managerRuntimeDir: String?

  /// A short unique name: `mt-<tag>-<6 hex>`.
  static func uniqueName(_ tag: String) -> String {
    "mt-\(tag)-" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
  }

  static func makeTempDir(_ tag: String) throws -> String {
    let path = NSTemporaryDirectory() + uniqueName(tag)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }
}

enum HarnessError: Error { case noUserManager }

/// Runs the built `mosaic` with an environment of its own.
struct Mosaic {
  var environment: [String: String]

  init(home: String, extra: [String: String] = [:]) {
    var env = extra
    env["MOSAIC_HOME"] = home
    env["XDG_STATE_HOME"] = home + "/state"
    env["NO_COLOR"] = "1"
    environment = env
  }

  @discardableResult
  func run(_ args: [String], input: String? = nil, timeout: Double = 60) throws -> CommandResult {
    try SpawnRunner().run(
      CommandRequest(
        [Harness.mosaicBinary] + args, input: input.map { Array($0.utf8) },
        environment: environment, timeout: timeout))
  }

  /// Runs and decodes `--json` output (fails the test on a non-zero exit or bad JSON).
  func json(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws
    -> JSONValue
  {
    let r = try run(args)
    XCTAssertEqual(r.status, 0, "mosaic \(args): \(r.stderrText)", file: file, line: line)
    return try JSONCodec.decode(r.stdout)
  }
}

/// Runs a program and returns its stdout (trimmed); fails on non-zero exit.
@discardableResult
func sh(_ argv: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
  let r = try SpawnRunner().run(CommandRequest(argv, timeout: 60))
  XCTAssertEqual(r.status, 0, "\(argv): \(r.stderrText)", file: file, line: line)
  return r.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A test class that brings the dogfood fleet up once for all its tests (on a socket, unit
/// prefix and MOSAIC_HOME of its own) and down after them.
class DogfoodTestCase: XCTestCase {
  nonisolated(unsafe) static var fleet: DogfoodFleet?
  nonisolated(unsafe) static var fleetError: String?

  override class func setUp() {
    super.setUp()
    do {
      fleet = try DogfoodFleet.up()
      fleetError = nil
    } catch {
      fleet = nil
      fleetError = "\(error)"
    }
  }

  override class func tearDown() {
    fleet?.down()
    fleet = nil
    super.tearDown()
  }

  /// The fleet, or a test failure saying why it did not come up.
  func theFleet(file: StaticString = #filePath, line: UInt = #line) throws -> DogfoodFleet {
    guard let f = Self.fleet else {
      XCTFail(
        "the dogfood fleet did not come up: \(Self.fleetError ?? "unknown reason")", file: file,
        line: line)
      throw HarnessError.noUserManager
    }
    return f
  }
}
