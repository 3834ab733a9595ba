import FleetCore
import Foundation
import MosaicSupport
import XCTest

/// The process plane on real tmux panes: the pane's foreground group and a stopped process
/// in it, as tmux and a job-control shell make them (the parsers on a fake /proc are in
/// FleetCoreTests' ProcessTests).
final class ProcessPaneTests: XCTestCase {
  func testForegroundAndStoppedInARealPane() throws {
    let server = TmuxTestServer()
    defer { server.stop() }
    // A non-interactive shell: the sleep is its child in the shell's own process group,
    // which is the terminal's foreground group. tmux does not continue a grandchild.
    server.newSession("fg", argv: ["sh", "-c", "sleep 300; true"])
    let pane = try XCTUnwrap(server.client.listPanes().get().agentPane(of: "fg"))
    let panePid = try XCTUnwrap(pane.panePid)
    var sleepPid: Int32 = 0
    XCTAssertTrue(
      waitUntil {
        sleepPid =
          ProcPlane.pids().first {
            ProcPlane.read(pid: $0).map { $0.ppid == panePid && $0.argv.first == "sleep" } ?? false
          } ?? 0
        return sleepPid > 0
      })
    let fg = try XCTUnwrap(ProcPlane.foreground(ofPanePid: panePid, paneTTY: pane.tty))
    XCTAssertEqual(fg.pid, panePid)
    XCTAssertEqual(fg.argv, ["sh", "-c", "sleep 300; true"])
    XCTAssertEqual(fg.ttyNr, ProcPlane.ttyDevice(pane.tty))
    XCTAssertNil(ProcPlane.foreground(ofPanePid: panePid, paneTTY: "/dev/null"), "another terminal")
    XCTAssertEqual(ProcPlane.hasStoppedProcessInForeground(ofPanePid: panePid), false)

    kill(sleepPid, SIGSTOP)
    defer { kill(sleepPid, SIGKILL) }
    XCTAssertTrue(waitUntil { ProcPlane.read(pid: sleepPid)?.state == "stopped" })
    XCTAssertEqual(ProcPlane.hasStoppedProcessInForeground(ofPanePid: panePid), true)
    XCTAssertEqual(
      ProcPlane.hasStoppedProcessInForeground(
        ofPanePid: panePid, stoppedGroups: ProcPlane.stoppedProcessGroups()),
      true)
  }

  func testForegroundFollowsAJobControlShell() throws {
    let server = TmuxTestServer()
    defer { server.stop() }
    server.newSession("job", argv: ["sh", "-i"])
    let pane = try XCTUnwrap(server.client.listPanes().get().agentPane(of: "job"))
    let panePid = try XCTUnwrap(pane.panePid)
    XCTAssertTrue(waitUntil { ProcPlane.foreground(ofPanePid: panePid)?.pid == panePid })
    server.tmux(["send-keys", "-t", pane.paneId, "-l", "sleep 303"])
    server.tmux(["send-keys", "-t", pane.paneId, "Enter"])
    XCTAssertTrue(waitUntil { ProcPlane.foreground(ofPanePid: panePid)?.argv == ["sleep", "303"] })
    let fg = try XCTUnwrap(ProcPlane.foreground(ofPanePid: panePid))
    XCTAssertNotEqual(fg.pid, panePid)
    XCTAssertEqual(fg.pgrp, fg.pid)
    XCTAssertEqual(RuntimeDetector.detect(argv: fg.argv), nil)
  }
}
