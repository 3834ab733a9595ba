import Foundation
import XCTest

/// docs/lua-api.md documents every public function the API modules expose, each under its
/// own heading with a Lua example (issue 5: "check in a test that every function the host
/// exposes is documented").
final class DocsTests: XCTestCase {
  static let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// The public functions, as `module.name`, listed by the binary itself.
  func exposedFunctions() throws -> [String] {
    let binary = try XCTUnwrap(BinaryTestCase.binaryPath, "no mosaic binary")
    let lister = """
      local modules = {
        {"mosaic", mosaic}, {"mosaic.json", mosaic.json}, {"fleet", fleet},
        {"agent", agent}, {"heartbeat", heartbeat}, {"cli", require "mosaic.cli"},
      }
      for _, m in ipairs(modules) do
        local names = {}
        for k, v in pairs(m[2]) do
          if type(v) == "function" and not k:match("^_") then names[#names + 1] = k end
        end
        table.sort(names)
        for _, k in ipairs(names) do print(m[1] .. "." .. k) end
      end
      """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["-e", lister]
    let home = NSTemporaryDirectory() + "/mosaic-docs-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: home) }
    process.environment = ["HOME": home, "MOSAIC_HOME": home, "PATH": "/usr/bin:/bin"]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
  }

  func testEveryPublicFunctionHasAHeadingAndAnExample() throws {
    let doc = try String(contentsOfFile: Self.repoRoot + "/docs/lua-api.md", encoding: .utf8)
    let functions = try exposedFunctions()
    XCTAssertGreaterThan(functions.count, 30, "the lister found too little: \(functions)")
    // Each section: from "### name(" to the next heading.
    let sections = doc.components(separatedBy: "\n### ").dropFirst()
    var documented: [String: String] = [:]
    for section in sections {
      let title = section.prefix { $0 != "\n" }
      let name = title.prefix { $0 != "(" }
      documented[String(name)] = section
    }
    for name in functions {
      guard let section = documented[name] else {
        XCTFail("docs/lua-api.md has no '### \(name)(...)' section")
        continue
      }
      XCTAssertTrue(section.contains("```lua"), "\(name): no Lua example in its section")
    }
    // And nothing documented that no longer exists.
    for name in documented.keys where !functions.contains(name) {
      XCTFail("docs/lua-api.md documents \(name), which the modules do not expose")
    }
  }
}
