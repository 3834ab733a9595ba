import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// What `agent watch` watches and how (SPEC 2.5).
public struct WatchOptions: Sendable {
  /// The agent's name (status line, heartbeat file).
  public var agent: String
  /// The agent's pane, `%N`.
  public var paneId: String
  /// The agent's tmux socket (`tmux -L` name).
  public var socket: String
  /// `<run>`, where the agent's heartbeat is.
  public var runDir: String
  /// The agent's heartbeat interval (for the health rule).
  public var heartbeatInterval: Double
  /// Seconds between captures.
  public var interval: Double
  /// Print the current screen once and return.
  public var once: Bool
  /// The operator's terminal (keys in, screen out).
  public var input: Int32
  public var output: Int32

  public static let defaultInterval = 0.5
  public static let minimumInterval = 0.05

  public init(
    agent: String, paneId: String, socket: String, runDir: String,
    heartbeatInterval: Double = 15, interval: Double = WatchOptions.defaultInterval,
    once: Bool = false, input: Int32 = 0, output: Int32 = 1
  ) {
    self.agent = agent
    self.paneId = paneId
    self.socket = socket
    self.runDir = runDir
    self.heartbeatInterval = heartbeatInterval
    self.interval = interval
    self.once = once
    self.input = input
    self.output = output
  }
}

/// How a watch ended: the exit status, and one line for stderr when it ended badly.
public struct WatchOutcome: Sendable, Equatable {
  public var status: Int32
  public var message: String?

  public init(status: Int32, message: String? = nil) {
    self.status = status
    self.message = message
  }
}

/// `mosaic agent watch`: a read-only view of an agent's pane that attaches no tmux client.
///
/// Each frame is ONE tmux command-client invocation, `display-message` (cursor, size,
/// state) plus `capture-pane -p -e` for the pane id (`TmuxClient.capture`). A command client is
/// not attached to any session, so the agent's window is never resized, no focus event is
/// generated, and nothing is ever written to the pane: the watcher has no code path that
/// sends keys, pastes or resizes. What the operator types is read here and dropped.
///
/// Three ways to show it:
/// - output is a terminal: full screen (alternate screen, raw input), redrawn every
///   `interval` seconds, only the rows that changed; `q`, Ctrl-C, Ctrl-D quit (status 0);
///   SIGINT, SIGTERM, SIGHUP, SIGQUIT restore the terminal and end with 128 + the signal;
///   SIGTSTP restores it and stops, SIGCONT takes it back.
/// - `once`: the current screen (with colours on a terminal, plain text otherwise).
/// - output is not a terminal: plain-text snapshots, one each time the screen changes, each
///   after a header line `--- <agent> <ISO 8601 time> <width>x<height> ---`.
///
/// The pane disappearing (its session ended) ends any of them with status 1 and a message.
/// A dead pane (remain-on-exit) stays on view, marked dead in the status line.
public struct AgentWatch {
  public var options: WatchOptions
  public var runner: any CommandRunner

  public init(_ options: WatchOptions, runner: any CommandRunner = SpawnRunner()) {
    self.options = options
    self.runner = runner
  }

  var capturer: TmuxClient {
    TmuxClient(socket: options.socket, runner: runner, timeout: 5)
  }

  public func run() -> WatchOutcome {
    let tty = isatty(options.output) == 1
    if options.once { return once(escapes: tty) }
    return tty ? live() : stream()
  }

  private func failure(_ error: PaneCaptureError) -> WatchOutcome {
    WatchOutcome(status: 1, message: "\(options.agent): \(error)")
  }

  // MARK: --once

  private func once(escapes: Bool) -> WatchOutcome {
    switch capturer.capture(paneId: options.paneId, escapes: escapes) {
    case .failure(let error): return failure(error)
    case .success(let capture):
      var bytes = capture.text
      if escapes { bytes += Array("\u{1B}[0m".utf8) }
      Console.flush()
      _ = WatchTerminal.writeAll(options.output, bytes)
      return WatchOutcome(status: 0)
    }
  }

  // MARK: Plain-text snapshots

  private func stream() -> WatchOutcome {
    guard let signals = SignalPipe.install([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) else {
      return WatchOutcome(status: 1, message: "cannot install signal handlers")
    }
    defer { signals.uninstall() }
    Console.flush()
    var last: [[UInt8]]? = nil
    while true {
      switch capturer.capture(paneId: options.paneId, escapes: false) {
      case .failure(.failed):
        break  // tmux did not answer this time; try again
      case .failure(let error):
        return failure(error)
      case .success(let capture):
        if last != capture.lines {
          last = capture.lines
          let header =
            "--- \(options.agent) \(ISO8601.format(Clock.now(), fractional: true)) "
            + "\(capture.width)x\(capture.height)\(capture.dead ? " dead" : "") ---\n"
          guard WatchTerminal.writeAll(options.output, Array(header.utf8) + capture.text) else {
            return WatchOutcome(status: 0)  // the reader went away (a pipe closed)
          }
        }
      }
      // The output too: a pipe whose reader left reports POLLERR, even when nothing
      // changed on the screen to write.
      var fds = [
        pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0),
        pollfd(fd: options.output, events: 0, revents: 0),
      ]
      _ = poll(&fds, 2, Int32(options.interval * 1000))
      if let s = signals.drain().first { return WatchOutcome(status: 128 + s.signo) }
      if fds[1].revents & Int16(POLLERR | POLLHUP) != 0 { return WatchOutcome(status: 0) }
    }
  }

  // MARK: Full screen

  private func live() -> WatchOutcome {
    guard
      let signals = SignalPipe.install([
        SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGCONT, SIGTSTP,
      ])
    else {
      return WatchOutcome(status: 1, message: "cannot install signal handlers")
    }
    defer { signals.uninstall() }
    // The first capture happens before the terminal is taken, so a refusal is a plain error.
    var last: PaneCapture
    switch capturer.capture(paneId: options.paneId, escapes: true, keepTrailingSpaces: true) {
    case .success(let c): last = c
    case .failure(let error): return failure(error)
    }
    Console.flush()
    let terminal = WatchTerminal(input: options.input, output: options.output)
    terminal.enter()
    defer { terminal.leave() }
    let unicode = WatchTerminal.localeIsUTF8()
    let screen = WatchScreen(unicode: unicode)
    var keys = WatchKeys()
    var readKeys = terminal.inputIsTerminal
    var problem: String? = nil
    var heartbeat = heartbeatText()
    var nextHeartbeat = Clock.monotonic() + 1
    var nextCapture = Clock.monotonic() + options.interval
    var dirty = true
    var buffer = [UInt8](repeating: 0, count: 512)

    while true {
      if dirty {
        let size = terminal.size() ?? (24, 80)
        let bytes = screen.frame(
          last,
          status: { status($0, $1, heartbeat: heartbeat, problem: problem, unicode: unicode) },
          terminalRows: size.rows, terminalColumns: size.columns)
        if !bytes.isEmpty, !terminal.write(bytes) {
          return WatchOutcome(status: 1, message: "the terminal went away")
        }
        dirty = false
      }

      var fds = [pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0)]
      if readKeys { fds.append(pollfd(fd: options.input, events: Int16(POLLIN), revents: 0)) }
      let wait = max(0, nextCapture - Clock.monotonic())
      _ = poll(&fds, nfds_t(fds.count), Int32((wait * 1000).rounded(.up)))

      if readKeys, fds.count > 1, fds[1].revents != 0 {
        let n = buffer.withUnsafeMutableBytes { read(options.input, $0.baseAddress, $0.count) }
        if n > 0 {
          if keys.feed(buffer[0..<n]) { return WatchOutcome(status: 0) }
          keys.endOfRead()
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
          readKeys = false  // end of input: only signals can end the watch now
        }
      }

      for s in signals.drain() {
        switch s.signo {
        case SIGWINCH:
          screen.invalidate()
          terminal.write(Array("\u{1B}[0m\u{1B}[2J".utf8))
          dirty = true
        case SIGTSTP:
          terminal.leave()
          kill(getpid(), SIGSTOP)
        case SIGCONT:
          if terminal.active { terminal.leave() }
          terminal.enter()
          screen.invalidate()
          dirty = true
        default:
          return WatchOutcome(status: 128 + s.signo)
        }
      }

      let now = Clock.monotonic()
      if now >= nextCapture {
        switch capturer.capture(paneId: options.paneId, escapes: true, keepTrailingSpaces: true) {
        case .success(let c):
          last = c
          problem = nil
        case .failure(.failed(let message)):
          problem = message
        case .failure(let error):
          return failure(error)
        }
        if now >= nextHeartbeat {
          heartbeat = heartbeatText()
          nextHeartbeat = now + 1
        }
        nextCapture = Clock.monotonic() + options.interval
        dirty = true
      }
    }
  }

  private func heartbeatText() -> String {
    let reading = HeartbeatStore(runDir: options.runDir).read(
      agent: options.agent, interval: options.heartbeatInterval)
    guard let age = reading.ageS else { return "heartbeat \(reading.health)" }
    return "heartbeat \(reading.health) \(Self.duration(age))"
  }

  /// The status line: agent, that this is read-only and how to leave first (they matter
  /// most when the line is cut), then heartbeat health and the pane's size and state.
  private func status(
    _ capture: PaneCapture, _ vp: WatchViewport, heartbeat: String, problem: String?,
    unicode: Bool
  ) -> String {
    var pane = "pane \(capture.width)x\(capture.height)"
    if vp.cropped {
      pane +=
        " cropped to rows \(vp.top + 1)-\(vp.top + vp.visibleRows),"
        + " cols \(vp.left + 1)-\(vp.left + vp.visibleColumns)"
    }
    if capture.dead {
      pane += ", DEAD" + (capture.deadStatus.map { " (exit status \($0))" } ?? "")
    }
    if capture.inMode { pane += ", in copy mode" }
    var parts = [" \(options.agent)", "READ-ONLY", "q quit", heartbeat, pane]
    if let problem { parts.append("tmux: " + problem) }
    return parts.joined(separator: unicode ? " \u{B7} " : " | ")
  }

  /// `12s`, `3m`, `2h`, `4d` (as `fleet ps` shows ages).
  static func duration(_ s: Double) -> String {
    let v = max(0, s)
    if v < 120 { return "\(Int(v.rounded()))s" }
    if v < 7200 { return "\(Int(v) / 60)m" }
    if v < 172_800 { return "\(Int(v) / 3600)h" }
    return "\(Int(v) / 86400)d"
  }
}
