import MosaicSupport

// The dogfood stub agent (SPEC 2.3): `mosaic agent stub <agent>`.
#if canImport(Glibc)
  import Glibc
#endif

/// An interactive line agent that speaks the heartbeat protocol, for dogfooding the fleet
/// tools without a real AI runtime.
///
/// It shows the prompt `stub> `, reads its input in raw mode when the input is a terminal
/// (so lines are not cut at the 4096-byte canonical limit; output post-processing stays
/// on, so `\n` still becomes CR LF) and enables bracketed paste. Editing: printable bytes
/// (and UTF-8) are echoed; backspace (0x7f, 0x08) removes the last character; Ctrl-U clears
/// the line; Ctrl-C clears it and shows a new prompt; Ctrl-D on an empty line leaves
/// (status 0). Bracketed paste markers (`ESC[200~` ... `ESC[201~`) are stripped, and inside
/// a paste a newline is part of the text; other escape sequences (arrow keys, ...) are
/// ignored. Enter (CR, or LF outside a paste; CR LF counts once) submits the line: the
/// heartbeat goes `status=busy`, the agent "works" 100-300 ms, then prints `ACK <nonce>`
/// on a line of its own when the line carries `[m:<nonce>]` (`[A-Za-z0-9_-]{1,64}`; the
/// last such marker counts) and records `ack=<nonce>`, otherwise `ok: <n> bytes`; then
/// `status=ok`, a beat, and a new prompt. Between keystrokes it waits in poll() for at most
/// 200 ms, so it beats every interval and answers probes in time.
///
/// When the input is not a terminal (a pipe), the same byte handling applies without echo;
/// end of input leaves with status 0. SIGTERM and SIGHUP restore the terminal and leave
/// with 128 + the signal. Lines longer than `maxLineBytes` keep their first `maxLineBytes`
/// bytes (the rest is counted but dropped).
public struct StubAgent: Sendable {
  /// The file descriptor read for input (standard input by default).
  public var input: Int32
  /// The file descriptor written for output (standard output by default).
  public var output: Int32
  /// How long "working" on a line takes, in seconds (a random value in this range).
  public var workTime: ClosedRange<Double>

  public static let prompt = "stub> "
  public static let maxLineBytes = 16 << 20

  public init(input: Int32 = 0, output: Int32 = 1, workTime: ClosedRange<Double> = 0.1...0.3) {
    self.input = input
    self.output = output
    self.workTime = workTime
  }

  /// Runs until Ctrl-D on an empty line or end of input (0), SIGTERM/SIGHUP (128 + signal),
  /// or a read error (1). Bad arguments: 64; unusable run directory: 1.
  public func run(agent: String, runDir: String, interval: Double) -> Int32 {
    if let code = HeartbeatResponder.checkArguments(
      agent: agent, interval: interval, command: "agent stub")
    {
      return code
    }
    let store = HeartbeatStore(runDir: runDir)
    do {
      try store.ensureRunDir()
    } catch {
      HeartbeatResponder.reportError(command: "agent stub", error.message)
      return 1
    }
    let session = StubSession(agent: self, name: agent, runDir: runDir, interval: interval)
    return session.run()
  }

  /// The nonce of the last `[m:<nonce>]` marker in `line`, if any.
  public static func messageNonce(in line: [UInt8]) -> String? {
    var found: String?
    var i = 0
    let n = line.count
    while i + 3 < n {
      if line[i] == UInt8(ascii: "["), line[i + 1] == UInt8(ascii: "m"),
        line[i + 2] == UInt8(ascii: ":")
      {
        var j = i + 3
        while j < n, j - (i + 3) <= 64, HeartbeatParser.isNonceByte(line[j]) { j += 1 }
        let len = j - (i + 3)
        if j < n, line[j] == UInt8(ascii: "]"), (1...64).contains(len) {
          found = String(decoding: line[(i + 3)..<j], as: UTF8.self)
          i = j
          continue
        }
      }
      i += 1
    }
    return found
  }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR/EAGAIN. False on error.
@discardableResult
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
  var off = 0
  while off < bytes.count {
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
    if n > 0 {
      off += n
    } else if n < 0, errno == EINTR {
      continue
    } else if n < 0, errno == EAGAIN {
      var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
      _ = poll(&p, 1, 100)
    } else {
      return false
    }
  }
  return true
}

/// The stub's mutable state for one run.
private final class StubSession {
  let config: StubAgent
  let responder: HeartbeatResponder
  var busy = false
  var lastAck: String?
  var answered = 0

  // Line editing.
  var line: [UInt8] = []
  var lineBytes = 0
  var inPaste = false
  var lastWasCR = false
  var escape: EscapeState = .none
  var echo = false
  var pending: [UInt8] = []

  enum EscapeState {
    case none
    case escape
    case csi([UInt8])
    case ss3
  }

  init(agent: StubAgent, name: String, runDir: String, interval: Double) {
    config = agent
    responder = HeartbeatResponder(agent: name, runDir: runDir, interval: interval)
    responder.statusProvider = { [unowned self] in busy ? "busy" : "ok" }
    responder.extraProvider = { [unowned self] in
      var f: [(String, String)] = []
      if let lastAck { f.append(("ack", lastAck)) }
      f.append(("progress", String(answered)))
      return f
    }
    var reported: String?
    responder.onError = { error in
      guard error.message != reported else { return }
      reported = error.message
      HeartbeatResponder.reportError(command: "agent stub", error.message)
    }
  }

  func run() -> Int32 {
    let fd = config.input
    var saved = termios()
    var raw = false
    if isatty(fd) == 1, tcgetattr(fd, &saved) == 0 {
      var t = saved
      cfmakeraw(&t)
      t.c_oflag |= tcflag_t(OPOST | ONLCR)
      raw = tcsetattr(fd, TCSANOW, &t) == 0
    }
    echo = raw
    let bracketed = raw && isatty(config.output) == 1
    if bracketed { out("\u{1B}[?2004h") }
    let signals = SignalPipe.install([SIGTERM, SIGHUP])
    defer {
      signals?.uninstall()
      if bracketed { out("\u{1B}[?2004l") }
      flush()
      if raw { tcsetattr(fd, TCSANOW, &saved) }
    }

    responder.beatReporting()
    out(StubAgent.prompt)
    flush()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
      let wait = responder.tick()
      var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
      if let signals { fds.append(pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0)) }
      let ready = poll(&fds, nfds_t(fds.count), Int32((wait * 1000).rounded(.up)))
      if let signals, let s = signals.drain().first { return 128 + s.signo }
      guard ready > 0, fds[0].revents != 0 else { continue }
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR || errno == EAGAIN { continue }
        return 1
      }
      if n == 0 {
        // End of input: a last line without its newline still gets its answer.
        if lineBytes > 0 { submit() } else { out("\n") }
        flush()
        return 0
      }
      for i in 0..<n {
        if let code = handle(buf[i]) { return code }
      }
      flush()
    }
  }

  // MARK: output

  func out(_ s: String) { pending.append(contentsOf: s.utf8) }

  func flush() {
    guard !pending.isEmpty else { return }
    writeAll(config.output, pending)
    pending.removeAll(keepingCapacity: true)
  }

  // MARK: input

  /// Handles one input byte; returns an exit status when the agent should leave.
  func handle(_ b: UInt8) -> Int32? {
    let wasCR = lastWasCR
    lastWasCR = false
    switch escape {
    case .escape:
      switch b {
      case UInt8(ascii: "["): escape = .csi([])
      case UInt8(ascii: "O"): escape = .ss3
      default: escape = .none
      }
      return nil
    case .ss3:
      escape = .none
      return nil
    case .csi(var params):
      switch b {
      case 0x20...0x3F:
        if params.count < 32 { params.append(b) }
        escape = .csi(params)
      case 0x40...0x7E:
        escape = .none
        if b == UInt8(ascii: "~"), params == Array("200".utf8) { inPaste = true }
        if b == UInt8(ascii: "~"), params == Array("201".utf8) { inPaste = false }
      default:
        escape = .none
      }
      return nil
    case .none:
      break
    }

    switch b {
    case 0x1B:
      escape = .escape
    case 0x0D:
      lastWasCR = true
      if inPaste { append(0x0A) } else { submit() }
    case 0x0A:
      if inPaste {
        append(0x0A)
      } else if !wasCR {
        submit()
      }
    case 0x7F, 0x08:
      backspace()
    case 0x15:
      clearLine()
    case 0x03:
      if echo { out("^C") }
      out("\n")
      resetLine()
      inPaste = false
      out(StubAgent.prompt)
    case 0x04:
      if line.isEmpty, !inPaste {
        out("\n")
        return 0
      }
    case 0x09, 0x20...0xFF:
      append(b)
    default:
      break
    }
    return nil
  }

  func append(_ b: UInt8) {
    lineBytes += 1
    if line.count < StubAgent.maxLineBytes { line.append(b) }
    if echo { pending.append(b) }
    if pending.count >= 65536 { flush() }
  }

  func resetLine() {
    line.removeAll(keepingCapacity: line.count < 1 << 20)
    lineBytes = 0
  }

  /// Removes the last character (a UTF-8 sequence counts as one).
  func backspace() {
    guard let last = line.last else { return }
    while let b = line.last {
      line.removeLast()
      lineBytes -= 1
      if b & 0xC0 != 0x80 { break }
    }
    if echo, last != 0x0A { out("\u{08} \u{08}") }
  }

  /// Ctrl-U: erases the line in place when it fits on one terminal row, else starts a
  /// fresh prompt on the next line.
  func clearLine() {
    let columns = line.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
    let fits = !line.contains(0x0A) && StubAgent.prompt.count + columns < terminalWidth()
    resetLine()
    guard echo else { return }
    if fits {
      out("\r\u{1B}[K" + StubAgent.prompt)
    } else {
      out("\n" + StubAgent.prompt)
    }
  }

  func terminalWidth() -> Int {
    var ws = winsize()
    if ioctl(config.output, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
    return 80
  }

  /// Enter: busy, work, answer, ok, new prompt.
  func submit() {
    let text = line
    let count = lineBytes
    resetLine()
    inPaste = false
    out("\n")
    flush()
    busy = true
    responder.beatReporting()
    let work = config.workTime
    Clock.sleep(work.lowerBound < work.upperBound ? Double.random(in: work) : work.lowerBound)
    if let nonce = StubAgent.messageNonce(in: text) {
      lastAck = nonce
      out("ACK \(nonce)\n")
    } else {
      out("ok: \(count) bytes\n")
    }
    answered += 1
    busy = false
    responder.beatReporting()
    out(StubAgent.prompt)
    flush()
  }
}
