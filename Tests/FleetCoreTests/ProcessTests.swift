import FleetCore
import Foundation
import MosaicSupport
import XCTest

/// A fake `/proc` in a temporary directory.
final class FakeProc {
  let root: String

  init() throws {
    root = NSTemporaryDirectory() + "mt-proc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
  }

  /// Adds a process; `comm` goes between the parentheses as is.
  func add(
    pid: Int32, comm: String = "proc", state: String = "S", ppid: Int32 = 1, pgrp: Int32? = nil,
    session: Int32 = 1, tty: Int64 = 34817, tpgid: Int32 = -1, argv: [String]? = nil
  ) throws {
    let dir = "\(root)/\(pid)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let stat =
      "\(pid) (\(comm)) \(state) \(ppid) \(pgrp ?? pid) \(session) \(tty) \(tpgid) 4194560 "
      + "100 0 0 0 1 2 0 0 20 0 1 0 123456 8192 100 18446744073709551615\n"
    try Data(stat.utf8).write(to: URL(fileURLWithPath: "\(dir)/stat"))
    var cmdline = Data()
    for a in argv ?? [comm] {
      cmdline.append(contentsOf: Array(a.utf8))
      cmdline.append(0)
    }
    try cmdline.write(to: URL(fileURLWithPath: "\(dir)/cmdline"))
  }

  func remove() { try? FileManager.default.removeItem(atPath: root) }
}

final class ProcessTests: XCTestCase {
  private var proc: FakeProc!

  override func setUpWithError() throws { proc = try FakeProc() }
  override func tearDown() { proc.remove() }

  func testReadsStatAndCmdline() throws {
    try proc.add(
      pid: 4250, comm: "node", state: "S", ppid: 4242, pgrp: 4250, session: 4242, tty: 34819,
      tpgid: 4250, argv: ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", ""])
    let p = try XCTUnwrap(ProcPlane.read(pid: 4250, procRoot: proc.root))
    XCTAssertEqual(p.pid, 4250)
    XCTAssertEqual(p.comm, "node")
    XCTAssertEqual(p.state, "sleeping")
    XCTAssertEqual(p.stateCode, "S")
    XCTAssertEqual(p.argv, ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"])
    XCTAssertEqual(p.ppid, 4242)
    XCTAssertEqual(p.pgrp, 4250)
    XCTAssertEqual(p.session, 4242)
    XCTAssertEqual(p.ttyNr, 34819)
    XCTAssertEqual(p.tpgid, 4250)
    XCTAssertEqual(p.startTime, 123_456)
    XCTAssertEqual(
      p.jsonValue,
      .object([
        ("pid", .int(4250)), ("state", .string("sleeping")),
        (
          "argv",
          .array([
            .string("node"), .string("/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"),
          ])
        ),
      ]))
    XCTAssertNil(ProcPlane.read(pid: 4251, procRoot: proc.root))
    XCTAssertNil(ProcPlane.read(pid: 0, procRoot: proc.root))
    XCTAssertNil(ProcPlane.read(pid: -1, procRoot: proc.root))
  }

  func testCommWithSpacesAndParenthesesSplitsAtTheLastParenthesis() throws {
    try proc.add(pid: 77, comm: "a) b (c) T 9 9", state: "T", ppid: 5, pgrp: 6, tpgid: 6)
    let p = try XCTUnwrap(ProcPlane.read(pid: 77, procRoot: proc.root))
    XCTAssertEqual(p.comm, "a) b (c) T 9 9")
    XCTAssertEqual(p.state, "stopped")
    XCTAssertTrue(p.isStopped)
    XCTAssertEqual(p.ppid, 5)
    XCTAssertEqual(p.pgrp, 6)
    XCTAssertEqual(p.tpgid, 6)
  }

  func testStateWords() {
    let words: [Character: String] = [
      "R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "tracing-stop",
      "Z": "zombie", "X": "dead", "I": "idle", "P": "parked", "W": "unknown",
    ]
    for (code, word) in words { XCTAssertEqual(ProcessSnapshot.stateWord(code), word) }
  }

  func testMalformedStatIsUnreadable() throws {
    for (pid, text) in [
      (10, ""), (11, "11 noparens S 1 1"), (12, "12 (x) S 1"), (13, "x (y) S 1 2 3 4 5"),
    ] {
      let dir = "\(proc.root)/\(pid)"
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      try Data(text.utf8).write(to: URL(fileURLWithPath: "\(dir)/stat"))
      XCTAssertNil(ProcPlane.read(pid: Int32(pid), procRoot: proc.root), text)
    }
  }

  func testProcessTitlePaddingAndMissingCmdline() throws {
    try proc.add(pid: 20, argv: ["claude", "", "", ""])
    XCTAssertEqual(ProcPlane.read(pid: 20, procRoot: proc.root)?.argv, ["claude"])
    try proc.add(pid: 21, argv: ["a", "", "b"])
    XCTAssertEqual(ProcPlane.read(pid: 21, procRoot: proc.root)?.argv, ["a", "", "b"])
    try proc.add(pid: 22, comm: "kworker/0:1", state: "I", argv: [])
    let kernel = try XCTUnwrap(ProcPlane.read(pid: 22, procRoot: proc.root))
    XCTAssertEqual(kernel.argv, [])
    XCTAssertEqual(kernel.state, "idle")
  }

  func testForegroundIsTheForegroundGroupLeader() throws {
    try proc.add(pid: 100, comm: "bash", pgrp: 100, session: 100, tpgid: 200, argv: ["-bash"])
    try proc.add(
      pid: 200, comm: "node", pgrp: 200, session: 100, tpgid: 200, argv: ["node", "x.js"])
    XCTAssertEqual(ProcPlane.foreground(ofPanePid: 100, procRoot: proc.root)?.pid, 200)
    XCTAssertNil(ProcPlane.foreground(ofPanePid: 999, procRoot: proc.root))
  }

  func testForegroundFallsBackToThePaneProcess() throws {
    // No foreground group.
    try proc.add(pid: 100, pgrp: 100, tpgid: -1)
    XCTAssertEqual(ProcPlane.foreground(ofPanePid: 100, procRoot: proc.root)?.pid, 100)
    // The leader exited.
    try proc.add(pid: 101, pgrp: 101, tpgid: 300)
    XCTAssertEqual(ProcPlane.foreground(ofPanePid: 101, procRoot: proc.root)?.pid, 101)
    // The pid is not the group's leader (it is in another group).
    try proc.add(pid: 102, pgrp: 102, tpgid: 103)
    try proc.add(pid: 103, pgrp: 55)
    XCTAssertEqual(ProcPlane.foreground(ofPanePid: 102, procRoot: proc.root)?.pid, 102)
  }

  func testStoppedProcessInTheForegroundGroup() throws {
    // sh -c 'sleep; ...' in the pane: one group, the grandchild stopped.
    try proc.add(pid: 100, comm: "sh", pgrp: 100, tpgid: 100)
    try proc.add(pid: 101, comm: "sleep", state: "T", ppid: 100, pgrp: 100, tpgid: 100)
    // A stopped process in another (background) group does not count.
    try proc.add(pid: 200, comm: "bash", pgrp: 200, tpgid: 200)
    try proc.add(pid: 201, comm: "vim", state: "T", ppid: 200, pgrp: 201, tpgid: 200)
    // The leader itself stopped.
    try proc.add(pid: 300, comm: "sh", pgrp: 300, tpgid: 301)
    try proc.add(pid: 301, comm: "cat", state: "T", ppid: 300, pgrp: 301, tpgid: 301)
    // A tracing stop is not a job-control stop.
    try proc.add(pid: 400, comm: "gdb-target", state: "t", pgrp: 400, tpgid: 400)

    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(ofPanePid: 100, procRoot: proc.root), true)
    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(ofPanePid: 200, procRoot: proc.root), false)
    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(ofPanePid: 300, procRoot: proc.root), true)
    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(ofPanePid: 400, procRoot: proc.root), false)
    XCTAssertNil(ProcPlane.hasStoppedProcessInForeground(ofPanePid: 500, procRoot: proc.root))

    let groups = ProcPlane.stoppedProcessGroups(procRoot: proc.root)
    XCTAssertEqual(groups, [100, 201, 301])
    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(
        ofPanePid: 200, procRoot: proc.root, stoppedGroups: groups),
      false)
    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(
        ofPanePid: 100, procRoot: proc.root, stoppedGroups: []),
      false, "the given scan is trusted")
    XCTAssertEqual(ProcPlane.pids(procRoot: proc.root), [100, 101, 200, 201, 300, 301, 400])
  }

  // MARK: - The real /proc

  func testReadsThisProcess() throws {
    let me = try XCTUnwrap(ProcPlane.read(pid: getpid()))
    XCTAssertEqual(me.pid, getpid())
    XCTAssertEqual(me.state, "running")
    XCTAssertEqual(me.ppid, getppid())
    XCTAssertEqual(me.pgrp, getpgrp())
    XCTAssertFalse(me.argv.isEmpty)
    XCTAssertGreaterThan(me.startTime, 0)
    XCTAssertTrue(ProcPlane.pids().contains(getpid()))
  }

  func testSeesASleepingThenStoppedChild() throws {
    let sleeper = Process()
    sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
    sleeper.arguments = ["30"]
    try sleeper.run()
    let pid = sleeper.processIdentifier
    defer {
      kill(pid, SIGKILL)
      sleeper.waitUntilExit()
    }
    XCTAssertTrue(waitUntil { ProcPlane.read(pid: pid)?.state == "sleeping" })
    XCTAssertEqual(ProcPlane.read(pid: pid)?.argv, ["/bin/sleep", "30"])
    kill(pid, SIGSTOP)
    XCTAssertTrue(waitUntil { ProcPlane.read(pid: pid)?.state == "stopped" })
    let stopped = try XCTUnwrap(ProcPlane.read(pid: pid))
    XCTAssertTrue(ProcPlane.stoppedProcessGroups().contains(stopped.pgrp))
    kill(pid, SIGCONT)
    XCTAssertTrue(waitUntil { ProcPlane.read(pid: pid)?.state == "sleeping" })
  }

  /// What the fleet benchmark's "reads" column times: each file read as fleet ps reads it.
  func testReadEachCountsTheFilesItCouldRead() throws {
    let me = getpid()
    let dir = NSTemporaryDirectory() + "mosaic-readeach-\(me)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "ts=x\n".write(toFile: dir + "/a.hb", atomically: false, encoding: .utf8)
    let paths = [
      "/proc/\(me)/stat", "/proc/\(me)/cmdline", "/proc/\(me)/task/\(me)/children",
      "/proc/\(me)/environ", "/proc/\(me)/cwd", dir + "/a.hb", dir + "/missing.json",
    ]
    XCTAssertEqual(ProcPlane.readEach(paths), 6)
    XCTAssertEqual(ProcPlane.readEach([]), 0)
    XCTAssertEqual(ProcPlane.readEach([dir + "/cwd"]), 0, "not a link: not read")
  }
}
