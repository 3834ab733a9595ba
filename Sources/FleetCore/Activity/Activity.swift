import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// What an agent is doing (SPEC 2.4 `activity`).
public enum ActivityState: String, Sendable, Equatable {
  case working, waiting, idle, starting, unknown
}

/// `activity`: the state, what a waiting agent waits for, since when, and which source
/// said so (`agent`: the runtime's own status record; `hook`: events its hooks wrote into
/// the heartbeat; `screen`: the runtime's screen rules).
public struct Activity: Sendable, Equatable {
  public var state: ActivityState
  public var waitingFor: String?
  /// Epoch seconds the state began, when the source tells.
  public var since: Double?
  public var source: String?

  public init(
    state: ActivityState, waitingFor: String? = nil, since: Double? = nil, source: String? = nil
  ) {
    self.state = state
    self.waitingFor = waitingFor
    self.since = since
    self.source = source
  }

  public static let unknown = Activity(state: .unknown)

  public var jsonValue: JSONValue {
    .object([
      ("state", .string(state.rawValue)),
      ("waiting_for", .from(waitingFor)),
      ("since", since.map { .string(ISO8601.format($0)) } ?? .null),
      ("source", .from(source)),
    ])
  }
}

/// What a profile's screen rules say of one screen (`ActivityReader.verdict`): the index of
/// the first rule with a matching row, the input prompt at the cursor (and whether the
/// profile's `ready` rows are there), or nothing.
public enum ScreenVerdict: Sendable, Equatable {
  case none
  case rule(Int)
  case prompt(ready: Bool)

  /// The verdict as `activity` (nil for `none`).
  public func activity(profile: RuntimeProfile) -> Activity? {
    switch self {
    case .none: return nil
    case .rule(let i):
      guard profile.screen.indices.contains(i) else { return nil }
      let rule = profile.screen[i]
      return Activity(state: rule.state, waitingFor: rule.waitingFor, source: "screen")
    case .prompt(let ready):
      return Activity(state: ready ? .idle : .starting, source: "screen")
    }
  }
}

/// Reads `activity` from the best source there is (SPEC 2.11): the runtime's own record,
/// then its hooks' events in the heartbeat, then the screen.
public struct ActivityReader {
  public var procRoot: String
  /// Lua's `string.find(subject, pattern) ~= nil`.
  public var matcher: (String, String) -> Bool

  /// Claude status records already read (`remember`), by pid.
  let records = RecordMemo()

  public init(procRoot: String = "/proc", matcher: @escaping (String, String) -> Bool) {
    self.procRoot = procRoot
    self.matcher = matcher
  }

  /// Keeps Claude status records read ahead of the `read` calls that follow (by
  /// `RowContext.rows`, on two threads with the rows' other `/proc` reads).
  public func remember(_ lookup: ClaudeRecord.Lookup, of pid: Int32) {
    records.byPid[pid] = lookup
  }

  /// The activity of an agent whose program is `process` (nil: none found), whose
  /// heartbeat is `heartbeat` and whose screen (nil: not looked at) is `screen`.
  public func read(
    profile: RuntimeProfile?, process: ProcessSnapshot?, heartbeat: Heartbeat?,
    heartbeatHealthy: Bool, screen: SendScreen?
  ) -> Activity {
    let onScreen = profile.flatMap { p in screen.flatMap { classify($0, profile: p) } }
    return read(
      profile: profile, process: process, heartbeat: heartbeat,
      heartbeatHealthy: heartbeatHealthy, onScreen: onScreen)
  }

  /// The same, with the screen already judged: `onScreen` is `classify`'s verdict (nil when
  /// the screen was not looked at or no rule holds), e.g. one kept by `ScreenVerdictCache`.
  public func read(
    profile: RuntimeProfile?, process: ProcessSnapshot?, heartbeat: Heartbeat?,
    heartbeatHealthy: Bool, onScreen: Activity?
  ) -> Activity {
    guard let profile, let process else { return .unknown }
    if profile.record == "claude" {
      switch records.byPid[process.pid] ?? ClaudeRecord.status(of: process, procRoot: procRoot) {
      case .status(let s):
        return Activity(
          state: s.state,
          waitingFor: s.waitingFor ?? (s.state == .waiting ? onScreen?.waitingFor : nil),
          since: s.updatedAt, source: "agent")
      case .none:
        // Claude writes its status once it is past its start-up dialogs: a dialog on
        // screen needs a human (trust, API key); otherwise it is still starting.
        if let s = onScreen, s.state == .waiting { return s }
        return Activity(state: .starting, source: "agent")
      case .unreadable:
        break
      }
    }
    if heartbeatHealthy, let hb = heartbeat {
      let byHook = hb.value(forKey: "hook") != nil
      if byHook || profile.record == "heartbeat" {
        let state: ActivityState =
          hb.status == "busy" ? .working : hb.status == "waiting" ? .waiting : .idle
        let since = hb.value(forKey: "since").flatMap(ISO8601.parse)
        let waitingFor = hb.value(forKey: "waiting").map { $0.replacingUnderscores() }
        // The screen still names a dialog that the hooks have not reported.
        if state != .waiting, let s = onScreen, s.state == .waiting {
          return Activity(state: .waiting, waitingFor: s.waitingFor, source: "screen")
        }
        return Activity(
          state: state, waitingFor: state == .waiting ? waitingFor : nil, since: since,
          source: byHook ? "hook" : "agent")
      }
    }
    return onScreen ?? Activity.unknown
  }

  /// The screen rules' verdict: the first rule with a matching row; else `idle` when the
  /// cursor row is the input prompt; else nil.
  public func classify(_ screen: SendScreen, profile: RuntimeProfile) -> Activity? {
    verdict(screen, profile: profile).activity(profile: profile)
  }

  /// `classify`'s answer as data: which rule holds, or the prompt, or nothing.
  public func verdict(_ screen: SendScreen, profile: RuntimeProfile) -> ScreenVerdict {
    let text = ScreenText(screen)
    for (i, rule) in profile.screen.enumerated() where anyRow(text, rule.find, profile) {
      return .rule(i)
    }
    if atPrompt(screen, profile: profile) {
      let ready = profile.ready.isEmpty || profile.ready.contains { anyRow(text, $0, profile) }
      return .prompt(ready: ready)
    }
    return .none
  }

  /// Whether the cursor sits on the runtime's input prompt.
  public func atPrompt(_ screen: SendScreen, profile: RuntimeProfile) -> Bool {
    guard let prompt = profile.prompt else { return false }
    return matcher(screen.cursorRow, prompt)
  }

  /// Whether a row says a message is queued.
  public func showsQueued(_ screen: SendScreen, profile: RuntimeProfile) -> Bool {
    let text = ScreenText(screen)
    return profile.queued.contains { anyRow(text, $0, profile) }
  }

  /// A screen's rows as UTF-8, for the literal searches of `anyRow`.
  struct ScreenText {
    var rows: [String]
    var bytes: [[UInt8]]
    init(_ screen: SendScreen) {
      rows = screen.rows
      bytes = screen.rows.map { Array($0.utf8) }
    }
  }

  /// Whether a row of the screen matches `pattern`. Lua is asked only for rows that hold
  /// the pattern's literal start (a byte search), so a screen costs a few substring
  /// searches per rule instead of one Lua call per row and rule (200 screens of 50 rows
  /// and 7 rules would be 70,000 calls).
  func anyRow(_ text: ScreenText, _ pattern: String, _ profile: RuntimeProfile) -> Bool {
    let literal = profile.literals[pattern] ?? Array(ActivityReader.literalStart(of: pattern).utf8)
    for (i, row) in text.bytes.enumerated() where literal.isEmpty || Self.holds(row, literal) {
      if matcher(text.rows[i], pattern) { return true }
    }
    return false
  }

  /// Whether `haystack` holds `needle` (a byte search: rows are short, needles shorter).
  static func holds(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    let n = needle.count
    guard n > 0 else { return true }
    guard haystack.count >= n else { return false }
    return haystack.withUnsafeBufferPointer { h in
      needle.withUnsafeBufferPointer { p in
        let first = p[0]
        var i = 0
        let last = h.count - n
        while i <= last {
          if h[i] == first {
            var j = 1
            while j < n, h[i + j] == p[j] { j += 1 }
            if j == n { return true }
          }
          i += 1
        }
        return false
      }
    }
  }

  /// The characters a Lua pattern must match literally at its start (after `^`): up to the
  /// first magic character, with `%` escapes of punctuation taken as the character. A
  /// character followed by a quantifier (`*`, `+`, `-`, `?`) is not required, so it ends
  /// the literal too.
  public static func literalStart(of pattern: String) -> String {
    var chars = Array(pattern)
    if chars.first == "^" { chars.removeFirst() }
    var out: [Character] = []
    var i = 0
    while i < chars.count {
      var c = chars[i]
      var next = i + 1
      if c == "%" {
        guard i + 1 < chars.count, !chars[i + 1].isLetter, !chars[i + 1].isNumber else { break }
        c = chars[i + 1]
        next = i + 2
      } else if "^$()%.[]*+-?".contains(c) {
        break
      }
      if next < chars.count, "*+-?".contains(chars[next]) { break }
      out.append(c)
      i = next
    }
    return String(out)
  }

  /// Whether the input shows a paste marker (a large paste's placeholder).
  public func showsPasteMarker(_ screen: SendScreen, profile: RuntimeProfile) -> Bool {
    profile.pasteMarkers.contains { m in matcher(screen.cursorLine, m) }
  }
}

/// What `ActivityReader.remember` was given, shared by the reader's copies. Filled
/// before the reads that use it, on the thread that reads.
final class RecordMemo: @unchecked Sendable {
  var byPid: [Int32: ClaudeRecord.Lookup] = [:]
}

/// Claude Code's own record: `<config dir>/sessions/<pid>.json` (its live status, keyed by
/// the claude process's pid) and the transcript it names, in that process's configuration
/// directory (`configDirectory(environment:)`: `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`).
public enum ClaudeRecord {
  public struct Status: Sendable, Equatable {
    public var state: ActivityState
    public var waitingFor: String?
    public var updatedAt: Double?
    public var sessionId: String?
    public var cwd: String?
    /// The start time of the process that wrote the file (`procStart`: field 22 of its
    /// `/proc/<pid>/stat`, clock ticks since boot), when the file says it.
    public var procStart: UInt64? = nil
  }

  public enum Lookup: Sendable, Equatable {
    case status(Status)
    /// No status file: Claude has not got past its start-up (or has exited).
    case none
    /// The process's environment or the file could not be read (another user, gone).
    case unreadable
  }

  /// The live status of the claude process `process`.
  public static func status(of process: ProcessSnapshot, procRoot: String = "/proc") -> Lookup {
    guard let dir = configDirectory(of: process.pid, procRoot: procRoot) else {
      return .unreadable
    }
    let path = "\(dir)/sessions/\(process.pid).json"
    // Claude rewrites the file in place (2.1.332: open without O_TRUNC, write, ftruncate):
    // a read between the write and the truncation sees the new text and the old one's
    // tail, which is no JSON. Such a read is tried again, twice at most.
    var found = Lookup.unreadable
    for _ in 0..<3 {
      switch Files.readTrusted(path, limit: 64 * 1024) {
      case .failure(.missing): return .none
      case .failure: return .unreadable
      case .success(let bytes): found = lookup(bytes: bytes, of: process)
      }
      if found != .unreadable { break }
    }
    return found
  }

  /// A status file's contents, as the record of `process`: a file written by another
  /// process that had the same pid (Claude killed without removing it, before a reboot or
  /// a pid wrap) names another start time, and is no record of this one, which has not
  /// written its own yet (it is still at its start-up, maybe at a dialog).
  public static func lookup(bytes: [UInt8], of process: ProcessSnapshot) -> Lookup {
    let found = lookup(bytes: bytes)
    if case .status(let s) = found, let start = s.procStart, process.startTime != 0,
      start != process.startTime
    {
      return .none
    }
    return found
  }

  /// A status file's contents.
  public static func lookup(bytes: [UInt8]) -> Lookup {
    guard let doc = try? JSONCodec.decode(bytes), let s = parse(doc) else { return .unreadable }
    return .status(s)
  }

  static func parse(_ doc: JSONValue) -> Status? {
    guard let word = doc["status"]?.stringValue else { return nil }
    let state: ActivityState
    switch word {
    case "idle": state = .idle
    case "busy": state = .working
    case "waiting": state = .waiting
    default: state = .unknown
    }
    var updated = doc["updatedAt"]?.doubleValue
    if let u = updated, u > 1e11 { updated = u / 1000 }  // milliseconds
    if updated == nil, let text = doc["updatedAt"]?.stringValue { updated = ISO8601.parse(text) }
    // Claude 2.1.332 writes it as a string of digits.
    let procStart =
      doc["procStart"]?.stringValue.flatMap { UInt64($0) }
      ?? doc["procStart"]?.intValue.flatMap { UInt64(exactly: $0) }
    return Status(
      state: state, waitingFor: doc["waitingFor"]?.stringValue, updatedAt: updated,
      sessionId: doc["sessionId"]?.stringValue, cwd: doc["cwd"]?.stringValue,
      procStart: procStart)
  }

  /// The configuration directory of the claude process `pid`, where its status files and
  /// transcripts are (nil when its environment cannot be read or names none).
  public static func configDirectory(of pid: Int32, procRoot: String = "/proc") -> String? {
    guard let env = environmentValues(["CLAUDE_CONFIG_DIR", "HOME"], of: pid, procRoot: procRoot)
    else { return nil }
    return configDirectory(environment: env) { ProcPlane.cwd(of: pid, procRoot: procRoot) }
  }

  /// Claude Code's rule (2.1.332: `process.env.CLAUDE_CONFIG_DIR || join(homedir(), ".claude")`):
  /// `$CLAUDE_CONFIG_DIR` unless it is unset or empty, else `$HOME/.claude`. A relative
  /// `$CLAUDE_CONFIG_DIR` is where the process resolves it, under its working directory
  /// (`cwd`, asked only then); nil when that cannot be read, or `$HOME` is not absolute.
  public static func configDirectory(
    environment env: [String: String], cwd: () -> String? = { nil }
  ) -> String? {
    if let dir = env["CLAUDE_CONFIG_DIR"], !dir.isEmpty { return resolved(dir, cwd) }
    guard let home = env["HOME"], home.hasPrefix("/") else { return nil }
    return home + "/.claude"
  }

  /// `path` if absolute, else under `cwd()`; nil when that is needed and unknown.
  static func resolved(_ path: String, _ cwd: () -> String?) -> String? {
    if path.hasPrefix("/") { return path }
    guard let base = cwd(), base.hasPrefix("/") else { return nil }
    return base == "/" ? "/" + path : base + "/" + path
  }

  /// The first entry of each of `keys` in `/proc/<pid>/environ` (the one a `getenv` in the
  /// process would find), reading no further once all are found; nil when the file cannot be
  /// read. `fleet ps` asks this for every Claude, whose environment is often tens of KiB:
  /// it is read 16 KiB a call.
  public static func environmentValues(
    _ keys: [String], of pid: Int32, procRoot: String = "/proc"
  ) -> [String: String]? {
    let fd = open("\(procRoot)/\(pid)/environ", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    let prefixes = keys.map { (key: $0, bytes: Array(($0 + "=").utf8)) }
    let limit = 256 * 1024
    var found: [String: String] = [:]
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    var start = 0  // the first byte of the entry not yet looked at
    func take(_ entry: ArraySlice<UInt8>) {
      for p in prefixes where found[p.key] == nil && entry.starts(with: p.bytes) {
        found[p.key] = String(decoding: entry.dropFirst(p.bytes.count), as: UTF8.self)
      }
    }
    while bytes.count < limit, found.count < prefixes.count {
      let n = chunk.withUnsafeMutableBytes {
        read(fd, $0.baseAddress, min($0.count, limit - bytes.count))
      }
      if n < 0, errno == EINTR { continue }
      if n < 0 { return nil }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
      while found.count < prefixes.count, let end = bytes[start...].firstIndex(of: 0) {
        take(bytes[start..<end])
        start = end + 1
      }
    }
    if found.count < prefixes.count, start < bytes.count { take(bytes[start...]) }
    return found
  }

  /// The transcript of session `sessionId` in `cwd`, under the configuration directory
  /// `configDirectory`: `<dir>/projects/<cwd with every non-alphanumeric character as
  /// '-'>/<id>.jsonl`.
  public static func transcriptPath(configDirectory: String, cwd: String, sessionId: String)
    -> String
  {
    let dir = String(cwd.map { $0.isLetter || $0.isNumber ? $0 : "-" })
    return "\(configDirectory)/projects/\(dir)/\(sessionId).jsonl"
  }
}

extension String {
  fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}

/// Claude Code's transcript (`ClaudeRecord.transcriptPath`), read from where it ended before
/// a send: a `user` entry holding the message is a prompt Claude took; a `queue-operation`
/// `enqueue` holding it, a message queued for after the turn.
public enum ClaudeTranscript {
  public enum Kind: Sendable, Equatable { case prompt, queued }

  /// Bytes in the file now (0 when missing).
  public static func size(_ path: String) -> Int {
    var st = stat()
    guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return 0 }
    return Int(st.st_size)
  }

  /// What identifies the message in the record: its last line's last 64 characters, without
  /// surrounding white space (a transcript stores the text as the input held it).
  public static func needle(_ message: [UInt8]) -> String {
    let text = String(decoding: message, as: UTF8.self)
    let line = text.split(whereSeparator: \.isNewline).last.map(String.init) ?? text
    let trimmed = line.trimmingCharacters(in: " \t")
    return String(trimmed.suffix(64))
  }

  /// The JSON entries appended after `offset` (at most 4 MiB are read; a partial last line
  /// is left for the next look).
  public static func entries(_ path: String, from offset: Int) -> [JSONValue] {
    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) > offset else {
      return []
    }
    let count = min(Int(st.st_size) - offset, 4 << 20)
    var buf = [UInt8](repeating: 0, count: count)
    let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
    guard n > 0 else { return [] }
    var out: [JSONValue] = []
    for line in buf[0..<n].split(separator: 0x0A) where !line.isEmpty {
      if let v = try? JSONCodec.decode(Array(line)) { out.append(v) }
    }
    return out
  }

  /// Whether `entry` records the message holding `needle` as a prompt or as queued.
  public static func kind(_ entry: JSONValue, holding needle: String) -> Kind? {
    guard !needle.isEmpty, let type = entry["type"]?.stringValue else { return nil }
    switch type {
    case "user":
      guard let content = entry["message"]?["content"] else { return nil }
      return text(of: content).contains(needle) ? .prompt : nil
    case "queue-operation":
      guard entry["operation"]?.stringValue == "enqueue",
        let content = entry["content"]
      else { return nil }
      return text(of: content).contains(needle) ? .queued : nil
    default:
      return nil
    }
  }

  /// A message content: a string, or a list of blocks whose `text` fields are joined.
  static func text(of content: JSONValue) -> String {
    if let s = content.stringValue { return s }
    return (content.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    let chars = Set(set)
    var s = Substring(self)
    while let f = s.first, chars.contains(f) { s = s.dropFirst() }
    while let l = s.last, chars.contains(l) { s = s.dropLast() }
    return String(s)
  }
}

/// Codex's own record of a thread: `CODEX_HOME/sessions/YYYY/MM/DD/rollout-<ts>-<id>.jsonl`,
/// whose first line (`session_meta`) names the thread's working directory, and whose
/// `response_item` user messages are the prompts it took.
public enum CodexRollout {
  /// Codex's rule for its home (`find_codex_home`): `$CODEX_HOME` unless it is unset or
  /// empty, else `$HOME/.codex`; a relative `$CODEX_HOME` under the working directory `cwd`
  /// (asked only then). nil when that cannot be read, or `$HOME` is not absolute.
  public static func home(environment env: [String: String], cwd: () -> String? = { nil })
    -> String?
  {
    if let dir = env["CODEX_HOME"], !dir.isEmpty { return ClaudeRecord.resolved(dir, cwd) }
    guard let home = env["HOME"], home.hasPrefix("/") else { return nil }
    return home + "/.codex"
  }

  /// The newest rollout of a thread working in `cwd`, among the newest files of the two
  /// latest day directories; nil when there is none yet (Codex creates it at the first
  /// prompt).
  public static func latest(codexHome: String, cwd: String) -> String? {
    let root = codexHome + "/sessions"
    var days: [String] = []
    for y in Files.list(root).filter(isDigits).sorted().suffix(2) {
      for m in Files.list("\(root)/\(y)").filter(isDigits).sorted().suffix(2) {
        for d in Files.list("\(root)/\(y)/\(m)").filter(isDigits).sorted().suffix(2) {
          days.append("\(root)/\(y)/\(m)/\(d)")
        }
      }
    }
    for day in days.sorted().reversed().prefix(2) {
      let files = Files.list(day).filter { $0.hasPrefix("rollout-") && $0.hasSuffix(".jsonl") }
      for name in files.sorted().reversed().prefix(16) {
        let path = "\(day)/\(name)"
        if threadCwd(path) == cwd { return path }
      }
    }
    return nil
  }

  /// The `cwd` of a rollout's `session_meta` (its first line, at most 1 MiB).
  static func threadCwd(_ path: String) -> String? {
    guard let bytes = ProcPlane.readFile(path, limit: 1 << 20) else { return nil }
    let first = bytes.split(separator: 0x0A, maxSplits: 1).first.map(Array.init) ?? []
    guard let doc = try? JSONCodec.decode(first), doc["type"]?.stringValue == "session_meta"
    else { return nil }
    return doc["payload"]?["cwd"]?.stringValue
  }

  /// Whether `entry` records a user message holding `needle`.
  public static func holdsPrompt(_ entry: JSONValue, _ needle: String) -> Bool {
    guard !needle.isEmpty, entry["type"]?.stringValue == "response_item",
      let payload = entry["payload"], payload["type"]?.stringValue == "message",
      payload["role"]?.stringValue == "user", let content = payload["content"]
    else { return false }
    return ClaudeTranscript.text(of: content).contains(needle)
  }

  static func isDigits(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy(\.isNumber) }
}
