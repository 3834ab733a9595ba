import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One external command: an argv list (never a shell line), optional bytes for its stdin,
/// optional extra environment, and an optional time limit in seconds.
public struct CommandRequest: Sendable, Equatable {
  public var argv: [String]
  public var input: [UInt8]?
  public var environment: [String: String]
  public var timeout: Double?
  /// At most this many bytes of stdout and stderr together are kept; a program that writes
  /// more is killed (its process group) and the result says `outputExceeded`.
  public var outputLimit: Int?

  public init(
    _ argv: [String], input: [UInt8]? = nil, environment: [String: String] = [:],
    timeout: Double? = nil, outputLimit: Int? = nil
  ) {
    self.argv = argv
    self.input = input
    self.environment = environment
    self.timeout = timeout
    self.outputLimit = outputLimit
  }
}

/// What a command did. `status` is the exit code, or 128 + signal number when a signal
/// ended it (as shells report it); `signal` names that signal.
public struct CommandResult: Sendable, Equatable {
  public var status: Int32
  public var signal: Int32?
  public var stdout: [UInt8]
  public var stderr: [UInt8]
  public var timedOut: Bool
  /// The program wrote more than the request's `outputLimit`: what it wrote past the
  /// limit is gone and it was killed (or ended on its own once its pipe closed, as a
  /// `sh -c 'yes; echo'` does). Never `ok`, whatever its exit status.
  public var outputExceeded: Bool = false

  public init(
    status: Int32, signal: Int32? = nil, stdout: [UInt8] = [], stderr: [UInt8] = [],
    timedOut: Bool = false
  ) {
    self.status = status
    self.signal = signal
    self.stdout = stdout
    self.stderr = stderr
    self.timedOut = timedOut
  }

  public var ok: Bool { status == 0 && !timedOut && !outputExceeded }
  public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
  public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// A command could not be started at all (not found, not executable, ...).
public struct SpawnError: Error, CustomStringConvertible, Sendable {
  public let program: String
  public let reason: String
  public var description: String { "cannot run \(program): \(reason)" }
}

/// Runs external commands. The fleet core takes one of these so unit tests can assert the
/// exact argv it builds; production code uses `SpawnRunner`.
public protocol CommandRunner: Sendable {
  func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult
}

extension CommandRunner {
  public func run(_ argv: [String], input: [UInt8]? = nil, timeout: Double? = nil)
    throws(SpawnError) -> CommandResult
  {
    try run(CommandRequest(argv, input: input, timeout: timeout))
  }
}

/// The real runner: `posix_spawnp` with pipes, in a process group of its own so a timeout
/// can kill the whole group. It counts the processes it started (the fleet ps benchmark
/// reports that number).
public struct SpawnRunner: CommandRunner {
  public init() {}

  private static let spawned = Atomic<Int>(0)

  /// How many processes this process has started through a `SpawnRunner`.
  public static var spawnCount: Int { spawned.load(ordering: .relaxed) }

  public func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
    guard let program = request.argv.first, !program.isEmpty else {
      throw SpawnError(program: "", reason: "empty argv")
    }
    var inPipe: [Int32] = [-1, -1]
    var outPipe: [Int32] = [-1, -1]
    var errPipe: [Int32] = [-1, -1]
    guard makePipe(&inPipe), makePipe(&outPipe), makePipe(&errPipe) else {
      throw SpawnError(program: program, reason: String(cString: strerror(errno)))
    }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    // Nothing else leaks into the child, even descriptors someone opened without CLOEXEC.
    if let closeFrom = closeFromAction { _ = closeFrom(&actions, 3) }

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGCHLD, SIGHUP] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setpgroup(&attr, 0)
    posix_spawnattr_setflags(
      &attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

    var envStrings: [String] = []
    if request.environment.isEmpty {
      envStrings = Environment.all()
    } else {
      var merged: [String: String] = [:]
      for entry in Environment.all() {
        if let eq = entry.firstIndex(of: "=") {
          merged[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
      }
      for (k, v) in request.environment { merged[k] = v }
      envStrings = merged.map { "\($0.key)=\($0.value)" }
    }

    var pid: pid_t = 0
    let rc = withCStrings(request.argv) { argv in
      withCStrings(envStrings) { envp in
        posix_spawnp(&pid, program, &actions, &attr, argv, envp)
      }
    }
    close(inPipe[0])
    close(outPipe[1])
    close(errPipe[1])
    guard rc == 0 else {
      close(inPipe[1])
      close(outPipe[0])
      close(errPipe[0])
      throw SpawnError(program: program, reason: String(cString: strerror(rc)))
    }
    Self.spawned.add(1, ordering: .relaxed)
    return Self.collect(
      pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0],
      input: request.input ?? [], timeout: request.timeout, limit: request.outputLimit)
  }

  private static func collect(
    pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32, input: [UInt8], timeout: Double?,
    limit: Int?
  ) -> CommandResult {
    var out: [UInt8] = []
    var err: [UInt8] = []
    var written = 0
    var inFD: Int32 = input.isEmpty ? -1 : stdin
    if input.isEmpty { close(stdin) }
    var outFD = stdout
    var errFD = stderr
    for fd in [stdin, stdout, stderr] where fd >= 0 {
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    let deadline = timeout.map { Clock.monotonic() + $0 }
    var timedOut = false
    var exceeded = false
    var waitStatus: Int32 = 0
    var exited = false
    var buffer = [UInt8](repeating: 0, count: 65536)

    func drain(_ fd: inout Int32, into sink: inout [UInt8], besides other: Int) {
      while fd >= 0 {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
          if let limit, sink.count + other + n > limit {
            // Keep nothing past the limit: the caller is told, and the program is stopped.
            exceeded = true
            close(fd)
            fd = -1
            return
          }
          sink.append(contentsOf: buffer[0..<n])
        } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
          close(fd)
          fd = -1
        } else {
          return
        }
      }
    }

    while true {
      if !exited {
        let w = waitpid(pid, &waitStatus, WNOHANG)
        if w == pid { exited = true }
      }
      if exited {
        // The child is gone; take what its pipes still hold. A daemon it left behind may
        // keep them open, so do not wait for EOF.
        drain(&outFD, into: &out, besides: err.count)
        drain(&errFD, into: &err, besides: out.count)
        break
      }
      if exceeded || (deadline.map { Clock.monotonic() >= $0 } ?? false) {
        timedOut = !exceeded
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        _ = waitpid(pid, &waitStatus, 0)
        exited = true
        continue
      }
      var fds: [pollfd] = []
      if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
      if outFD >= 0 { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
      if errFD >= 0 { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
      var waitMs: Int32 = fds.isEmpty ? 2 : 20
      if let deadline {
        let left = max(0, min((deadline - Clock.monotonic()) * 1000, 60_000))
        waitMs = min(waitMs, Int32(left) + 1)
      }
      if fds.isEmpty {
        usleep(UInt32(waitMs) * 500)
        continue
      }
      _ = poll(&fds, nfds_t(fds.count), waitMs)
      for p in fds where p.revents != 0 {
        if p.fd == inFD {
          let n = input.withUnsafeBytes { raw in
            Glibc.write(inFD, raw.baseAddress! + written, raw.count - written)
          }
          if n > 0 { written += n }
          if written >= input.count || (n < 0 && errno != EAGAIN && errno != EINTR) {
            close(inFD)
            inFD = -1
          }
        } else if p.fd == outFD {
          drain(&outFD, into: &out, besides: err.count)
        } else if p.fd == errFD {
          drain(&errFD, into: &err, besides: out.count)
        }
      }
    }
    if inFD >= 0 { close(inFD) }
    if outFD >= 0 { close(outFD) }
    if errFD >= 0 { close(errFD) }
    let status: Int32
    var signal: Int32? = nil
    if waitStatus & 0x7f == 0 {
      status = (waitStatus >> 8) & 0xff
    } else {
      signal = waitStatus & 0x7f
      status = 128 + (waitStatus & 0x7f)
    }
    var result = CommandResult(
      status: status, signal: signal, stdout: out, stderr: err, timedOut: timedOut)
    result.outputExceeded = exceeded
    return result
  }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), looked up at run time: the
/// Glibc module does not export it (it is a GNU extension).
private typealias CloseFrom =
  @convention(c) (
    UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32
  ) -> Int32
private let closeFromAction: CloseFrom? = {
  guard
    let symbol = dlsym(
      UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
  else { return nil }
  return unsafeBitCast(symbol, to: CloseFrom.self)
}()

/// A pipe whose both ends close on exec (children get only what dup2 gives them).
private func makePipe(_ fds: inout [Int32]) -> Bool {
  guard pipe(&fds) == 0 else { return false }
  _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
  _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
  return true
}

/// Calls `body` with a NULL-terminated C array of the given strings.
public func withCStrings<R>(
  _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
) -> R {
  var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
  pointers.append(nil)
  defer { for p in pointers { free(p) } }
  return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A runner whose every command ends by `deadline` (monotonic seconds): each request's
/// timeout is capped at the time left. A script's `--timeout` thus bounds host calls that
/// run external programs (fleet ps against a hung tmux server), not only Lua code.
public struct DeadlineRunner: CommandRunner {
  public let base: any CommandRunner
  public let deadline: Double

  public init(_ base: any CommandRunner, deadline: Double) {
    self.base = base
    self.deadline = deadline
  }

  public func run(_ request: CommandRequest) throws(SpawnError) -> CommandResult {
    var capped = request
    let left = max(0.01, deadline - Clock.monotonic())
    capped.timeout = min(request.timeout ?? left, left)
    return try base.run(capped)
  }
}
