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
  /// No roster file exists yet: the roster given is empty, and "no such agent" says how
  /// to make one (`AgentResolver`).
  public var rosterMissing = false
  /// Seconds to wait for another send to the same agent to finish.
  public var lockWait: Double
  /// Append ` [m:<random nonce>]` to the text, so an agent that acknowledges nonces
  /// (the stub does) can prove it accepted this very message.
  public var appendNonce: Bool
  /// Send text that the runtime would run as a command (a leading `!` or `/`).
  public var command = false
  /// Send terminal control bytes (ESC, C0 other than tab and newline, DEL).
  public var raw = false
  /// The runtimes' profiles (`lua/mosaic/runtimes.lua`): the prompt, dialogs and queue
  /// markers a send must see or avoid. A runtime without one is sent to as before.
  public var profiles: [String: RuntimeProfile] = [:]

  /// Most bytes a message may have (SPEC 2.7).
  public static let maxBytes = 1 << 20

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
/// Names resolve by `AgentResolver`'s rule, the one every verb uses (a roster agent, else
/// the unrostered session of exactly that name); a send also needs the name to be usable
/// as a file name in `<run>` (its lock). Targets are always the pane id `%N` of the agent
/// pane from one `list-panes` call. All waiting happens under the per-agent lock
/// (`SendLock`).
public struct AgentSender {
  public var runner: any CommandRunner
  public var tmuxProgram: String
  public var procRoot: String
  /// This machine's short host name.
  public var host: String
  /// Lua's `string.find(subject, pattern) ~= nil`, for the runtimes' screen patterns.
  public var matcher: (String, String) -> Bool

  public init(
    runner: any CommandRunner = SpawnRunner(), tmuxProgram: String = "tmux",
    procRoot: String = "/proc", host: String = shortHostName(),
    matcher: @escaping (String, String) -> Bool = { _, _ in false }
  ) {
    self.runner = runner
    self.tmuxProgram = tmuxProgram
    self.procRoot = procRoot
    self.host = host
    self.matcher = matcher
  }

  /// Why `text` may not be sent as it is (SPEC 2.7), or nil: over the size limit; terminal
  /// control bytes without `raw` (the bracketed-paste end marker `ESC [201~` would end the
  /// paste early and submit what follows); a leading command prefix of the runtime
  /// without `command` (`!` runs a shell in Claude without asking, `/exit` ends it).
  public static func textProblem(
    _ text: [UInt8], profile: RuntimeProfile?, options: AgentSendOptions
  ) -> String? {
    if text.count > AgentSendOptions.maxBytes {
      return "the text is over 1 MiB (\(text.count) bytes); nothing was sent"
    }
    if !options.raw,
      let i = text.firstIndex(where: { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A) || $0 == 0x7F })
    {
      let what =
        text[i] == 0x1B
        ? "ESC" : "0x" + (text[i] < 16 ? "0" : "") + String(text[i], radix: 16, uppercase: true)
      return "the text carries a terminal control byte (\(what) at byte \(i + 1)),"
        + " which could end the paste or drive the program; --raw sends it anyway"
    }
    if !options.command, let profile {
      let body = String(decoding: text, as: UTF8.self).drop {
        $0 == " " || $0 == "\t" || $0 == "\n"
      }
      if let p = profile.commandPrefixes.first(where: { !$0.isEmpty && body.hasPrefix($0) }) {
        return "the text starts with '\(p)', which \(profile.name) runs as a command,"
          + " not a message; --command sends it anyway"
      }
    }
    return nil
  }

  /// Seconds the text must show at the cursor before Enter, at most (with and without
  /// `verify`): Enter is pressed as soon as the program has drawn the draft.
  static let draftWaitVerify = 1.0
  static let draftWaitPlain = 0.25
  /// For runtimes with a profile (real TUIs throttle their drawing).
  static let draftWaitKnown = 3.0
  /// How long a send waits for a ready runtime to draw its prompt.
  static let promptDrawWait = 1.5

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
    case "record": return "accepted: the agent's own record holds the message"
    case "record-queued":
      return "queued: the agent's own record queued the message for after its turn"
    case "queued-marker": return "queued: the agent shows the message queued for after its turn"
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
  let resolver: AgentResolver
  var identity: AgentIdentity?
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
  /// The runtime's profile, when mosaic knows how it reads input.
  var profile: RuntimeProfile?
  /// The agent's program in the pane.
  var agentProcess: ProcessSnapshot?
  /// What the agent was doing before the send.
  var activityBefore: Activity?
  /// Claude's record: where its transcript ends before the send.
  var transcript: (path: String, offset: Int)?
  /// Codex's record: its home, the thread's working directory, and where the thread's
  /// rollout ended before the send (nil path: no thread yet, the first prompt makes one).
  var rollout: (home: String, cwd: String, path: String?, offset: Int)?
  var sendStartWall = 0.0

  init(sender: AgentSender, name: String, roster: Roster, options: AgentSendOptions) {
    self.sender = sender
    self.name = name
    self.roster = roster
    self.options = options
    resolver = AgentResolver(
      roster: roster, rosterMissing: options.rosterMissing, socket: options.socket,
      host: sender.host)
    let socket = resolver.socket
    tmux = TmuxClient(socket: socket, runner: sender.runner, program: sender.tmuxProgram)
    result = AgentSendResult(agent: name, host: sender.host, socket: socket)
    result.verify = options.verify
  }

  var socket: String { tmux.socket }
  var procRoot: String { sender.procRoot }

  func ms(since t: Double) -> JSONValue {
    .int(Int64(((Clock.monotonic() - t) * 1000).rounded()))
  }

  func refuse(_ why: String, code: String = "refused") -> Bool {
    result.refused = why
    result.refusedCode = code
    result.detail = why
    return false
  }

  func refuse(_ error: AgentLookupError) -> Bool {
    refuse(error.message, code: error.code.rawValue)
  }

  func execute(_ text: [UInt8]) {
    defer { lock?.release() }
    guard resolve(), lockAndCheck(), checkText(text) else { return }
    prepare(text)
    guard checkReady() else { return }
    // Load, paste and Enter are one step for the agent: SIGTERM/SIGINT/SIGHUP wait until
    // it is done (one in between left a tmux buffer behind, or a draft without Enter).
    // A paste that never showed in a known runtime's input gets no Enter (awaitDraft).
    let entered = SignalsHeld.during { () -> Bool in
      guard deliver(), awaitDraft() else { return false }
      return pressEnter()
    }
    guard entered, options.verify else { return }
    verify()
  }

  /// Who (`AgentResolver.identify`): a roster agent, else the unrostered session of that
  /// name; the pane comes after the lock.
  func resolve() -> Bool {
    let id: AgentIdentity
    switch resolver.identify(name) {
    case .success(let found): id = found
    case .failure(let e): return refuse(e)
    }
    rostered = id.rostered
    session = id.session
    if id.rostered != nil {
      result.tenantId = id.tenant
      result.host = id.host
    }
    if case .failure(let e) = resolver.requireLocal(id) { return refuse(e) }
    // The name becomes a file name in <run> (the send lock): `[A-Za-z0-9_-]`, up to 64. A
    // leading `-` is fine there (the path is absolute) and `fleet ps` lists it.
    guard HeartbeatParser.isNonce(name) else {
      return refuse(resolver.noSuchAgent(name, sessions: []))
    }
    identity = id
    result.session = session
    return true
  }

  /// The lock first (a send that waited for another sees the pane as that one left it),
  /// then the pane, and every reason it cannot take input.
  func lockAndCheck() -> Bool {
    do throws(FileError) {
      try Files.ensurePrivateDirectory(options.runDir)
    } catch {
      return refuse("run directory \(error.message)", code: "run-dir")
    }
    let lockStart = Clock.monotonic()
    switch SendLock.acquire(path: "\(options.runDir)/\(name).send.lock", wait: options.lockWait) {
    case .success(let l): lock = l
    case .failure(let e): return refuse(e.message, code: "locked")
    }
    ev.append(("lock_wait_ms", ms(since: lockStart)))
    deadline = Clock.monotonic() + options.timeout

    guard let identity else { return false }
    switch resolver.locate(identity, in: tmux.listPanes()) {
    case .success(let target): pane = target.pane
    case .failure(let e): return refuse(e)
    }
    result.paneId = pane.paneId
    ev.append(("pane", .string(pane.paneId)))
    ev.append(("tty", .string(pane.tty)))
    ev.append(("pane_pid", .from(pane.panePid.map { Int($0) })))
    if pane.dead {
      let how =
        pane.deadSignal.map { "killed by signal \($0)" }
        ?? pane.deadStatus.map { "exited with status \($0)" } ?? "exited"
      return refuse("pane \(pane.paneId) is dead (its program \(how))", code: "pane-dead")
    }
    if pane.inMode {
      return refuse(
        "pane \(pane.paneId) is in \(pane.mode ?? "a mode"), which would swallow the keys"
          + " (leave it: tmux -L \(socket) copy-mode -q -t \(pane.paneId))", code: "pane-in-mode")
    }
    if pane.inputOff {
      return refuse(
        "pane \(pane.paneId) has input disabled"
          + " (tmux -L \(socket) select-pane -e -t \(pane.paneId))", code: "input-off")
    }
    guard let pid = pane.panePid, TmuxArgv.isPaneId(pane.paneId) else {
      return refuse("pane \(pane.paneId): tmux reported no process", code: "pane-dead")
    }
    panePid = pid
    if ProcPlane.hasStoppedProcessInForeground(ofPanePid: pid, procRoot: procRoot) == true {
      let who = AgentSender.stoppedMember(ofPanePid: pid, procRoot: procRoot).map {
        " (\($0.pid), \($0.comm))"
      }
      return refuse(
        "a process in the pane's foreground\(who ?? "") is stopped;"
          + " resume it first (fg, or kill -CONT)", code: "stopped")
    }
    if let lease = LeaseStore(runDir: options.runDir).read(agent: name) {
      if !options.force {
        return refuse(
          "leased by \(lease.holder) since \(lease.since) (agent attach); --force sends anyway",
          code: "leased")
      }
      ev.append(("lease_overridden", lease.jsonValue))
    }
    return true
  }

  /// The runtime's profile (the roster's runtime, else the one found in the pane) and the
  /// text's own problems.
  func checkText(_ text: [UInt8]) -> Bool {
    let group = ProcPlane.foregroundGroup(ofPanePid: panePid, paneTTY: pane.tty, procRoot: procRoot)
    var runtime = rostered?.runtime
    if let group {
      let found = group.agentProcess { p -> Bool? in
        if let agent = rostered {
          return RuntimeDetector.matches(
            runtime: agent.runtime, argv: p.argv, match: agent.match,
            patternMatcher: sender.matcher)
        }
        return RuntimeDetector.detect(argv: p.argv) != nil
      }
      agentProcess = found.process
      // Unrostered, or another program than the roster's runs (drift): what runs decides.
      if runtime == nil || found.matched == false {
        runtime = RuntimeDetector.detect(argv: found.process.argv)
      }
    }
    profile = runtime.flatMap { options.profiles[$0] }
    ev.append(("runtime", .from(runtime)))
    if let why = AgentSender.textProblem(text, profile: profile, options: options) {
      return refuse(why, code: "text")
    }
    return true
  }

  /// For a runtime mosaic knows, the agent must be at its input prompt: not waiting for a
  /// human (a dialog, a permission or approval prompt: Enter would answer it), not
  /// starting, and its prompt on screen. `--force` sends anyway.
  func checkReady() -> Bool {
    guard let profile, var screen = before else { return true }
    let reader = ActivityReader(procRoot: procRoot, matcher: sender.matcher)
    let hb = HeartbeatStore(runDir: options.runDir).load(agent: name)
    let healthy =
      hb.map { Clock.now() - $0.ts <= 3 * ($0.interval ?? rostered?.heartbeatInterval ?? 15) }
      ?? false
    let activity = reader.read(
      profile: profile, process: agentProcess, heartbeat: hb, heartbeatHealthy: healthy,
      screen: screen)
    activityBefore = activity
    ev.append(("activity_before", activity.jsonValue))
    if profile.record == "claude", let p = agentProcess,
      case .status(let s) = ClaudeRecord.status(of: p, procRoot: procRoot),
      let id = s.sessionId, let cwd = s.cwd,
      let dir = ClaudeRecord.configDirectory(of: p.pid, procRoot: procRoot)
    {
      let path = ClaudeRecord.transcriptPath(configDirectory: dir, cwd: cwd, sessionId: id)
      transcript = (path, ClaudeTranscript.size(path))
    }
    if profile.record == "codex", let p = agentProcess, let cwd = ProcPlane.cwd(of: p.pid) {
      if let env = ClaudeRecord.environmentValues(
        ["CODEX_HOME", "HOME"], of: p.pid, procRoot: procRoot),
        let home = CodexRollout.home(environment: env, cwd: { cwd })
      {
        let path = CodexRollout.latest(codexHome: home, cwd: cwd)
        rollout = (home, cwd, path, path.map(ClaudeTranscript.size) ?? 0)
      }
    }
    guard !options.force else { return true }
    switch activity.state {
    case .waiting:
      return refuse(
        "waiting for \(activity.waitingFor ?? "a human") (\(activity.source ?? "screen")):"
          + " Enter would answer it; nothing was sent (--force sends anyway)", code: "waiting")
    case .starting:
      return refuse(
        "starting\(activity.waitingFor.map { " (\($0) open)" } ?? ""), not at its input prompt:"
          + " Enter would answer a start-up dialog; nothing was sent (--force sends anyway)",
        code: "starting")
    default: break
    }
    // A runtime that has just started or finished a turn may draw its prompt a moment
    // after its record says so: look again for a little while.
    let drawDeadline = Clock.monotonic() + AgentSender.promptDrawWait
    while profile.prompt != nil, !reader.atPrompt(screen, profile: profile),
      activity.state == .idle || activity.state == .working, Clock.monotonic() < drawDeadline
    {
      Clock.sleep(0.05)
      guard let s = look() else { break }
      screen = s
      before = s
      draft = SendDraft(text: message, before: s)
    }
    if profile.prompt != nil, !reader.atPrompt(screen, profile: profile) {
      return refuse(
        "its input prompt is not on screen (cursor row: \"\(screen.cursorRow.prefix(60))\");"
          + " nothing was sent (--force sends anyway)", code: "no-prompt")
    }
    return true
  }

  /// The message and its nonce; the screen and the tty before anything is sent.
  func prepare(_ text: [UInt8]) {
    sendStartWall = Clock.now()
    message = text
    nonce = StubAgent.messageNonce(in: text)
    if options.appendNonce {
      let n = HeartbeatStore.makeNonce()
      message += Array(" [m:\(n)]".utf8)
      nonce = n
    }
    result.bytes = message.count
    ackBefore = HeartbeatStore(runDir: options.runDir).load(agent: name)
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
        return refuse("could not load the text into tmux: \(e)", code: "tmux-failed")
      }
      if case .failure(let e) = tmux.run(tmux.argv.pasteBuffer(buffer, into: pane.paneId)) {
        _ = tmux.run(tmux.argv.deleteBuffer(buffer))
        return refuse("could not paste into pane \(pane.paneId): \(e)", code: "tmux-failed")
      }
    }
    result.delivered = true
    return true
  }

  /// Waits until the program has drawn the draft (or its screen changed and held still
  /// for three looks), at most a short cap, so Enter arrives apart from the paste even for
  /// programs that tell pastes from typing by timing.
  ///
  /// For a runtime with a profile, Enter is pressed only once the text (or the runtime's
  /// paste placeholder) shows in its input: a paste that never appeared was dropped by a
  /// dialog, and Enter would answer it. Returns false (nothing more sent) then.
  func awaitDraft() -> Bool {
    let waitStart = Clock.monotonic()
    let strict = profile != nil && !options.force
    let cap =
      strict
      ? AgentSender.draftWaitKnown
      : options.verify
        ? min(AgentSender.draftWaitVerify, options.timeout / 4) : AgentSender.draftWaitPlain
    preEnter = before
    var seen = false
    let reader = ActivityReader(procRoot: procRoot, matcher: sender.matcher)
    if let before, let draft {
      var still = 0
      while Clock.monotonic() - waitStart < cap {
        Clock.sleep(0.005)
        guard let s = look() else { break }
        if draft.shown(on: s) || (profile.map { reader.showsPasteMarker(s, profile: $0) } ?? false)
          || (strict && draft.fragment.isEmpty && s.cursorLine != before.cursorLine
            && reader.atPrompt(s, profile: profile!))
        {
          seen = true
          preEnter = s
          break
        }
        still = s == preEnter && s != before ? still + 1 : 0
        preEnter = s
        if still >= 3 && !strict { break }
      }
    }
    ev.append(("draft_seen", .bool(seen)))
    ev.append(("draft_wait_ms", ms(since: waitStart)))
    ev.append(("cursor_draft", preEnter?.cursorJSON ?? .null))
    if strict && !seen {
      result.error =
        "the pasted text never appeared in \(profile!.name)'s input within"
        + " \(TmuxClient.seconds(cap)) s; Enter was not pressed"
      result.detail = result.error ?? ""
      return false
    }
    return true
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

  var queuedBefore = false
  /// Whether the agent keeps a record that will hold the message: Claude's transcript, or
  /// hooks that write `ack=` (their last event is in the heartbeat).
  var recordExpected: Bool {
    transcript != nil || rollout != nil || ackBefore?.value(forKey: "hook") != nil
  }
  /// The message's digest as the runtime's hooks write it into `ack=` (`HookEvent`).
  var digest: String { HookEvent.promptDigest(message) }
  var reader: ActivityReader { ActivityReader(procRoot: procRoot, matcher: sender.matcher) }

  /// `accepted` (basis `record`) when the agent's transcript holds the message as a prompt
  /// it took; `queued` when its record enqueued it (`record-queued`) or, for an agent that
  /// was working, its screen newly shows its queue marker (`queued-marker`).
  func fromRecord(screen: SendScreen?) -> (SendVerdict, String)? {
    if let t = transcript {
      let needle = ClaudeTranscript.needle(message)
      for entry in ClaudeTranscript.entries(t.path, from: t.offset) {
        switch ClaudeTranscript.kind(entry, holding: needle) {
        case .prompt?: return (.accepted, "record")
        case .queued?: return (.queued, "record-queued")
        case nil: continue
        }
      }
    }
    if var r = rollout {
      if r.path == nil {
        r.path = CodexRollout.latest(codexHome: r.home, cwd: r.cwd)
        rollout = r
      }
      if let path = r.path {
        let needle = ClaudeTranscript.needle(message)
        for entry in ClaudeTranscript.entries(path, from: r.offset)
        where CodexRollout.holdsPrompt(entry, needle) {
          return (.accepted, "record")
        }
      }
    }
    if let profile, let screen, activityBefore?.state == .working, !queuedBefore,
      reader.showsQueued(screen, profile: profile)
    {
      return (.queued, "queued-marker")
    }
    return nil
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
    var provisional: (SendVerdict, String)? = nil
    // How long an accepted-looking screen waits for the record (Claude writes its
    // transcript line some 100-300 ms after it takes the prompt; more on a loaded machine).
    let recordGrace = min(3.0, options.timeout / 2)
    queuedBefore =
      before.map { s in profile.map { reader.showsQueued(s, profile: $0) } ?? false } ?? false
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
      if let hb = store.load(agent: name) {
        ackAfter = hb.ack
        // The message's nonce, or (written by the runtime's hooks) its digest.
        let expected = [nonce, hb.value(forKey: "hook") != nil ? digest : nil].compactMap { $0 }
        if let ack = hb.ack, expected.contains(ack) {
          let fresh = ackBefore.map { $0.ack != ack || hb.ts > $0.ts } ?? true
          acked = fresh
          if fresh, hb.value(forKey: "hook") != nil {
            result.verdict = .accepted
            result.basis = "record"
            break
          }
        }
      }
      let o = SendObservation(
        t: Clock.monotonic() - enterAt, screen: screen, unread: unread, stopped: stopped,
        acked: acked)
      last = o
      // The agent's own record and its queue come first: they are the strongest proof.
      if let found = fromRecord(screen: screen) {
        result.verdict = found.0
        result.basis = found.1
        break
      }
      if let (verdict, basis) = judge.observe(o) {
        // A screen that only looks accepted waits a little for the record to say so.
        if verdict == .accepted, basis == "prompt", recordExpected, o.t < recordGrace {
          provisional = (verdict, basis)
          continue
        }
        result.verdict = verdict
        result.basis = basis
        break
      }
      if let p = provisional, o.t >= recordGrace {
        result.verdict = p.0
        result.basis = p.1
        break
      }
    }
    if result.verdict == nil, let p = provisional {
      result.verdict = p.0
      result.basis = p.1
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
