import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Who is taking an agent over: for the lease holder and the audit log.
public struct AttachIdentity: Sendable, Equatable {
  public var user: String
  public var host: String
  /// The terminal (`/dev/pts/3`), nil without one.
  public var tty: String?
  public var pid: Int32

  public init(user: String, host: String, tty: String?, pid: Int32) {
    self.user = user
    self.host = host
    self.tty = tty
    self.pid = pid
  }

  /// This process, on standard input's terminal.
  public static func current() -> AttachIdentity {
    AttachIdentity(
      user: AuditLog.userName(), host: shortHostName(), tty: AuditLog.terminalName(0),
      pid: getpid())
  }

  /// `user@host (pts/3)`: the lease's `holder`.
  public var holder: String {
    let t = tty.map { $0.hasPrefix("/dev/") ? String($0.dropFirst(5)) : $0 } ?? "no tty"
    return "\(user)@\(host) (\(t))"
  }
}

/// What `agent attach` takes over (SPEC 2.6).
public struct AttachOptions: Sendable {
  public var agent: String
  public var tenant: String?
  /// The agent's tmux session (attached as `=<session>`, exactly).
  public var session: String
  public var socket: String
  public var paneId: String?
  /// `<run>` (the lease) and the state directory (the audit log).
  public var runDir: String
  public var stateDir: String
  public var program: String

  public init(
    agent: String, tenant: String?, session: String, socket: String, paneId: String? = nil,
    runDir: String, stateDir: String, program: String = "tmux"
  ) {
    self.agent = agent
    self.tenant = tenant
    self.session = session
    self.socket = socket
    self.paneId = paneId
    self.runDir = runDir
    self.stateDir = stateDir
    self.program = program
  }
}

/// How an attach ended.
public struct AttachOutcome: Sendable, Equatable {
  /// The exit status: the tmux client's, or 128 + the signal that ended the attach.
  public var status: Int32
  /// One line for stderr, when something went wrong.
  public var message: String?
  /// Nothing was attached (the agent is leased, the lease or audit record could not be
  /// written, tmux could not be started).
  public var refused: Bool

  public init(status: Int32, message: String? = nil, refused: Bool = false) {
    self.status = status
    self.message = message
    self.refused = refused
  }
}

/// `mosaic agent attach`: the only interactive takeover of an agent.
///
/// In order: take the lease `<run>/<agent>.lease` for this process (refused when another
/// live process holds it), append an `attach` record to the audit log (refused, and the
/// lease dropped, when that fails), then run `tmux -L <socket> attach-session -t
/// =<session>` as a child with this process's terminal and wait for it. The child's
/// environment has no `TMUX` (nor `TMUX_PANE`), so from inside another tmux it attaches a
/// nested client; `switch-client` is no alternative, since it cannot move a client to
/// another server's socket. While it waits, SIGTERM and SIGHUP are passed to the client
/// (which then detaches) and SIGINT and SIGQUIT are ignored, so the lease is held exactly
/// as long as the client runs; then the lease is dropped and a `detach` record appended.
public struct AgentAttach {
  public var options: AttachOptions
  public var identity: AttachIdentity

  public init(_ options: AttachOptions, identity: AttachIdentity = .current()) {
    self.options = options
    self.identity = identity
  }

  /// The client's argv.
  public var argv: [String] {
    [options.program, "-L", options.socket, "attach-session", "-t", "=" + options.session]
  }

  /// Whether tmux would take `session` as it is: not empty, no control characters, and
  /// not ending in `;` (which ends a tmux command in argv).
  public static func isAttachableSession(_ session: String) -> Bool {
    !session.isEmpty && !session.hasSuffix(";")
      && !session.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
  }

  /// The environment for the client: this one without `TMUX` and `TMUX_PANE`.
  public static func childEnvironment() -> [String] {
    Environment.all().filter { !$0.hasPrefix("TMUX=") && !$0.hasPrefix("TMUX_PANE=") }
  }

  /// One audit record.
  func record(_ action: String, extra: [(String, JSONValue)] = []) -> JSONValue {
    .object(
      [
        ("ts", .string(ISO8601.format(Clock.now(), fractional: true))),
        ("user", .string(identity.user)),
        ("host", .string(identity.host)),
        ("agent", .string(options.agent)),
        ("tenant_id", .from(options.tenant)),
        ("action", .string(action)),
        ("tty", .from(identity.tty)),
        ("pid", .int(Int64(identity.pid))),
        ("socket", .string(options.socket)),
        ("session", .string(options.session)),
      ] + extra)
  }

  public func run() -> AttachOutcome {
    guard Self.isAttachableSession(options.session) else {
      return AttachOutcome(
        status: 3, message: "session name '\(options.session)' cannot be attached safely",
        refused: true)
    }
    let store = LeaseStore(runDir: options.runDir)
    let lease = Lease(
      holder: identity.holder, since: ISO8601.format(Clock.now()), pid: identity.pid)
    do {
      try Files.ensurePrivateDirectory(options.runDir)
      try store.acquire(agent: options.agent, lease)
    } catch {
      return AttachOutcome(status: 3, message: error.message, refused: true)
    }
    let audit = AuditLog(stateDir: options.stateDir)
    do {
      try audit.append(record("attach", extra: [("pane", .from(options.paneId))]))
    } catch {
      store.release(agent: options.agent, pid: identity.pid)
      return AttachOutcome(
        status: 3, message: "cannot record the takeover: \(error.message)", refused: true)
    }

    let started = Clock.monotonic()
    let outcome = attachClient()
    store.release(agent: options.agent, pid: identity.pid)
    var detach: [(String, JSONValue)] = [
      ("status", .int(Int64(outcome.status))),
      ("duration_s", .double(((Clock.monotonic() - started) * 1000).rounded() / 1000)),
    ]
    if let message = outcome.message { detach.append(("reason", .string(message))) }
    var result = outcome
    do {
      try audit.append(record("detach", extra: detach))
    } catch {
      result.message = (result.message.map { $0 + "; " } ?? "") + "audit log: \(error.message)"
      if result.status == 0 { result.status = 1 }
    }
    return result
  }

  /// Runs the tmux client on this terminal and waits for it.
  private func attachClient() -> AttachOutcome {
    switch ForegroundCommand.run(
      argv, program: options.program, environment: Self.childEnvironment())
    {
    case .exited(let status):
      return AttachOutcome(
        status: status, message: status == 0 ? nil : "tmux attach-session exited with \(status)")
    case .killed(let sig):
      return AttachOutcome(status: 128 + sig, message: "tmux client killed by signal \(sig)")
    case .passedOn(let sig):
      return AttachOutcome(status: 128 + sig, message: "ended by signal \(sig)")
    case .notStarted(let why):
      return AttachOutcome(status: 1, message: why)
    }
  }
}
