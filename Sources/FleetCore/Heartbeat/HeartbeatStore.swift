import MosaicSupport

// Heartbeat and probe files in the run directory (SPEC 2.3).
#if canImport(Glibc)
  import Glibc
#endif

/// A heartbeat or probe operation failed; `message` is one line (`<what>: <why>`).
public struct HeartbeatError: Error, Sendable, Equatable, CustomStringConvertible {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// The heartbeat files of one run directory: `<run>/<agent>.hb` (heartbeats) and
/// `<run>/<agent>.probe` (probes). Writes are atomic (temp file + rename, mode 0600); reads
/// go through `Files.readTrusted`, so a symlink, a non-regular file, another owner's file, a
/// group/world-writable file or one over 4 KiB is never believed.
public struct HeartbeatStore: Sendable {
  public let runDir: String

  /// The largest probe file a responder reads.
  public static let probeLimit = 256

  public init(runDir: String) { self.runDir = runDir }

  /// Agent names as the roster allows them (`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`); anything
  /// else could leave the run directory, so the store refuses it.
  public static func isValidAgentName(_ name: String) -> Bool {
    guard let first = name.utf8.first, first != UInt8(ascii: "_"), first != UInt8(ascii: "-")
    else { return false }
    return HeartbeatParser.isNonce(name)
  }

  public func heartbeatPath(agent: String) -> String { "\(runDir)/\(agent).hb" }
  public func probePath(agent: String) -> String { "\(runDir)/\(agent).probe" }

  /// Creates the run directory (mode 0700) if needed and refuses one that is a symlink, not
  /// ours, or group/world-writable (SPEC 2.1).
  public func ensureRunDir() throws(HeartbeatError) {
    do {
      try Files.ensurePrivateDirectory(runDir)
    } catch {
      throw HeartbeatError("run directory \(error.message)")
    }
  }

  // MARK: heartbeats

  /// The agent's heartbeat judged by the health rule with the roster's `interval`.
  /// Never fails: every problem is an `unknown` reading with a reason.
  /// `present`: the run directory's names (`Files.names(in:)`), when the caller listed it
  /// once for many agents; a heartbeat file not among them is missing, and is not opened.
  public func read(
    agent: String, interval: Double, now: Double = Clock.now(), present: Set<String>? = nil
  ) -> HeartbeatReading {
    guard Self.isValidAgentName(agent) else {
      return HeartbeatReading(
        health: HeartbeatHealth.unknown, reason: "invalid agent name", intervalS: interval)
    }
    if let present, !present.contains("\(agent).hb") {
      return HeartbeatHealth.evaluate(file: .failure(.missing), interval: interval, now: now)
    }
    return HeartbeatHealth.evaluate(
      file: Files.readTrusted(heartbeatPath(agent: agent), limit: HeartbeatParser.maxBytes),
      interval: interval, now: now)
  }

  /// The agent's parsed heartbeat, whatever its age; nil when missing, untrusted or bad.
  public func load(agent: String) -> Heartbeat? {
    guard Self.isValidAgentName(agent),
      case .success(let bytes) = Files.readTrusted(
        heartbeatPath(agent: agent), limit: HeartbeatParser.maxBytes),
      case .success(let hb) = HeartbeatParser.parse(bytes)
    else { return nil }
    return hb
  }

  /// Replaces the agent's heartbeat file atomically (mode 0600) with `hb.render()` and a
  /// newline, after `hb.validate()`.
  public func write(agent: String, _ hb: Heartbeat) throws(HeartbeatError) {
    guard Self.isValidAgentName(agent) else {
      throw HeartbeatError("heartbeat: invalid agent name \"\(HeartbeatParser.snippet(agent))\"")
    }
    do {
      try hb.validate()
    } catch {
      throw HeartbeatError("heartbeat for \(agent): \(error)")
    }
    do {
      try Files.writeAtomically(heartbeatPath(agent: agent), hb.render() + "\n", mode: 0o600)
    } catch {
      throw HeartbeatError(error.message)
    }
  }

  /// Keys that a runtime's hooks own in the heartbeat (`mosaic hooks event`): a wrapper or
  /// responder beating for the same agent carries them forward instead of overwriting them.
  public static let hookKeys: Set<String> = ["hook", "since", "waiting"]

  /// Read-modify-write of the agent's heartbeat under an exclusive lock
  /// (`<run>/<agent>.hb.lock`), so writers that run at the same time (a wrapper beating,
  /// several hook processes of one agent) never lose each other's fields. `modify` gets the
  /// current heartbeat (nil when missing or unreadable) and returns the one to write.
  public func update(agent: String, wait: Double = 2, _ modify: (Heartbeat?) -> Heartbeat)
    throws(HeartbeatError)
  {
    guard Self.isValidAgentName(agent) else {
      throw HeartbeatError("heartbeat: invalid agent name \"\(HeartbeatParser.snippet(agent))\"")
    }
    let lock: SendLock
    switch SendLock.acquire(path: "\(runDir)/\(agent).hb.lock", wait: wait) {
    case .success(let l): lock = l
    case .failure(let e): throw HeartbeatError("heartbeat for \(agent): \(e.message)")
    }
    defer { lock.release() }
    try write(agent: agent, modify(load(agent: agent)))
  }

  // MARK: probes (observer side)

  /// Asks the agent's responder to prove it is alive: writes a fresh random nonce (16 hex
  /// characters) atomically to `<run>/<agent>.probe` and returns it. A responder answers
  /// with a heartbeat carrying `probe=<nonce>` (see `awaitProbes`).
  public func sendProbe(agent: String) throws(HeartbeatError) -> String {
    guard Self.isValidAgentName(agent) else {
      throw HeartbeatError("probe: invalid agent name \"\(HeartbeatParser.snippet(agent))\"")
    }
    let nonce = Self.makeNonce()
    do {
      try Files.writeAtomically(probePath(agent: agent), nonce + "\n", mode: 0o600)
    } catch {
      throw HeartbeatError(error.message)
    }
    return nonce
  }

  /// Waits, for all agents at once, until each one's heartbeat carries `probe=<its nonce>`
  /// or `timeout` seconds have passed. One polling loop in 25 ms steps reads each still
  /// pending agent's heartbeat per step, so the wait is bounded by `timeout` whatever the
  /// number of agents. Returns agent → answered (every key of `pending` is present).
  public func awaitProbes(_ pending: [String: String], timeout: Double) -> [String: Bool] {
    var result: [String: Bool] = [:]
    var waiting = pending
    for agent in pending.keys { result[agent] = false }
    let deadline = Clock.monotonic() + max(0, timeout)
    while true {
      for (agent, nonce) in waiting where load(agent: agent)?.probe == nonce {
        result[agent] = true
        waiting[agent] = nil
      }
      let left = deadline - Clock.monotonic()
      if waiting.isEmpty || left <= 0 { break }
      Clock.sleep(min(0.025, left))
    }
    return result
  }

  /// 16 lowercase hex characters from the system's secure random source (getrandom(2)
  /// through the standard library's `SystemRandomNumberGenerator`).
  public static func makeNonce() -> String {
    var rng = SystemRandomNumberGenerator()
    let v: UInt64 = rng.next()
    let hex = String(v, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }

  // MARK: probes (responder side)

  /// Takes a pending probe, if any: renames `<run>/<agent>.probe` out of the way (so a probe
  /// written meanwhile is a new file, never lost to our unlink), reads it trusted, removes
  /// it, and returns its nonce. A probe file that is untrusted or not a plain nonce is
  /// removed and ignored (returns nil).
  func takeProbe(agent: String) -> String? {
    guard Self.isValidAgentName(agent) else { return nil }
    let path = probePath(agent: agent)
    let claimed = "\(runDir)/.\(agent).probe.taken"
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    guard st.st_mode & S_IFMT == S_IFREG else {
      // Not a probe (a directory, FIFO, symlink, device): removed and ignored. Claimed, a
      // directory would stay at `claimed` and block every later probe.
      if unlink(path) != 0 { rmdir(path) }
      return nil
    }
    guard rename(path, claimed) == 0 else { return nil }
    defer { unlink(claimed) }
    guard case .success(let bytes) = Files.readTrusted(claimed, limit: Self.probeLimit) else {
      return nil
    }
    var body = bytes[...]
    if body.last == 0x0A { body = body.dropLast() }
    let text = String(decoding: body, as: UTF8.self)
    return HeartbeatParser.isNonce(text) ? text : nil
  }

  /// Whether a probe file is waiting (cheap: one lstat).
  func hasProbe(agent: String) -> Bool {
    Self.isValidAgentName(agent) && Files.exists(probePath(agent: agent))
  }
}
