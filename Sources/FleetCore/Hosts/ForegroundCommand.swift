import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Runs a program on this terminal (stdin, stdout and stderr inherited, in mosaic's own
/// process group so that it is in the terminal's foreground group) and waits for it: `ssh -t`
/// for `agent watch` and `agent attach` on another host. SIGINT and SIGQUIT reach the child
/// from the terminal and mosaic waits for it to end; SIGTERM and SIGHUP sent to mosaic are
/// passed on (SIGKILL 3 s later).
public enum ForegroundCommand {
  /// How the child ended.
  public enum Ending: Equatable, Sendable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal killed it (not one mosaic passed on).
    case killed(Int32)
    /// SIGTERM or SIGHUP reached mosaic and was passed on: the child was ended.
    case passedOn(Int32)
    /// It could not be started.
    case notStarted(String)
  }

  /// The exit status (128 + N when signal N ended it) and a message when it did not end
  /// normally with 0.
  public static func run(_ argv: [String]) -> (status: Int32, message: String?) {
    let program = argv.first ?? ""
    switch run(argv, program: program, environment: Environment.all()) {
    case .exited(let status): return (status, nil)
    case .killed(let sig): return (128 + sig, "\(program) killed by signal \(sig)")
    case .passedOn(let sig): return (128 + sig, "ended by signal \(sig)")
    case .notStarted(let why): return (1, why)
    }
  }

  /// Runs `program` (looked up in PATH) with `argv` and `environment` in the foreground.
  public static func run(_ argv: [String], program: String, environment: [String]) -> Ending {
    guard !program.isEmpty, !argv.isEmpty else { return .notStarted("empty argv") }
    guard let signals = SignalPipe.install([SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGCHLD]) else {
      return .notStarted("cannot install signal handlers")
    }
    defer { signals.uninstall() }
    Console.flush()

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU] {
      sigaddset(&defaults, s)
    }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    // Same process group: the child must be in the terminal's foreground group.
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    var pid: pid_t = 0
    let rc = withCStrings(argv) { a in
      withCStrings(environment) { e in
        posix_spawnp(&pid, program, nil, &attr, a, e)
      }
    }
    guard rc == 0 else {
      return .notStarted("cannot run \(program): \(String(cString: strerror(rc)))")
    }

    var signalled: Int32? = nil
    var killAt: Double? = nil
    var waitStatus: Int32 = 0
    while true {
      let w = waitpid(pid, &waitStatus, WNOHANG)
      if w == pid || (w < 0 && errno == ECHILD) { break }
      var p = pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0)
      _ = poll(&p, 1, 250)
      for s in signals.drain() where s.signo == SIGTERM || s.signo == SIGHUP {
        signalled = signalled ?? s.signo
        kill(pid, s.signo)
        killAt = killAt ?? Clock.monotonic() + 3
      }
      if let at = killAt, Clock.monotonic() > at {
        kill(pid, SIGKILL)
        killAt = .infinity
      }
    }
    if let s = signalled { return .passedOn(s) }
    if waitStatus & 0x7F == 0 { return .exited((waitStatus >> 8) & 0xFF) }
    return .killed(waitStatus & 0x7F)
  }
}
