import MosaicSupport

// The writer side of the heartbeat protocol: beats, answers probes, wraps a command.
#if canImport(Glibc)
  import Glibc
#endif

/// Writes an agent's heartbeat every interval and answers probes.
///
/// Probes are found by polling `<run>/<agent>.probe` (one lstat) every
/// `probePollInterval` seconds, so a probe is answered within about 0.2 s plus one write.
/// Polling was chosen over inotify: it costs a single syscall five times a second, works on
/// every file system, and needs no extra file descriptor or platform code.
///
/// Not thread-safe: use one responder from one thread at a time.
public final class HeartbeatResponder {
  public let agent: String
  public let store: HeartbeatStore
  /// Seconds between beats (the roster's `heartbeat_interval`); written as `interval=`.
  public let interval: Double
  /// The process the heartbeat speaks for (`pid=`).
  public var pid: Int32
  /// `ok` or `busy`, asked at every beat.
  public var statusProvider: () -> String
  /// More fields, asked at every beat. `ack` and `progress` fill those reserved fields;
  /// the other reserved keys are the responder's own and are ignored; any other key is
  /// written as an extra.
  public var extraProvider: (() -> [(String, String)])?
  /// Called when a beat started by `tick()`, `pollProbe()` or `run(until:)` fails.
  public var onError: ((HeartbeatError) -> Void)?
  /// `ack=`, the nonce of the last input accepted (the extra provider may override it).
  public var ack: String?
  /// `progress=`, an opaque token that changes when the agent makes progress.
  public var progress: String?
  /// The last `seq=` written (0 before the first beat).
  public private(set) var seq: Int64 = 0
  /// The nonce of the last probe answered (`probe=`).
  public private(set) var lastProbe: String?

  /// How often `run`/`tick` look for a probe file.
  public static let probePollInterval = 0.2
  /// The interval used when the one given is not a positive finite number.
  public static let defaultInterval = 15.0

  private var lastBeatAt = -Double.infinity

  public init(
    agent: String, runDir: String, interval: Double, pid: Int32 = getpid(),
    status: @escaping () -> String = { "ok" }, extra: (() -> [(String, String)])? = nil
  ) {
    self.agent = agent
    self.store = HeartbeatStore(runDir: runDir)
    self.interval = interval.isFinite && interval > 0 ? interval : Self.defaultInterval
    self.pid = pid
    self.statusProvider = status
    self.extraProvider = extra
  }

  /// Writes a heartbeat now: ts = now, seq + 1, the interval, the last probe answered, ack,
  /// progress, extras. Also restarts the beat schedule.
  ///
  /// With `keepHookState`, what the runtime's hooks last wrote (`status`, `ack`,
  /// `progress`, `hook`, `since`, `waiting`) is carried forward, under the heartbeat lock,
  /// so a wrapper never says `ok` over a hook's `waiting`.
  public func beat() throws(HeartbeatError) {
    seq += 1
    lastBeatAt = Clock.monotonic()
    var hb = Heartbeat(
      ts: Clock.now(), pid: pid, status: statusProvider(), seq: seq, interval: interval,
      probe: lastProbe, ack: ack, progress: progress)
    for (key, value) in extraProvider?() ?? [] {
      switch key {
      case "ack": hb.ack = value
      case "progress": hb.progress = value
      case _ where Heartbeat.reservedKeys.contains(key): continue
      default: hb.extra.append((key, value))
      }
    }
    guard keepHookState else { return try store.write(agent: agent, hb) }
    try store.update(agent: agent) { current in
      guard let current, current.value(forKey: "hook") != nil else { return hb }
      var merged = hb
      merged.status = current.status
      merged.ack = current.ack ?? hb.ack
      merged.progress = current.progress ?? hb.progress
      merged.extra.removeAll { HeartbeatStore.hookKeys.contains($0.0) }
      merged.extra += current.extra.filter { HeartbeatStore.hookKeys.contains($0.0) }
      return merged
    }
  }

  /// Carry the hooks' fields forward at every beat (the `mosaic heartbeat` wrapper and
  /// standalone responder do; the stub, which knows its own state, does not).
  public var keepHookState = false

  /// Answers a pending probe: if `<run>/<agent>.probe` exists and holds a plain nonce
  /// (`[A-Za-z0-9_-]{1,64}`, read trusted, at most 256 bytes), beats with `probe=<nonce>`.
  /// The probe file is always consumed (a bad one is dropped). True when a probe was
  /// answered.
  @discardableResult
  public func pollProbe() -> Bool {
    guard store.hasProbe(agent: agent), let nonce = store.takeProbe(agent: agent) else {
      return false
    }
    lastProbe = nonce
    return beatReporting()
  }

  /// One step of the responder loop: beats if an interval has passed since the last beat,
  /// answers a pending probe, and returns how long the caller may wait before the next
  /// step (at most `probePollInterval`).
  @discardableResult
  public func tick() -> Double {
    if Clock.monotonic() >= lastBeatAt + interval { beatReporting() }
    pollProbe()
    let untilBeat = lastBeatAt + interval - Clock.monotonic()
    return max(0, min(Self.probePollInterval, untilBeat))
  }

  /// Beats at once and then every interval, and answers probes within
  /// `probePollInterval`, until `stop()` returns true (checked at least every 0.2 s).
  public func run(until stop: () -> Bool) {
    while !stop() {
      let wait = tick()
      if wait > 0 { Clock.sleep(wait) }
    }
  }

  @discardableResult
  func beatReporting() -> Bool {
    do {
      try beat()
      return true
    } catch {
      onError?(error)
      return false
    }
  }
}

// MARK: - the `mosaic heartbeat` command forms

extension HeartbeatResponder {
  /// `mosaic heartbeat <agent> [--interval S] [--pid PID]`: beats for `pid` (default: this
  /// process) and answers probes until SIGTERM, SIGINT or SIGHUP (returns 0), or until
  /// `pid`, when it is another process, is gone (returns 0: a heartbeat must not outlive
  /// the process it speaks for). Errors go to stderr as `mosaic: heartbeat: ...` (each
  /// distinct message once); a bad agent name or interval returns 64, an unusable run
  /// directory 1.
  public static func runStandalone(agent: String, runDir: String, interval: Double, pid: Int32?)
    -> Int32
  {
    if let code = checkArguments(agent: agent, interval: interval) { return code }
    let store = HeartbeatStore(runDir: runDir)
    do {
      try store.ensureRunDir()
    } catch {
      reportError(error.message)
      return 1
    }
    let target = pid ?? getpid()
    if target != getpid(), !processExists(target) {
      reportError("no process \(target)")
      return 1
    }
    let responder = HeartbeatResponder(
      agent: agent, runDir: runDir, interval: interval, pid: target)
    responder.onError = errorReporter()
    responder.keepHookState = true
    guard let signals = SignalPipe.install([SIGTERM, SIGINT, SIGHUP]) else {
      responder.run(until: { target != getpid() && !processExists(target) })
      return 0
    }
    defer { signals.uninstall() }
    while true {
      if target != getpid(), !processExists(target) { return 0 }
      let wait = responder.tick()
      var p = pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0)
      _ = poll(&p, 1, Int32((wait * 1000).rounded(.up)))
      if !signals.drain().isEmpty { return 0 }
    }
  }

  /// `mosaic heartbeat <agent> -- CMD ARGS...`: runs CMD as a child (found on PATH, never
  /// through a shell) that inherits stdin, stdout, stderr and this process group (so it
  /// owns the terminal as this process did), and beats with the child's pid while it lives,
  /// answering probes. SIGTERM, SIGINT and SIGHUP sent to this process are forwarded to the
  /// child; the ones the terminal sends (Ctrl-C, hangup) already reach the whole process
  /// group and are not sent twice. Returns the child's exit status, or 128 + the signal
  /// that killed it. When the child is gone the heartbeat simply stops (the file goes
  /// stale, which is the truth). 127: CMD not found; 126: it could not be run; 64: bad
  /// arguments; 1: unusable run directory. Messages go to stderr as
  /// `mosaic: heartbeat: ...`.
  ///
  /// One at a time per process (it installs signal handlers).
  public static func runWrapped(
    agent: String, runDir: String, interval: Double, argv: [String]
  ) -> Int32 {
    if let code = checkArguments(agent: agent, interval: interval) { return code }
    guard let program = argv.first, !program.isEmpty else {
      reportError("no command to run after --")
      return 64
    }
    let store = HeartbeatStore(runDir: runDir)
    do {
      try store.ensureRunDir()
    } catch {
      reportError(error.message)
      return 1
    }
    // Handlers first, so no signal between the spawn and the loop is lost.
    let signals = SignalPipe.install([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
    defer { signals?.uninstall() }

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attr, &mask)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    var child: pid_t = 0
    let rc = withCStrings(argv) { cargv in
      posix_spawnp(&child, program, nil, &attr, cargv, environ)
    }
    guard rc == 0 else {
      reportError("cannot run \(program): \(String(cString: strerror(rc)))")
      return rc == ENOENT ? 127 : 126
    }
    signals?.setQuietPID(child)

    let responder = HeartbeatResponder(
      agent: agent, runDir: runDir, interval: interval, pid: child)
    responder.onError = errorReporter()
    responder.keepHookState = true
    let watchTerminal = isatty(0) == 1
    var hungUpAt: Double? = nil
    var status: Int32 = 0
    while true {
      let w = waitpid(child, &status, WNOHANG)
      if w == child { break }
      // The pane is gone (its terminal hung up, as after `tmux kill-server`): stop beating,
      // and end the child as the hangup would have, so nothing lives on under pid 1.
      if watchTerminal, hungUpAt == nil, terminalHungUp() {
        hungUpAt = Clock.monotonic()
        kill(child, SIGHUP)
        kill(child, SIGCONT)
      }
      if let t = hungUpAt {
        if Clock.monotonic() - t > 3 { kill(child, SIGKILL) }
        Clock.sleep(0.05)
        continue
      }
      if w < 0, errno != EINTR {
        reportError("lost the child \(child): \(String(cString: strerror(errno)))")
        return 1
      }
      let wait = responder.tick()
      if let signals {
        // A SIGCHLD since waitpid() is still in the pipe, so poll() returns at once.
        var p = pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&p, 1, Int32((wait * 1000).rounded(.up)))
        for s in signals.drain() where s.external && s.signo != SIGCHLD { kill(child, s.signo) }
      } else {
        // No handlers (another SignalPipe is active): poll the child often instead.
        Clock.sleep(min(wait, 0.05))
      }
    }
    return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
  }

  /// Whether standard input, a terminal, has hung up (its pane was destroyed): poll()
  /// reports POLLHUP or POLLERR without reading anything.
  static func terminalHungUp() -> Bool {
    var p = pollfd(fd: 0, events: 0, revents: 0)
    guard poll(&p, 1, 0) >= 0 else { return false }
    return p.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
  }

  static func checkArguments(agent: String, interval: Double, command: String = "heartbeat")
    -> Int32?
  {
    guard HeartbeatStore.isValidAgentName(agent) else {
      reportError(
        command: command,
        "invalid agent name \"\(HeartbeatParser.snippet(agent))\" "
          + "(want letters, digits, _ and -, up to 64)")
      return 64
    }
    guard interval.isFinite, interval > 0 else {
      reportError(
        command: command,
        "invalid interval \(HeartbeatParser.formatSeconds(interval)) "
          + "(want a positive number of seconds)")
      return 64
    }
    return nil
  }

  static func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
  }

  static func reportError(command: String = "heartbeat", _ message: String) {
    let line = Array("mosaic: \(command): \(message)\n".utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
  }

  /// Reports each distinct error once (the wrapped child shares our terminal; repeating the
  /// same failure every interval would scribble over its screen).
  static func errorReporter() -> (HeartbeatError) -> Void {
    var last: String?
    return { error in
      guard error.message != last else { return }
      last = error.message
      reportError(error.message)
    }
  }
}
