import FleetCore
import Foundation
import MosaicSupport
import XCTest

/// The stub agent driven in-process, through a pipe and through a pseudo-terminal.
final class HeartbeatStubAgentTests: XCTestCase {
  var dir = ""
  var store: HeartbeatStore!

  override func setUp() {
    dir = HeartbeatFixtures.makeRunDir()
    store = HeartbeatStore(runDir: dir)
  }

  override func tearDown() { HeartbeatFixtures.remove(dir) }

  func testMessageNonce() {
    func nonce(_ s: String) -> String? { StubAgent.messageNonce(in: Array(s.utf8)) }
    XCTAssertEqual(nonce("hello [m:abc123]"), "abc123")
    XCTAssertEqual(nonce("[m:a_b-C]"), "a_b-C")
    XCTAssertEqual(nonce("[m:first] then [m:second]"), "second")
    XCTAssertEqual(nonce("[m:ok] then [m:bad one]"), "ok")
    XCTAssertNil(nonce("[m:]"))
    XCTAssertNil(nonce("[m:abc"))
    XCTAssertNil(nonce("[m:a.b]"))
    XCTAssertNil(nonce("[m:\(String(repeating: "x", count: 65))]"))
    XCTAssertEqual(
      nonce("[m:\(String(repeating: "x", count: 64))]"), String(repeating: "x", count: 64))
    XCTAssertNil(nonce("m:abc]"))
  }

  func testThroughAPipe() throws {
    var inPipe: [Int32] = [-1, -1]
    var outPipe: [Int32] = [-1, -1]
    XCTAssertEqual(pipe(&inPipe), 0)
    XCTAssertEqual(pipe(&outPipe), 0)
    let (inR, inW, outR, outW) = (inPipe[0], inPipe[1], outPipe[0], outPipe[1])
    let runDir = dir
    let thread = HeartbeatThread { () -> Int32 in
      let rc = StubAgent(input: inR, output: outW, workTime: 0.1...0.1)
        .run(agent: "stub-1", runDir: runDir, interval: 15)
      close(outW)
      return rc
    }
    let long = String(repeating: "y", count: 100 * 1024)
    let input = "hello [m:abc123]\n" + long + "\r\nlast line, no newline"
    XCTAssertTrue(writeAll(inW, Array(input.utf8)))
    close(inW)
    let output = readToEnd(outR)
    close(outR)
    close(inR)
    XCTAssertEqual(thread.join(timeout: 10), 0)
    XCTAssertEqual(
      output,
      "stub> \nACK abc123\nstub> \nok: 102400 bytes\nstub> \nok: 21 bytes\nstub> ")
    let hb = try XCTUnwrap(store.load(agent: "stub-1"))
    XCTAssertEqual(hb.ack, "abc123")
    XCTAssertEqual(hb.status, "ok")
    XCTAssertEqual(hb.pid, getpid())
    XCTAssertEqual(hb.progress, "3")
  }

  func testThroughAPseudoTerminal() throws {
    let pty = try XCTUnwrap(HeartbeatPty())
    defer { pty.close() }
    var before = termios()
    XCTAssertEqual(tcgetattr(pty.slave, &before), 0)
    let runDir = dir
    let slave = pty.slave
    let thread = HeartbeatThread { () -> Int32 in
      StubAgent(input: slave, output: slave, workTime: 0.4...0.4)
        .run(agent: "stub-tty", runDir: runDir, interval: 15)
    }
    XCTAssertTrue(pty.expect("stub> "))
    XCTAssertTrue(pty.output.contains("\u{1B}[?2004h"), "bracketed paste enabled")

    // A message with a nonce: busy while working, then ACK and ack= in the heartbeat.
    pty.send("hello [m:abc123]\r")
    XCTAssertTrue(
      HeartbeatFixtures.waitUntil(2) { self.store.load(agent: "stub-tty")?.status == "busy" })
    XCTAssertTrue(pty.expect("\r\nACK abc123\r\nstub> "), pty.output)
    let hb = try XCTUnwrap(store.load(agent: "stub-tty"))
    XCTAssertEqual(hb.ack, "abc123")
    XCTAssertEqual(hb.status, "ok")

    // Probes are answered while waiting for input.
    let nonce = try store.sendProbe(agent: "stub-tty")
    XCTAssertEqual(store.awaitProbes(["stub-tty": nonce], timeout: 1), ["stub-tty": true])

    // A bracketed paste: markers stripped, its newline is text, one answer.
    pty.mark()
    pty.send("\u{1B}[200~one\rtwo [m:p-1]\u{1B}[201~\r")
    XCTAssertTrue(pty.expect("ACK p-1\r\nstub> "), pty.output)
    XCTAssertFalse(pty.sinceMark.contains("ok: "), pty.sinceMark)
    XCTAssertFalse(pty.sinceMark.contains("200~"), pty.sinceMark)
    XCTAssertEqual(store.load(agent: "stub-tty")?.ack, "p-1")

    // A 100 KB line (no 4096-byte canonical limit in raw mode).
    pty.send(String(repeating: "z", count: 100 * 1024) + "\r")
    XCTAssertTrue(
      pty.expect("ok: 102400 bytes\r\nstub> ", timeout: 15), String(pty.output.suffix(200)))

    // Editing: backspace, Ctrl-U, Ctrl-C, arrow keys ignored.
    pty.send("abc\u{7F}\r")
    XCTAssertTrue(pty.expect("ok: 2 bytes\r\n"))
    pty.send("héllo\u{7F}\u{7F}\u{7F}\u{7F}\r")
    XCTAssertTrue(pty.expect("ok: 1 bytes\r\n"), pty.output)
    pty.send("abc\u{15}de\u{1B}[A\u{1B}[D\r")
    XCTAssertTrue(pty.expect("ok: 2 bytes\r\n"), pty.output)
    pty.mark()
    pty.send("junk\u{3}")
    XCTAssertTrue(pty.expect("^C\r\nstub> "))
    pty.send("\r")
    XCTAssertTrue(pty.expect("ok: 0 bytes\r\n"))

    // Ctrl-D on a non-empty line does nothing; on an empty line it leaves.
    pty.send("x\u{4}\u{15}\u{4}")
    XCTAssertEqual(thread.join(timeout: 5), 0)
    XCTAssertTrue(pty.expect("\u{1B}[?2004l"))
    var after = termios()
    XCTAssertEqual(tcgetattr(pty.slave, &after), 0)
    XCTAssertEqual(after.c_lflag, before.c_lflag, "terminal restored")
    XCTAssertEqual(after.c_iflag, before.c_iflag, "terminal restored")
  }

  func testSIGTERMRestoresTheTerminal() throws {
    let pty = try XCTUnwrap(HeartbeatPty())
    defer { pty.close() }
    var before = termios()
    XCTAssertEqual(tcgetattr(pty.slave, &before), 0)
    let runDir = dir
    let slave = pty.slave
    let thread = HeartbeatThread { () -> Int32 in
      StubAgent(input: slave, output: slave).run(agent: "s", runDir: runDir, interval: 15)
    }
    XCTAssertTrue(pty.expect("stub> "))
    kill(getpid(), SIGTERM)
    XCTAssertEqual(thread.join(timeout: 5), 128 + SIGTERM)
    var after = termios()
    XCTAssertEqual(tcgetattr(pty.slave, &after), 0)
    XCTAssertEqual(after.c_lflag, before.c_lflag)
  }

  func testBadArguments() {
    XCTAssertEqual(StubAgent(input: -1, output: -1).run(agent: "x/y", runDir: dir, interval: 1), 64)
    XCTAssertEqual(StubAgent(input: -1, output: -1).run(agent: "x", runDir: dir, interval: -1), 64)
  }

  // MARK: helpers

  func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
      if n <= 0 { return false }
      off += n
    }
    return true
  }

  func readToEnd(_ fd: Int32) -> String {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// A pseudo-terminal pair; the test drives the master side.
final class HeartbeatPty {
  let master: Int32
  let slave: Int32
  private var received: [UInt8] = []
  private var markAt = 0
  private var consumed = 0

  init?() {
    // posix_openpt/grantpt/unlockpt/ptsname are not visible through the Glibc module, so
    // do what they do on Linux: open /dev/ptmx, unlock, ask for the pty number.
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard master >= 0 else { return nil }
    let TIOCSPTLCK: UInt = 0x4004_5431
    let TIOCGPTN: UInt = 0x8004_5430
    var unlock: Int32 = 0
    var number: UInt32 = 0
    guard ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
      return nil
    }
    slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard slave >= 0 else { return nil }
    var ws = winsize(ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(master, UInt(TIOCSWINSZ), &ws)
    _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
  }

  var output: String { String(decoding: received, as: UTF8.self) }
  var sinceMark: String { String(decoding: received[markAt...], as: UTF8.self) }
  func mark() { markAt = received.count }

  /// Writes `text` to the master while reading what comes back (the stub echoes, so a
  /// writer that does not read would deadlock on a long line).
  func send(_ text: String) {
    let bytes = Array(text.utf8)
    var off = 0
    let deadline = Clock.monotonic() + 20
    while off < bytes.count, Clock.monotonic() < deadline {
      var fds = [pollfd(fd: master, events: Int16(POLLIN | POLLOUT), revents: 0)]
      _ = poll(&fds, 1, 50)
      if fds[0].revents & Int16(POLLOUT) != 0 {
        let n = bytes.withUnsafeBytes {
          write(master, $0.baseAddress! + off, min(1024, $0.count - off))
        }
        if n > 0 { off += n }
      }
      pump()
    }
  }

  /// Reads what is available.
  func pump() {
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buf.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
      if n <= 0 { return }
      received.append(contentsOf: buf[0..<n])
    }
  }

  /// Waits until the output not yet matched by an earlier `expect` contains `text`, and
  /// consumes the output up to the end of the match.
  func expect(_ text: String, timeout: Double = 5) -> Bool {
    let needle = Array(text.utf8)
    let deadline = Clock.monotonic() + timeout
    while true {
      pump()
      if let end = find(needle) {
        consumed = end
        return true
      }
      if Clock.monotonic() >= deadline { return false }
      var fds = [pollfd(fd: master, events: Int16(POLLIN), revents: 0)]
      _ = poll(&fds, 1, 20)
    }
  }

  private func find(_ needle: [UInt8]) -> Int? {
    guard !needle.isEmpty, received.count - consumed >= needle.count else { return nil }
    for i in consumed...(received.count - needle.count)
    where received[i] == needle[0] && Array(received[i..<(i + needle.count)]) == needle {
      return i + needle.count
    }
    return nil
  }

  func close() {
    Glibc.close(slave)
    Glibc.close(master)
  }
}
