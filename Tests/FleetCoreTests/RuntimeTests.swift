import FleetCore
import XCTest

final class RuntimeTests: XCTestCase {
  private func detect(_ argv: String...) -> String? { RuntimeDetector.detect(argv: argv) }

  func testProgramsByTheirOwnName() {
    XCTAssertEqual(detect("claude"), "claude")
    XCTAssertEqual(detect("/home/u/.local/bin/claude", "--continue"), "claude")
    XCTAssertEqual(detect("codex"), "codex")
    XCTAssertEqual(detect("/usr/local/bin/pi"), "pi")
    XCTAssertEqual(detect("opencode", "run"), "opencode")
    XCTAssertEqual(detect("./codex.js"), "codex")
    XCTAssertEqual(detect("/opt/opencode/bin/opencode.exe"), "opencode")
  }

  func testUnknownPrograms() {
    XCTAssertNil(RuntimeDetector.detect(argv: []))
    XCTAssertNil(detect(""))
    XCTAssertNil(detect("bash"))
    XCTAssertNil(detect("-bash"))
    XCTAssertNil(detect("sleep", "300"))
    XCTAssertNil(detect("claude-wrapper"))
    XCTAssertNil(detect("pie"))
    XCTAssertNil(detect("vim", "claude"))
    XCTAssertNil(detect("python3"))
    XCTAssertNil(detect("node"))
  }

  func testScriptsUnderAnInterpreter() {
    XCTAssertEqual(detect("node", "/usr/local/bin/codex"), "codex")
    XCTAssertEqual(detect("/usr/bin/nodejs", "--no-warnings", "/opt/pi.mjs", "--x"), "pi")
    XCTAssertEqual(detect("node", "--require", "/tmp/hook.js", "/usr/bin/claude"), "claude")
    XCTAssertEqual(detect("node", "--max-old-space-size=4096", "claude"), "claude")
    XCTAssertEqual(detect("node", "--", "opencode.js"), "opencode")
    XCTAssertEqual(detect("bun", "run", "/srv/opencode/opencode.ts"), "opencode")
    XCTAssertEqual(detect("bun", "/srv/pi.js"), "pi")
    XCTAssertEqual(detect("deno", "run", "-A", "codex.ts"), "codex")
    XCTAssertEqual(detect("python3", "-u", "/opt/codex.py"), "codex")
    XCTAssertEqual(detect("/usr/bin/python3.11", "-X", "utf8", "pi.py"), "pi")
    XCTAssertEqual(detect("python", "-m", "opencode"), "opencode")
    XCTAssertEqual(detect("python3", "-m", "pi.main"), "pi")
    XCTAssertEqual(detect("ruby", "-I", "lib", "bin/claude.rb"), "claude")
    XCTAssertNil(detect("node", "-e", "require('claude')"))
    XCTAssertNil(detect("python3", "-c", "import codex"))
    XCTAssertNil(detect("node", "server.js", "claude"))
    XCTAssertNil(detect("python3", "-m"))
    XCTAssertNil(detect("python3.x", "codex.py"), "not an interpreter name")
  }

  func testPackagesWhoseScriptSaysNothing() {
    XCTAssertEqual(
      detect("node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"), "claude")
    XCTAssertEqual(
      detect("node", "/home/u/.npm-global/lib/node_modules/@openai/codex/bin/codex.js"), "codex")
    XCTAssertEqual(detect("node", "/usr/lib/node_modules/@openai/codex/dist/index.js"), "codex")
    XCTAssertEqual(detect("node", "/usr/lib/node_modules/opencode-ai/bin/index.js"), "opencode")
    XCTAssertEqual(
      detect("node", "/usr/lib/node_modules/@mariozechner/pi-coding-agent/dist/cli.js"), "pi")
    XCTAssertEqual(detect("/home/u/.local/share/claude/versions/2.0.14"), "claude")
    XCTAssertNil(detect("node", "/usr/lib/node_modules/some-tool/cli.js"))
  }

  func testTheMosaicStub() {
    XCTAssertEqual(detect("mosaic", "agent", "stub", "canary-pi"), "stub")
    XCTAssertEqual(detect("/opt/mosaic/bin/mosaic", "agent", "stub", "canary-pi"), "stub")
    XCTAssertEqual(detect("mosaic", "--no-color", "agent", "stub", "x"), "stub")
    XCTAssertNil(detect("mosaic", "agent", "watch", "x"))
    XCTAssertNil(detect("mosaic", "stub"))
    XCTAssertNil(detect("mosaic"))
    XCTAssertNil(detect("mosaic", "fleet", "ps", "--", "agent", "stub"))
  }

  func testHeartbeatWrapperIsJudgedByWhatItWraps() {
    XCTAssertEqual(detect("mosaic", "heartbeat", "coder-1", "--", "claude", "--continue"), "claude")
    XCTAssertEqual(
      detect("mosaic", "heartbeat", "c", "--interval", "5", "--", "node", "/x/codex.js"), "codex")
    XCTAssertNil(detect("mosaic", "heartbeat", "c", "--", "bash"))
    XCTAssertNil(detect("mosaic", "heartbeat", "c"))
  }

  func testMatchesWithTheBuiltInRule() {
    let never: (String, String) -> Bool = { _, _ in
      XCTFail("no pattern given")
      return false
    }
    XCTAssertEqual(
      RuntimeDetector.matches(
        runtime: "claude", argv: ["claude"], match: nil, patternMatcher: never),
      true)
    // canary-pi is pi in the roster but runs the stub: drift.
    XCTAssertEqual(
      RuntimeDetector.matches(
        runtime: "pi", argv: ["mosaic", "agent", "stub", "canary-pi"], match: nil,
        patternMatcher: never),
      false)
    XCTAssertEqual(
      RuntimeDetector.matches(runtime: "codex", argv: ["bash"], match: nil, patternMatcher: never),
      false)
    XCTAssertNil(
      RuntimeDetector.matches(runtime: "claude", argv: [], match: nil, patternMatcher: never))
    XCTAssertNil(
      RuntimeDetector.matches(runtime: "aider", argv: ["aider"], match: nil, patternMatcher: never))
  }

  func testAMatchPatternOverridesTheRule() {
    var seen: [(String, String)] = []
    let matcher: (String, String) -> Bool = { subject, pattern in
      seen.append((subject, pattern))
      return subject.contains("aider")
    }
    XCTAssertEqual(
      RuntimeDetector.matches(
        runtime: "aider", argv: ["python3", "/opt/aider/main.py", "--yes"], match: "aider",
        patternMatcher: matcher),
      true)
    XCTAssertEqual(seen.first?.0, "python3 /opt/aider/main.py --yes")
    XCTAssertEqual(seen.first?.1, "aider")
    // The pattern decides even for a known runtime that the rule would accept.
    XCTAssertEqual(
      RuntimeDetector.matches(
        runtime: "claude", argv: ["claude"], match: "^node ", patternMatcher: matcher),
      false)
    XCTAssertNil(
      RuntimeDetector.matches(runtime: "aider", argv: [], match: "aider", patternMatcher: matcher))
    XCTAssertEqual(RuntimeDetector.commandLine(["a", "b c", ""]), "a b c ")
  }
}
