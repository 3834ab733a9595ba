import FleetCore
import Foundation
import MosaicSupport
import XCTest

/// The agent among the pane's foreground group, the hooks' heartbeat, and Claude's own
/// record, without tmux or real programs (the integration suite runs the real ones).
final class ActivityTests: XCTestCase {
  private var proc: FakeProc!
  static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(
      "IntegrationTests/Fixtures/real-agents/samples"
    )
    .path

  override func setUpWithError() throws { proc = try FakeProc() }
  override func tearDown() { proc.remove() }

  func children(_ pid: Int32, _ kids: [Int32]) throws {
    let dir = "\(proc.root)/\(pid)/task/\(pid)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try Data(kids.map(String.init).joined(separator: " ").utf8).write(
      to: URL(fileURLWithPath: dir + "/children"))
  }

  func isClaude(_ p: ProcessSnapshot) -> Bool? {
    RuntimeDetector.matches(runtime: "claude", argv: p.argv, match: nil) { _, _ in false }
  }

  /// `sh -c 'cd ~/proj && claude'`: the shell leads the group, claude is a member.
  func testAgentUnderShellLauncher() throws {
    try proc.add(
      pid: 100, comm: "sh", pgrp: 100, tpgid: 100, argv: ["sh", "-c", "cd /p && claude"])
    try proc.add(pid: 101, comm: "claude", ppid: 100, pgrp: 100, argv: ["/opt/claude", "--x"])
    // A tool the agent runs, in a session of its own: never a member.
    try proc.add(
      pid: 102, comm: "bash", ppid: 101, pgrp: 102, session: 102, argv: ["bash", "-c", "ls"])
    try children(100, [101])
    try children(101, [102])
    let g = try XCTUnwrap(
      ProcPlane.foregroundGroup(ofPanePid: 100, paneTTY: nil, procRoot: proc.root))
    XCTAssertEqual(g.leader.pid, 100)
    XCTAssertEqual(g.members.map(\.process.pid), [100, 101])
    let found = g.agentProcess(isClaude)
    XCTAssertEqual(found.process.pid, 101)
    XCTAssertEqual(found.matched, true)
    XCTAssertFalse(g.stopped)
  }

  /// An interactive shell with job control: the agent leads its own group; the shell
  /// (the pane process) is not a member.
  func testAgentLeadingItsGroupUnderInteractiveShell() throws {
    try proc.add(pid: 200, comm: "bash", pgrp: 200, tpgid: 201, argv: ["-bash"])
    try proc.add(pid: 201, comm: "codex", ppid: 200, pgrp: 201, argv: ["codex", "-C", "/p"])
    try proc.add(pid: 203, comm: "sleep", ppid: 200, pgrp: 203, argv: ["sleep", "9"])  // a bg job
    try children(200, [201, 203])
    let g = try XCTUnwrap(
      ProcPlane.foregroundGroup(ofPanePid: 200, paneTTY: nil, procRoot: proc.root))
    XCTAssertEqual(g.leader.pid, 201)
    XCTAssertEqual(g.members.map(\.process.pid), [201])
    let codex = g.agentProcess {
      RuntimeDetector.matches(runtime: "codex", argv: $0.argv, match: nil) { _, _ in false }
    }
    XCTAssertEqual(codex.process.pid, 201)
    XCTAssertEqual(g.agentProcess(isClaude).matched, false, "drift: codex runs, not claude")
  }

  /// `mosaic heartbeat NAME -- sh -c claude`: the deepest match is the program itself, and a
  /// stopped member deeper than the pane's child still counts.
  func testWrapperChainAndStoppedMember() throws {
    try proc.add(
      pid: 300, comm: "mosaic", pgrp: 300, tpgid: 300,
      argv: ["/usr/bin/mosaic", "heartbeat", "c1", "--", "sh", "-c", "claude"])
    try proc.add(pid: 301, comm: "sh", ppid: 300, pgrp: 300, argv: ["sh", "-c", "claude"])
    try proc.add(pid: 302, comm: "claude", state: "T", ppid: 301, pgrp: 300, argv: ["claude"])
    try children(300, [301])
    try children(301, [302])
    let g = try XCTUnwrap(
      ProcPlane.foregroundGroup(ofPanePid: 300, paneTTY: nil, procRoot: proc.root))
    XCTAssertEqual(g.agentProcess(isClaude).process.pid, 302)
    XCTAssertTrue(g.stopped)
    XCTAssertEqual(g.stoppedMember?.pid, 302)
  }

  /// A child Claude has just forked (before its exec it still shows Claude's argv) and
  /// runs in Claude's group: the agent is the parent, whose pid keys its status file.
  func testAForkedChildIsNeverTakenForTheAgent() throws {
    try proc.add(pid: 600, comm: "sh", pgrp: 600, tpgid: 600, argv: ["sh", "-c", "claude"])
    try proc.add(pid: 601, comm: "claude", ppid: 600, pgrp: 600, argv: ["/opt/claude", "--x"])
    try proc.add(pid: 602, comm: "claude", ppid: 601, pgrp: 600, argv: ["/opt/claude", "--x"])
    try children(600, [601])
    try children(601, [602])
    let g = try XCTUnwrap(
      ProcPlane.foregroundGroup(ofPanePid: 600, paneTTY: nil, procRoot: proc.root))
    XCTAssertEqual(g.members.map(\.process.pid), [600, 601, 602])
    XCTAssertEqual(g.agentProcess(isClaude).process.pid, 601)
  }

  func testNoMemberMatchesGivesTheDeepestAndDrift() throws {
    try proc.add(pid: 400, comm: "sh", pgrp: 400, tpgid: 400, argv: ["sh", "-c", "x"])
    try proc.add(pid: 401, comm: "python3", ppid: 400, pgrp: 400, argv: ["python3", "agent.py"])
    try children(400, [401])
    let g = try XCTUnwrap(
      ProcPlane.foregroundGroup(ofPanePid: 400, paneTTY: nil, procRoot: proc.root))
    let found = g.agentProcess(isClaude)
    XCTAssertEqual(found.process.pid, 401)
    XCTAssertEqual(found.matched, false)
  }

  /// A cycle or a huge tree never makes the walk run away.
  func testWalkIsBounded() throws {
    try proc.add(pid: 500, comm: "sh", pgrp: 500, tpgid: 500)
    var kids: [Int32] = []
    for i in 1...100 {
      try proc.add(pid: 500 + Int32(i), comm: "k", ppid: 500, pgrp: 500)
      kids.append(500 + Int32(i))
    }
    try children(500, kids + [500])
    let g = try XCTUnwrap(
      ProcPlane.foregroundGroup(ofPanePid: 500, paneTTY: nil, procRoot: proc.root))
    XCTAssertEqual(g.members.count, ProcPlane.memberLimit)
  }

  /// Codex's rollout (a sample from codex-cli 0.163.0): the thread's cwd, and the prompts.
  func testCodexRolloutSample() throws {
    let text = try String(
      contentsOfFile: Self.samples + "/codex-rollout-excerpt.jsonl", encoding: .utf8)
    let entries = try text.split(separator: "\n").map { try JSONCodec.decode(String($0)) }
    XCTAssertTrue(entries.contains { CodexRollout.holdsPrompt($0, "codex hook [m:k1]") })
    XCTAssertFalse(entries.contains { CodexRollout.holdsPrompt($0, "never sent") })
    // A CODEX_HOME laid out as Codex does, with two threads in two directories.
    let home = NSTemporaryDirectory() + "mt-codex-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { try? FileManager.default.removeItem(atPath: home) }
    let day = home + "/sessions/2026/11/30"
    try FileManager.default.createDirectory(atPath: day, withIntermediateDirectories: true)
    for (name, cwd) in [
      ("rollout-2026-11-30T15-00-00-a.jsonl", "/p/one"),
      ("rollout-2026-11-30T16-00-00-b.jsonl", "/p/two"),
    ] {
      let meta = #"{"type":"session_meta","payload":{"cwd":"\#(cwd)"}}"# + "\n"
      try meta.write(toFile: day + "/" + name, atomically: true, encoding: .utf8)
    }
    XCTAssertEqual(
      CodexRollout.latest(codexHome: home, cwd: "/p/one"),
      day + "/rollout-2026-11-30T15-00-00-a.jsonl")
    XCTAssertEqual(
      CodexRollout.latest(codexHome: home, cwd: "/p/two"),
      day + "/rollout-2026-11-30T16-00-00-b.jsonl")
    XCTAssertNil(CodexRollout.latest(codexHome: home, cwd: "/p/three"))
  }

  /// The literal a screen rule needs before Lua is asked (a fast reject, never a wrong one).
  func testLiteralStartOfPatterns() {
    XCTAssertEqual(
      ActivityReader.literalStart(of: "Do you want to proceed%?"), "Do you want to proceed?")
    XCTAssertEqual(ActivityReader.literalStart(of: "^❯\u{A0}"), "❯\u{A0}")
    XCTAssertEqual(
      ActivityReader.literalStart(of: "Queued follow%-up inputs"), "Queued follow-up inputs")
    XCTAssertEqual(ActivityReader.literalStart(of: "…%s%(%d+%a* · "), "…")
    XCTAssertEqual(ActivityReader.literalStart(of: "^  %S+ %S+ · [~/]"), "  ")
    XCTAssertEqual(ActivityReader.literalStart(of: "ab?c"), "a", "b is optional")
    XCTAssertEqual(ActivityReader.literalStart(of: "%d+ tokens"), "")
    XCTAssertEqual(ActivityReader.literalStart(of: "[Pp]ermission"), "")
  }

  // MARK: hooks

  func testHookEventsDriveTheHeartbeat() throws {
    func event(_ json: String) throws -> HookEvent {
      try XCTUnwrap(HookEvent.parse(try JSONCodec.decode(json)))
    }
    let prompt = try event(
      #"{"hook_event_name": "UserPromptSubmit", "prompt": "review [m:abc12]"}"#)
    var hb = prompt.apply(to: nil, now: 1000, pid: 42)
    XCTAssertEqual(hb.status, "busy")
    XCTAssertEqual(hb.ack, "abc12")
    XCTAssertEqual(hb.value(forKey: "hook"), "UserPromptSubmit")
    XCTAssertEqual(hb.value(forKey: "since"), ISO8601.format(1000))
    XCTAssertNoThrow(try hb.validate())

    hb = try event(#"{"hook_event_name": "PreToolUse", "tool_name": "Bash"}"#).apply(
      to: hb, now: 1005, pid: 99)
    XCTAssertEqual(hb.pid, 42, "the first writer's pid is kept")
    XCTAssertEqual(hb.value(forKey: "since"), ISO8601.format(1000), "still busy since 1000")
    XCTAssertNotNil(hb.progress)

    hb = try event(
      #"{"hook_event_name": "Notification", "notification_type": "permission_prompt"}"#
    )
    .apply(to: hb, now: 1010, pid: 42)
    XCTAssertEqual(hb.status, "waiting")
    XCTAssertEqual(hb.value(forKey: "waiting"), "permission_prompt")
    XCTAssertEqual(hb.value(forKey: "since"), ISO8601.format(1010))

    hb = try event(#"{"hook_event_name": "Stop"}"#).apply(to: hb, now: 1020, pid: 42)
    XCTAssertEqual(hb.status, "ok")
    XCTAssertNil(hb.value(forKey: "waiting"))
    XCTAssertEqual(hb.ack, "abc12")
    let line = hb.render()
    XCTAssertEqual(try HeartbeatParser.parse(line).get().status, "ok", line)
    XCTAssertNil(HookEvent.parse(try JSONCodec.decode(#"{"prompt": "x"}"#)))
  }

  func testPromptDigestIgnoresSurroundingWhiteSpace() {
    let a = HookEvent.promptDigest(Array("fix the build\n".utf8))
    XCTAssertEqual(a, HookEvent.promptDigest(Array("  fix the build".utf8)))
    XCTAssertNotEqual(a, HookEvent.promptDigest(Array("fix the build!".utf8)))
    XCTAssertTrue(HeartbeatParser.isNonce(a), a)
    XCTAssertEqual(HookEvent.ack(forPrompt: "x [m:n-1]"), "n-1")
  }

  func testWaitingIsAHeartbeatStatus() throws {
    let hb = try HeartbeatParser.parse(
      "ts=2026-11-30T15:00:00Z pid=7 status=waiting hook=Notification"
    )
    .get()
    XCTAssertEqual(hb.status, "waiting")
    XCTAssertThrowsError(
      try HeartbeatParser.parse("ts=2026-11-30T15:00:00Z pid=7 status=idle").get())
  }

  // MARK: Claude's record (samples captured from Claude Code 2.1.332)

  func testClaudeStatusFiles() throws {
    func status(_ name: String) throws -> ActivityState? {
      let data = try Data(
        contentsOf: URL(fileURLWithPath: Self.samples + "/claude-session-\(name).json"))
      guard case .status(let s) = ClaudeRecord.lookup(bytes: Array(data)) else { return nil }
      XCTAssertNotNil(s.updatedAt)
      XCTAssertLessThan(s.updatedAt ?? 0, 1e11, "milliseconds became seconds")
      return s.state
    }
    XCTAssertEqual(try status("idle"), .idle)
    XCTAssertEqual(try status("busy"), .working)
    XCTAssertEqual(try status("waiting"), .waiting)
  }

  /// A status file names the start time of the process that wrote it: one left by an
  /// earlier process with the same pid is no record of this one.
  func testAClaudeStatusFileOfAnotherProcessWithThePidIsNotItsRecord() throws {
    let bytes = Array(
      try Data(contentsOf: URL(fileURLWithPath: Self.samples + "/claude-session-idle.json")))
    guard case .status(let s) = ClaudeRecord.lookup(bytes: bytes) else {
      return XCTFail("the sample is a status")
    }
    XCTAssertEqual(s.procStart, 35754)
    func process(_ start: UInt64) -> ProcessSnapshot {
      ProcessSnapshot(pid: 15184, state: "sleeping", stateCode: "S", startTime: start)
    }
    XCTAssertEqual(ClaudeRecord.lookup(bytes: bytes, of: process(35754)), .status(s))
    XCTAssertEqual(ClaudeRecord.lookup(bytes: bytes, of: process(35755)), .none, "another one")
    XCTAssertEqual(
      ClaudeRecord.lookup(bytes: bytes, of: process(0)), .status(s), "start time unknown")
    let old = Array(#"{"pid": 15184, "status": "busy"}"#.utf8)
    guard case .status(let o) = ClaudeRecord.lookup(bytes: old, of: process(1)) else {
      return XCTFail("a file without procStart is taken as it is")
    }
    XCTAssertEqual(o.state, .working)
    XCTAssertNil(o.procStart)
  }

  func testClaudeTranscriptTellsPromptFromQueued() throws {
    let text = try String(
      contentsOfFile: Self.samples + "/claude-transcript-excerpt.jsonl", encoding: .utf8)
    var kinds: [String: ClaudeTranscript.Kind] = [:]
    for line in text.split(separator: "\n") {
      let entry = try JSONCodec.decode(String(line))
      for needle in ["first [m:n2]", "second [m:n3]"] {
        if let k = ClaudeTranscript.kind(entry, holding: needle), kinds[needle] == nil {
          kinds[needle] = k
        }
      }
    }
    XCTAssertEqual(kinds["first [m:n2]"], .prompt)
    XCTAssertEqual(kinds["second [m:n3]"], .queued)
    XCTAssertEqual(ClaudeTranscript.needle(Array("line one\n  line two  \n".utf8)), "line two")
    XCTAssertEqual(
      ClaudeRecord.transcriptPath(configDirectory: "/h/.claude", cwd: "/tmp/a.b/c", sessionId: "s"),
      "/h/.claude/projects/-tmp-a-b-c/s.jsonl")
  }

  /// Claude Code keeps its status files and transcripts in `$CLAUDE_CONFIG_DIR` when that is
  /// set and not empty (checked against 2.1.332: `RealAgentTests`), else in `$HOME/.claude`.
  func testClaudesConfigurationDirectory() {
    func dir(_ env: [String: String]) -> String? { ClaudeRecord.configDirectory(environment: env) }
    XCTAssertEqual(dir(["HOME": "/h"]), "/h/.claude")
    XCTAssertEqual(dir(["HOME": "/h", "CLAUDE_CONFIG_DIR": "/c"]), "/c")
    XCTAssertEqual(dir(["HOME": "/h", "CLAUDE_CONFIG_DIR": ""]), "/h/.claude", "empty is unset")
    XCTAssertNil(dir(["HOME": "/h", "CLAUDE_CONFIG_DIR": "rel"]), "relative, no cwd: not guessed")
    XCTAssertEqual(
      ClaudeRecord.configDirectory(
        environment: ["HOME": "/h", "CLAUDE_CONFIG_DIR": "c/d"], cwd: { "/w" }), "/w/c/d",
      "relative: under the process's working directory")
    XCTAssertNil(dir(["HOME": "h"]))
    XCTAssertNil(dir([:]))
    XCTAssertEqual(dir(["CLAUDE_CONFIG_DIR": "/c"]), "/c", "no HOME needed")
    // Codex's home follows the same shape of rule.
    XCTAssertEqual(CodexRollout.home(environment: ["HOME": "/h"]), "/h/.codex")
    XCTAssertEqual(CodexRollout.home(environment: ["HOME": "/h", "CODEX_HOME": "/x"]), "/x")
    XCTAssertEqual(CodexRollout.home(environment: ["HOME": "/h", "CODEX_HOME": ""]), "/h/.codex")
    XCTAssertNil(CodexRollout.home(environment: ["HOME": "/h", "CODEX_HOME": "x"]))
    XCTAssertEqual(
      CodexRollout.home(environment: ["HOME": "/h", "CODEX_HOME": "x"], cwd: { "/" }), "/x")
  }

  func testEnvironmentValuesTakeTheFirstEntryOfEachKey() throws {
    let root = NSTemporaryDirectory() + "mosaic-environ-\(getpid())"
    try FileManager.default.createDirectory(
      atPath: root + "/7", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    // A long environment, so the entries span several reads.
    var env = (0..<2000).map { "PAD\($0)=\(String(repeating: "x", count: 20))" }
    env.insert("HOME=/first", at: 10)
    env.append("HOME=/second")
    env.append("CLAUDE_CONFIG_DIR=/c")
    env.append("HOMEX=/not-home")
    try Data(env.joined(separator: "\u{0}").utf8).write(
      to: URL(fileURLWithPath: root + "/7/environ"))
    XCTAssertEqual(
      ClaudeRecord.environmentValues(["HOME", "CLAUDE_CONFIG_DIR"], of: 7, procRoot: root),
      ["HOME": "/first", "CLAUDE_CONFIG_DIR": "/c"])
    XCTAssertEqual(
      ClaudeRecord.environmentValues(["NOPE"], of: 7, procRoot: root), [:], "read to the end")
    XCTAssertNil(ClaudeRecord.environmentValues(["HOME"], of: 8, procRoot: root), "no file")
    XCTAssertEqual(ClaudeRecord.configDirectory(of: 7, procRoot: root), "/c")
  }
}
