import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// What `agent send` is asked to do besides the text.
public struct AgentSendOptions: Sendable {
  /// `<run>`: the send lock, leases, heartbeats.
  public var runDir: String
  /// Wait for proof that the line was accepted, and classify (SPEC 2.7).
  public var verify: Bool
  /// Seconds `--verify` may take, counted from when the lock is held.
  public var timeout: Double
  /// Send to a leased agent anyway.
  public var force: Bool
  /// tmux socket name; nil means the roster's.
  public var socket: String?
  /// Seconds to wait for another send to the same agent to finish.
  public var lockWait: Double
  /// Append ` [m:<random nonce>]` to the text, so an agent that acknowledges nonces
  /// (the stub does) can prove it accepted this very message.
  public var appendNonce: Bool

  public init(
    runDir: String, verify: Bool = false, timeout: Double = 5, force: Bool = false,
    socket: String? = nil, lockWait: Double = 30, appendNonce: Bool = false
  ) {
    self.runDir = runDir
    self.verify = verify
    self.timeout = timeout
    self.force = force
    self.socket = socket
    self.lockWait = lockWait
    self.appendNonce = appendNonce
  }
}

/// `mosaic agent send` (SPEC 2.7): resolves the agent, refuses what cannot take input,
/// delivers the text exactly (tmux buffer from stdin, bracketed paste, then Enter as a
/// separate tmux call), and with `verify` classifies what became of it (`SendJudge`).
///
/// Names resolve through the roster first (agent name → its session); a name that is no
/// roster agent addresses the unrostered tmux session of exactly that name on the socket
/// (as `fleet ps` lists it), if the name is a valid agent name and no roster agent uses
/// that session. Targets are always the pane id `%N` of the agent pane from one
/// `list-panes` call. All waiting happens under the per-agent lock (`SendLock`).
public struct AgentSender {
  public var runner: any CommandRunner
  public var tmuxProgram: String
  public var procRoot: String
  /// This machine's short host name.
  public var host: String

  public init(
    runner: any CommandRunner = SpawnRunner(), tmuxProgram: String = "tmux",
    procRoot: String = "/proc", host: String = shortHostName()
  ) {
    self.runner = runner
    self.tmuxProgram = tmuxProgram
    self.procRoot = procRoot
    self.host = host
  }

  /// Seconds the text must show at the cursor before Enter, at most (with and without
  /// `verify`): Enter is pressed as soon as the program has drawn the draft.
  static let draftWaitVerify = 1.0
  static let draftWaitPlain = 0.25

  /// Sends `text` (exactly; empty means Enter alone) to the agent `name` and, with
  /// `options.verify`, classifies the outcome. Never throws: refusals, failures and
  /// verdicts are all in the result (`exitCode` gives SPEC 2.7's exit status).
  public func send(
    _ name: String, text: [UInt8], roster: Roster, options: AgentSendOptions
  ) -> AgentSendResult {
    let run = SendRun(sender: self, name: name, roster: roster, options: options)
    run.execute(text)
    run.ev.append(("elapsed_ms", run.ms(since: run.start)))
    run.result.evidence = run.ev
    return run.result
  }

  /// A stopped process of the pane terminal's foreground process group, for messages.
  static func stoppedMember(ofPanePid panePid: Int32, procRoot: String) -> ProcessSnapshot? {
    guard let pane = ProcPlane.readStat(pid: panePid, procRoot: procRoot) else { return nil }
    let group = pane.tpgid > 0 ? pane.tpgid : pane.pgrp
    for pid in ProcPlane.pids(procRoot: procRoot) {
      if let p = ProcPlane.readStat(pid: pid, procRoot: procRoot), p.pgrp == group, p.isStopped {
        return p
      }
    }
    return nil
  }

  static func explain(
    _ r: AgentSendResult, unread: Int?, tty: String, nonce: String?, timeout: Double
  ) -> String {
    if r.timedOut {
      return "verification timed out after \(TmuxClient.seconds(timeout)) s"
        + " (no acknowledgement, no prompt, and the input line never held still)"
    }
    switch r.basis ?? "" {
    case "ack": return "accepted: the agent acknowledged [m:\(nonce ?? "")]"
    case "prompt":
      return "accepted: the input line returned to its prompt with nothing left unread"
    case "unread":
      return
        "wedged: \(unread ?? 0) bytes stay unread on \(tty); the program is not reading its input"
    case "stopped": return "wedged: a process in the pane's foreground is stopped"
    case "draft-at-cursor": return "draft: the text is still on the input line after Enter"
    case "input-box": return "draft: Enter stayed inside the input box (a new line, not a submit)"
    case "no-prompt":
      return "unknown: there was no prompt to compare with, and no acknowledgement"
    case "pane-exited": return "unknown: the pane's program exited"
    default: return "unknown: the input line neither returned to its prompt nor kept the text"
    }
  }
}

/// One `agent send`, phase by phase: resolve, lock and check, deliver, wait for the draft,
/// Enter, verify. Each phase returns false when it ended the send (refused or failed);
/// `result` and `ev` (the evidence, in order) collect what happened.
private final class SendRun {
  let sender: AgentSender
  let name: String
  let roster: Roster
  let options: AgentSendOptions
  let start = Clock.monotonic()
  let tmux: TmuxClient
  var result: AgentSendResult
  var ev: [(String, JSONValue)] = []

  // Filled in as the phases go.
  var session = ""
  var rostered: RosterAgent?
  var lock: SendLock?
  var deadline = 0.0
  var pane = TmuxPane(session: "", paneId: "")
  var panePid: Int32 = 0
  var message: [UInt8] = []
  var nonce: String?
  var ackBefore: Heartbeat?
  var before: SendScreen?
  var draft: SendDraft?
  var preEnter: SendScreen?
  var enterAt = 0.0

  init(sender: AgentSender, name: String, roster: Roster, options: AgentSendOptions) {
    self.sender = sender
    self.name = name
    self.roster = roster
    self.options = options
    let socket = options.socket ?? roster.socket
    tmux = TmuxClient(socket: socket, runner: sender.runner, program: sender.tmuxProgram)
    result = AgentSendResult(agent: name, host: sender.host, socket: socket)
    result.verify = options.verify
  }

  var socket: String { tmux.socket }
  var procRoot: String { sender.procRoot }

  func ms(since t: Double) -> JSONValue {
    .int(Int64(((Clock.monotonic() - t) * 1000).rounded()))
  }

  func refuse(_ why: String) -> Bool {
    result.refused = why
    result.detail = why
    return false
  }

  func execute(_ text: [UInt8]) {
    defer { lock?.release() }
    guard resolve(), lockAndCheck() else { return }
    prepare(text)
    // Load, paste and Enter are one step for the agent: SIGTERM/SIGINT/SIGHUP wait until
    // it is done (one in between left a tmux buffer behind, or a draft without Enter).
    let entered = SignalsHeld.during { () -> Bool in
      guard deliver() else { return false }
      awaitDraft()
      return pressEnter()
    }
    guard entered, options.verify else { return }
    verify()
  }

  /// Who: a roster agent, else the unrostered session of that name.
  func resolve() -> Bool {
    if let agent = roster.agent(named: name) {
      rostered = agent
      session = agent.session
      result.tenantId = agent.tenant
      result.host = agent.host
      guard agent.host == sender.host else {
        return refuse("runs on host \(agent.host); agent send reaches only this host's panes")
      }
    } else {
      // A session name becomes a file name in <run> (the send lock): `[A-Za-z0-9_-]`, up to
      // 64. A leading `-` is fine there (the path is absolute) and `fleet ps` lists it.
      guard HeartbeatParser.isNonce(name) else { return refuse("no such agent") }
      if let owner = roster.agent(inSession: name) {
        return refuse("no such agent (session '\(name)' belongs to agent '\(owner.name)')")
      }
      session = name
    }
    result.session = session
    return true
  }

  var noSuchAgent: String {
    "no such agent in the roster (\(roster.path)) or session on socket \(socket)"
  }

  /// The lock first (a send that waited for another sees the pane as that one left it),
  /// then the pane, and every reason it cannot take input.
  func lockAndCheck() -> Bool {
    do throws(FileError) {
      try Files.ensurePrivateDirectory(options.runDir)
    } catch {
      return refuse("run directory \(error.message)")
    }
    let lockStart = Clock.monotonic()
    switch SendLock.acquire(path: "\(options.runDir)/\(name).send.lock", wait: options.lockWait) {
    case .success(let l): lock = l
    case .failure(let e): return refuse(e.message)
    }
    ev.append(("lock_wait_ms", ms(since: lockStart)))
    deadline = Clock.monotonic() + options.timeout

    let listing: TmuxListing
    switch tmux.listPanes() {
    case .success(let l): listing = l
    case .failure(.serverAbsent):
      return refuse(
        rostered == nil
          ? noSuchAgent : "no session '\(session)': no tmux server on socket \(socket)")
    case .failure(let e): return refuse("tmux socket \(socket): \(e)")
    }
    guard let found = listing.agentPane(of: session) else {
      return refuse(rostered == nil ? noSuchAgent : "no session '\(session)' on socket \(socket)")
    }
    pane = found
    result.paneId = pane.paneId
    ev.append(("pane", .string(pane.paneId)))
    ev.append(("tty", .string(pane.tty)))
    ev.append(("pane_pid", .from(pane.panePid.map { Int($0) })))
    if pane.dead {
      let how =
        pane.deadSignal.map { "killed by signal \($0)" }
        ?? pane.deadStatus.map { "exited with status \($0)" } ?? "exited"
      return refuse("pane \(pane.paneId) is dead (its program \(how))")
    }
    if pane.inMode {
      return refuse(
        "pane \(pane.paneId) is in \(pane.mode ?? "a mode"), which would swallow the keys"
          + " (leave it: tmux -L \(socket) copy-mode -q -t \(pane.paneId))")
    }
    if pane.inputOff {
      return refuse(
        "pane \(pane.paneId) has input disabled"
          + " (tmux -L \(socket) select-pane -e -t \(pane.paneId))")
    }
    guard let pid = pane.panePid, TmuxArgv.isPaneId(pane.paneId) else {
      return refuse("pane \(pane.paneId): tmux reported no process")
    }
    panePid = pid
    if ProcPlane.hasStoppedProcessInForeground(ofPanePid: pid, procRoot: procRoot) == true {
      let who = AgentSender.stoppedMember(ofPanePid: pid, procRoot: procRoot).map {
        " (\($0.pid), \($0.comm))"
      }
      return refuse(
        "a process in the pane's foreground\(who ?? "") is stopped;"
          + " resume it first (fg, or kill -CONT)")
    }
    if let lease = LeaseStore(runDir: options.runDir).read(agent: name) {
      if !options.force {
        return refuse(
          "leased by \(lease.holder) since \(lease.since) (agent attach); --force sends anyway")
      }
      ev.append(("lease_overridden", lease.jsonValue))
    }
    return true
  }

  /// The message and its nonce; the screen and the tty before anything is sent.
  func prepare(_ text: [UInt8]) {
    message = text
    nonce = StubAgent.messageNonce(in: text)
    if options.appendNonce {
      let n = HeartbeatStore.makeNonce()
      message += Array(" [m:\(n)]".utf8)
      nonce = n
    }
    result.bytes = message.count
    ackBefore = nonce == nil ? nil : HeartbeatStore(runDir: options.runDir).load(agent: name)
    ev.append(("nonce", .from(nonce)))
    ev.append(("ack_before", .from(ackBefore?.ack)))
    before = look()
    ev.append(("unread_bytes_before", .from(SendTTY.unreadBytes(pane.tty))))
    ev.append(("cursor_before", before?.cursorJSON ?? .null))
    draft = before.map { SendDraft(text: message, before: $0) }
    ev.append(("prompt", .from(draft?.prompt)))
    ev.append(("draft_fragment", .from(draft?.fragment)))
  }

  func look() -> SendScreen? {
    guard case .success(let r) = tmux.run(tmux.argv.sendScreen(pane.paneId)) else { return nil }
    return SendScreen.parse(r.stdout)
  }

  /// The text through a tmux buffer of our own (on stdin, never in an argv), then a
  /// bracketed paste that keeps LF and deletes the buffer.
  func deliver() -> Bool {
    if !message.isEmpty {
      let buffer = "mosaic-send-\(getpid())-\(HeartbeatStore.makeNonce())"
      if case .failure(let e) = tmux.run(tmux.argv.loadBuffer(buffer), input: message) {
        _ = tmux.run(tmux.argv.deleteBuffer(buffer))
        return refuse("could not load the text into tmux: \(e)")
      }
      if case .failure(let e) = tmux.run(tmux.argv.pasteBuffer(buffer, into: pane.paneId)) {
        _ = tmux.run(tmux.argv.deleteBuffer(buffer))
        return refuse("could not paste into pane \(pane.paneId): \(e)")
      }
    }
    result.delivered = true
    return true
  }

  /// Waits until the program has drawn the draft (or its screen changed and held still
  /// for three looks), at most a short cap, so Enter arrives apart from the paste even for
  /// programs that tell pastes from typing by timing.
  func awaitDraft() {
    let waitStart = Clock.monotonic()
    let cap =
      options.verify
      ? min(AgentSender.draftWaitVerify, options.timeout / 4) : AgentSender.draftWaitPlain
    preEnter = before
    var seen = false
    if let before, let draft {
      var still = 0
      while Clock.monotonic() - waitStart < cap {
        Clock.sleep(0.005)
        guard let s = look() else { break }
        if draft.shown(on: s) {
          seen = true
          preEnter = s
          break
        }
        still = s == preEnter && s != before ? still + 1 : 0
        preEnter = s
        if still >= 3 { break }
      }
    }
    ev.append(("draft_seen", .bool(seen)))
    ev.append(("draft_wait_ms", ms(since: waitStart)))
    ev.append(("cursor_draft", preEnter?.cursorJSON ?? .null))
  }

  /// Enter, in a tmux invocation of its own.
  func pressEnter() -> Bool {
    if case .failure(let e) = tmux.run(tmux.argv.sendKeys(pane.paneId, [.enter])) {
      result.error = "the text was delivered but Enter could not be sent: \(e)"
      result.detail = result.error ?? ""
      return false
    }
    enterAt = Clock.monotonic()
    ev.append(("enter_ms", .int(Int64(((enterAt - start) * 1000).rounded()))))
    result.detail = "delivered \(result.bytes) bytes and Enter to \(pane.paneId)"
    return true
  }

  /// Looks at the pane every 10 to 50 ms and lets `SendJudge` decide, until the deadline.
  func verify() {
    let settle = min(1.5, options.timeout / 2)
    let wedgeAfter = min(1.0, max(0.25, options.timeout / 2))
    ev.append(("settle_s", .double(settle)))
    ev.append(("wedge_after_s", .double(wedgeAfter)))
    guard let draft, let preEnter else {
      result.verdict = .unknown
      result.basis = "no-screen"
      result.detail = "unknown: the pane's screen could not be read"
      return
    }
    let store = HeartbeatStore(runDir: options.runDir)
    var judge = SendJudge(draft: draft, preEnter: preEnter, settle: settle, wedgeAfter: wedgeAfter)
    var polls = 0
    var last: SendObservation? = nil
    var ackAfter = ackBefore?.ack
    while Clock.monotonic() < deadline {
      let t = Clock.monotonic() - enterAt
      // Fast at first (local programs answer in ms), then every 50 ms.
      let step = t < 0.2 ? 0.01 : t < 0.5 ? 0.02 : 0.05
      Clock.sleep(min(step, max(0, deadline - Clock.monotonic())))
      polls += 1
      // The screen before the heartbeat: an agent that records its ack before it redraws
      // its prompt (the stub does) is then always seen by its ack.
      let screen = look()
      let unread = SendTTY.unreadBytes(pane.tty)
      let stopped = ProcPlane.hasStoppedProcessInForeground(
        ofPanePid: panePid, procRoot: procRoot)
      var acked = false
      if let nonce, let hb = store.load(agent: name) {
        ackAfter = hb.ack
        let fresh = ackBefore.map { $0.ack != nonce || hb.ts > $0.ts } ?? true
        acked = hb.ack == nonce && fresh
      }
      let o = SendObservation(
        t: Clock.monotonic() - enterAt, screen: screen, unread: unread, stopped: stopped,
        acked: acked)
      last = o
      if let (verdict, basis) = judge.observe(o) {
        result.verdict = verdict
        result.basis = basis
        break
      }
    }
    if result.verdict == nil { result.timedOut = true }

    ev.append(("ack", .from(ackAfter)))
    ev.append(("unread_bytes", .from(last?.unread)))
    let unreadFor = judge.unreadSince.map { ((last?.t ?? $0) - $0) * 1000 }
    ev.append(("unread_for_ms", unreadFor.map { .int(Int64($0.rounded())) } ?? .null))
    ev.append(("cursor_after", last?.screen?.cursorJSON ?? .null))
    ev.append(("stopped", .from(last?.stopped)))
    let fg = ProcPlane.foreground(ofPanePid: panePid, paneTTY: pane.tty, procRoot: procRoot)
    ev.append(("process", fg?.jsonValue ?? .null))
    ev.append(("polls", .int(Int64(polls))))
    ev.append(("verify_ms", ms(since: enterAt)))
    result.detail = AgentSender.explain(
      result, unread: last?.unread, tty: pane.tty, nonce: nonce, timeout: options.timeout)
  }
}
