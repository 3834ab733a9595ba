import FleetCore
import Foundation
import LuaBridge
import MosaicSupport
import XCTest

@testable import MosaicHost

/// The shipped runtime profiles (`lua/mosaic/runtimes.lua`) against the screens of the real
/// Claude Code 2.1.332 and Codex 0.163.0, captured from tmux
/// (`Tests/IntegrationTests/Fixtures/real-agents/screens`, see its README), with Lua's own
/// pattern matcher: every state a fleet operator must tell apart is told apart.
final class RuntimeProfileTests: XCTestCase {
  static let screens = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(
      "IntegrationTests/Fixtures/real-agents/screens"
    )
    .path

  var profiles: [String: RuntimeProfile] = [:]
  let matcher = PatternMatcher()
  var reader: ActivityReader { ActivityReader(matcher: { [matcher] in matcher.matches($0, $1) }) }

  override func setUpWithError() throws {
    let source = try XCTUnwrap(LuaRuntime.shipped("mosaic/runtimes.lua"))
    let lua = try LuaState(memoryLimit: 16 << 20)
    try lua.load(source, name: "=runtimes")
    try lua.call(nargs: 0, nresults: 1, traceback: false)
    profiles = try RuntimeProfile.decodeAll(try lua.json(at: -1))
  }

  /// A captured screen with the cursor from `index.tsv`.
  func screen(_ name: String) throws -> SendScreen {
    let index = try String(contentsOfFile: Self.screens + "/index.tsv", encoding: .utf8)
    let line = try XCTUnwrap(
      index.split(separator: "\n").first { $0.hasPrefix(name + ".txt\t") }, "no \(name) in index")
    let f = line.split(separator: "\t").map(String.init)
    let text = try String(contentsOfFile: Self.screens + "/\(name).txt", encoding: .utf8)
    var rows = text.components(separatedBy: "\n")
    if rows.last == "" { rows.removeLast() }
    return SendScreen(
      cursorX: Int(f[1])!, cursorY: Int(f[2])!, cursorVisible: f[6] == "1", width: Int(f[3])!,
      rows: rows)
  }

  func classify(_ runtime: String, _ name: String) throws -> Activity? {
    reader.classify(try screen(name), profile: try XCTUnwrap(profiles[runtime]))
  }

  func testClaudeScreens() throws {
    XCTAssertEqual(try classify("claude", "claude-idle")?.state, .idle)
    XCTAssertEqual(try classify("claude", "claude-busy")?.state, .working)
    XCTAssertEqual(try classify("claude", "claude-queued")?.state, .working)
    let permission = try classify("claude", "claude-permission")
    XCTAssertEqual(permission?.state, .waiting)
    XCTAssertEqual(permission?.waitingFor, "permission prompt")
    XCTAssertEqual(try classify("claude", "claude-trust-dialog")?.waitingFor, "folder trust dialog")
    XCTAssertEqual(try classify("claude", "claude-apikey-dialog")?.waitingFor, "API key dialog")
    XCTAssertEqual(try classify("claude", "claude-apikey-dialog")?.state, .waiting)
    // A question (AskUserQuestion): its options sit at the left edge with "❯ " and a plain
    // space, not the input prompt's no-break space.
    let question = try classify("claude", "claude-question")
    XCTAssertEqual(question?.state, .waiting)
    XCTAssertEqual(question?.waitingFor, "input needed")
    let write = try classify("claude", "claude-permission-write")
    XCTAssertEqual(write?.state, .waiting, "Write's 'Do you want to create notes.txt?'")
    XCTAssertEqual(write?.waitingFor, "permission prompt")
    let plan = try classify("claude", "claude-plan-approval")
    XCTAssertEqual(plan?.state, .waiting)
    XCTAssertEqual(plan?.waitingFor, "permission prompt")
  }

  func testCodexScreens() throws {
    XCTAssertEqual(try classify("codex", "codex-idle")?.state, .idle)
    XCTAssertEqual(try classify("codex", "codex-busy")?.state, .working)
    XCTAssertEqual(try classify("codex", "codex-queued")?.state, .working)
    XCTAssertEqual(try classify("codex", "codex-approval")?.waitingFor, "approval prompt")
    XCTAssertEqual(try classify("codex", "codex-hooks-review")?.waitingFor, "hooks review")
    XCTAssertEqual(try classify("codex", "codex-trust-dialog")?.waitingFor, "folder trust dialog")
  }

  /// What a send checks: the prompt at the cursor, the queue marker, the paste placeholder.
  func testPromptQueueAndPasteMarkers() throws {
    let claude = try XCTUnwrap(profiles["claude"])
    let codex = try XCTUnwrap(profiles["codex"])
    XCTAssertTrue(reader.atPrompt(try screen("claude-idle"), profile: claude))
    XCTAssertFalse(reader.atPrompt(try screen("claude-permission"), profile: claude))
    XCTAssertFalse(reader.atPrompt(try screen("claude-trust-dialog"), profile: claude))
    XCTAssertFalse(reader.atPrompt(try screen("claude-apikey-dialog"), profile: claude))
    XCTAssertFalse(reader.atPrompt(try screen("claude-question"), profile: claude))
    XCTAssertFalse(reader.atPrompt(try screen("claude-plan-approval"), profile: claude))
    XCTAssertTrue(reader.showsQueued(try screen("claude-queued"), profile: claude))
    XCTAssertFalse(reader.showsQueued(try screen("claude-busy"), profile: claude))
    XCTAssertTrue(reader.showsPasteMarker(try screen("claude-paste-large"), profile: claude))
    XCTAssertTrue(reader.atPrompt(try screen("codex-idle"), profile: codex))
    XCTAssertTrue(reader.showsQueued(try screen("codex-queued"), profile: codex))
    XCTAssertFalse(reader.showsQueued(try screen("codex-busy"), profile: codex))
    XCTAssertTrue(reader.showsPasteMarker(try screen("codex-paste-large"), profile: codex))
  }

  /// SPEC 2.7: what a send refuses before anything reaches the pane.
  func testTextProblems() throws {
    let claude = profiles["claude"]
    let plain = AgentSendOptions(runDir: "/nonexistent")
    func problem(_ text: String, _ o: AgentSendOptions = AgentSendOptions(runDir: "/x")) -> String?
    {
      AgentSender.textProblem(Array(text.utf8), profile: claude, options: o)
    }
    XCTAssertNil(problem("review PR 42\nthen the tests\tplease", plain))
    XCTAssertNotNil(problem("paste \u{1B}[201~ then more"), "the bracketed-paste end marker")
    XCTAssertNotNil(problem("bell \u{07}"))
    XCTAssertNotNil(problem("del \u{7F}"))
    XCTAssertNotNil(problem("!rm -rf /tmp/x"))
    XCTAssertNotNil(problem("  \n/exit"), "leading white space does not hide a command")
    XCTAssertNil(problem("what does !x mean?"))
    var raw = plain
    raw.raw = true
    XCTAssertNil(problem("\u{1B}[A", raw))
    var command = plain
    command.command = true
    XCTAssertNil(problem("/exit", command))
    XCTAssertNil(
      AgentSender.textProblem(Array("!ls".utf8), profile: profiles["stub"], options: plain))
    let big = [UInt8](repeating: 0x61, count: AgentSendOptions.maxBytes + 1)
    XCTAssertNotNil(AgentSender.textProblem(big, profile: nil, options: plain))
    XCTAssertNil(
      AgentSender.textProblem(Array(big.dropLast()), profile: nil, options: plain))
  }

  /// A profile an operator writes wrongly is refused with the field named.
  func testBadProfiles() {
    func decode(_ json: String) -> String? {
      do {
        _ = try RuntimeProfile.decodeAll(try JSONCodec.decode(json))
        return nil
      } catch let e as RuntimeProfile.DecodeError {
        return e.description
      } catch {
        return "\(error)"
      }
    }
    XCTAssertNil(decode(#"{"x": {"prompt": "^>", "screen": [{"find": "a", "state": "working"}]}}"#))
    XCTAssertEqual(
      decode(#"{"x": {"screen": [{"find": "a", "state": "busy"}]}}"#),
      "runtime profile 'x': screen[1].state: working, waiting, idle or starting expected")
    XCTAssertEqual(
      decode(#"{"x": {"screen": [{"state": "idle"}]}}"#),
      "runtime profile 'x': screen[1].find: a pattern expected")
    XCTAssertEqual(
      decode(#"{"x": {"queued": "Queued"}}"#),
      "runtime profile 'x': queued: a list of strings expected")
  }
}
