import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The tmux plane could not be read.
public enum TmuxError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No tmux server runs on the socket (no socket file, or a stale one nobody listens on).
  case serverAbsent
  /// tmux ran and failed, timed out, or could not be started; the message is one line.
  case failed(String)

  public var description: String {
    switch self {
    case .serverAbsent: return "no tmux server running on the socket"
    case .failed(let message): return message
    }
  }
}

/// Talks to one tmux server (`tmux -L <socket>`) through a `CommandRunner`.
///
/// Reading the whole plane is one process (`listPanes`), whatever the number of agents.
/// Commands that act on panes are built by `argv` (exact argv lists, targets always
/// `=<session>:` or `%N`) and run by the features that need them.
public struct TmuxClient: Sendable {
  public var socket: String
  public var runner: any CommandRunner
  public var program: String
  /// Time limit in seconds for each tmux call, so a hung server cannot hang mosaic.
  public var timeout: Double

  public init(
    socket: String, runner: any CommandRunner = SpawnRunner(), program: String = "tmux",
    timeout: Double = 10
  ) {
    self.socket = socket
    self.runner = runner
    self.program = program
    self.timeout = timeout
  }

  /// The argv builders for this server.
  public var argv: TmuxArgv { TmuxArgv(program: program, socket: socket) }

  /// Where the server of `-L socket` listens, as tmux derives it:
  /// `${TMUX_TMPDIR:-/tmp}/tmux-<uid>/<socket>`.
  public var socketPath: String {
    let base = Environment.nonEmpty("TMUX_TMPDIR") ?? "/tmp"
    return PathText.join(base, "tmux-\(geteuid())/\(socket)")
  }

  /// The server's pid, from the socket's peer credentials (nil: no server of this user
  /// listens there). Nothing is said on the connection: the server sees a client come and go.
  public func serverPID() -> Int32? {
    ProcPlane.listenerPID(socketPath: socketPath)
  }

  /// Every pane on the server, and the server's version, from one
  /// `tmux -L <socket> list-panes -a -F <format>` call.
  /// `withCommand: false` leaves `currentCommand` empty and makes the query cheaper.
  public func listPanes(withCommand: Bool = true) -> Result<TmuxListing, TmuxError> {
    switch run(argv.listPanes(withCommand: withCommand)) {
    case .failure(let e): return .failure(e)
    case .success(let result): return ListPanesFormat.parse(result.stdout)
    }
  }

  /// One look at `paneId` (which must be `%N`): its rows and its cursor, size and state at
  /// the same moment (`TmuxArgv.capture`). Watch and capture use it; it never types.
  public func capture(
    paneId: String, escapes: Bool, history: Int = 0, keepTrailingSpaces: Bool = false
  ) -> Result<PaneCapture, PaneCaptureError> {
    guard TmuxArgv.isPaneId(paneId) else {
      return .failure(.failed("invalid pane id '\(paneId)'"))
    }
    let request = CommandRequest(
      argv.capture(
        paneId: paneId, escapes: escapes, history: max(0, history),
        keepTrailingSpaces: keepTrailingSpaces),
      timeout: timeout)
    let result: CommandResult
    do {
      result = try runner.run(request)
    } catch {
      return .failure(.failed(error.description))
    }
    if result.timedOut {
      return .failure(.failed("tmux capture-pane: no answer within \(Self.seconds(timeout)) s"))
    }
    if !result.ok {
      let text = result.stderrText
      if text.contains("can't find pane") || text.contains("can't find window")
        || text.contains("can't find session")
      {
        return .failure(.paneGone(paneId))
      }
      if Self.isServerAbsent(stderr: text) { return .failure(.serverAbsent(socket)) }
      let line = text.split(separator: "\n").first.map(String.init) ?? ""
      return .failure(
        .failed(
          "tmux capture-pane: "
            + (line.isEmpty ? "exit status \(result.status)" : ListPanesFormat.printable(line))))
    }
    return PaneCapture.parse(result.stdout, paneId: paneId, escapes: escapes)
  }

  /// Whether a session with exactly this name exists (`has-session -t =NAME`).
  public func hasSession(_ session: String) -> Result<Bool, TmuxError> {
    let request = CommandRequest(argv.hasSession(session), timeout: timeout)
    let result: CommandResult
    do {
      result = try runner.run(request)
    } catch {
      return .failure(.failed(error.description))
    }
    if result.ok { return .success(true) }
    if !result.timedOut, result.status == 1, result.stderrText.contains("can't find session") {
      return .success(false)
    }
    return .failure(classify(result, command: "has-session") ?? .failed("tmux has-session failed"))
  }

  /// The pane that represents the agent in `session` (see `TmuxListing.agentPane(of:)`).
  public static func agentPane(of session: String, in listing: TmuxListing) -> TmuxPane? {
    listing.agentPane(of: session)
  }

  /// Runs one tmux command line; success only when tmux exits 0. `input` goes to tmux's
  /// stdin (for `load-buffer -`).
  public func run(_ argv: [String], input: [UInt8]? = nil) -> Result<CommandResult, TmuxError> {
    let request = CommandRequest(argv, input: input, timeout: timeout)
    let result: CommandResult
    do {
      result = try runner.run(request)
    } catch {
      return .failure(.failed(error.description))
    }
    if result.ok { return .success(result) }
    let name =
      argv.firstIndex(of: "-L").map { $0 + 2 }.flatMap {
        argv.indices.contains($0) ? argv[$0] : nil
      } ?? "tmux"
    return .failure(classify(result, command: name) ?? .failed("tmux \(name) failed"))
  }

  /// Maps a failed tmux run to an error; nil when it did not fail.
  func classify(_ result: CommandResult, command: String) -> TmuxError? {
    if result.ok { return nil }
    if result.timedOut {
      return .failed("tmux \(command): no answer within \(Self.seconds(timeout)) s")
    }
    let text = result.stderrText
    let line =
      text.split(separator: "\n").first.map(String.init)?.trimmingTrailingSpaces()
      ?? ""
    if TmuxClient.isServerAbsent(stderr: text) { return .serverAbsent }
    if line.isEmpty {
      if let signal = result.signal {
        return .failed("tmux \(command): killed by signal \(signal)")
      }
      return .failed("tmux \(command): exit status \(result.status)")
    }
    return .failed("tmux \(command): \(ListPanesFormat.printable(line))")
  }

  /// Whether tmux's stderr says no server listens on the socket. tmux prints
  /// `no server running on <path>` when the socket exists but nobody listens
  /// (ECONNREFUSED), and `error connecting to <path> (<strerror>)` for other connect
  /// errors; the latter counts as absent only when `<path>` does not exist (the strerror
  /// text may be translated, the path is not). Permission problems stay failures.
  static func isServerAbsent(stderr: String) -> Bool {
    if stderr.contains("no server running on ") { return true }
    let marker = "error connecting to "
    guard let start = stderr.firstRange(of: marker)?.upperBound else { return false }
    let rest = stderr[start...]
    guard let end = rest.firstRange(of: " (")?.lowerBound else { return false }
    let path = String(rest[..<end])
    var st = stat()
    return lstat(path, &st) != 0 && errno == ENOENT
  }

  static func seconds(_ d: Double) -> String {
    d == d.rounded() && abs(d) < 1e9 ? String(Int(d)) : String(d)
  }
}

extension String {
  fileprivate func trimmingTrailingSpaces() -> String {
    var s = Substring(self)
    while let last = s.last, last == " " || last == "\r" || last == "\t" { s = s.dropLast() }
    return String(s)
  }
}

/// Exact argv lists for tmux commands on one server. Pure: nothing runs here.
///
/// Targets are always exact: `=<session>` / `=<session>:` for sessions (a bare name is
/// matched by prefix and against window names) and `%N` pane ids. Text to type never
/// appears in an argv (an argument ending in `;` ends a tmux command): it goes through
/// `loadBuffer` on stdin and `pasteBuffer`. Callers pass pane ids from a listing
/// (`TmuxArgv.isPaneId`), buffer names they made (`isBufferName`) and formats of their own.
public struct TmuxArgv: Sendable, Equatable {
  public var program: String
  public var socket: String

  public init(program: String = "tmux", socket: String) {
    self.program = program
    self.socket = socket
  }

  var base: [String] { Self.prefix(program: program, socket: socket) }

  /// `tmux -u -L S`, the start of every non-interactive tmux call. `-u` says the client
  /// takes UTF-8: without it, a client whose locale is not UTF-8 (cron's bare environment
  /// is the C locale) gets every byte outside 0x20-0x7e of `-p`/`-F` output replaced by
  /// `_` (tmux's `utf8_sanitize`), field separators and non-ASCII names included.
  /// `attach-session` is the exception: it draws on the operator's terminal, whose
  /// locale it must follow.
  public static func prefix(program: String = "tmux", socket: String) -> [String] {
    [program, "-u", "-L", socket]
  }

  /// `tmux -L S list-panes -a -F <format>` (the format `TmuxClient.listPanes` parses).
  public func listPanes(withCommand: Bool = true) -> [String] {
    base + ["list-panes", "-a", "-F", ListPanesFormat.format(withCommand: withCommand)]
  }

  /// The first line `capture` prints: a tag, then the fields, `:`-separated (empty fields
  /// kept).
  static let captureTag = "mosaic-capture"
  static let captureFormat =
    captureTag
    + ":#{pane_width}:#{pane_height}:#{cursor_x}:#{cursor_y}:#{cursor_flag}:#{alternate_on}"
    + ":#{pane_dead}:#{pane_dead_status}:#{pane_in_mode}:#{history_size}"

  /// One look at a pane in ONE tmux invocation: `display-message -p -t %N FORMAT ;
  /// capture-pane -p ... -t %N` (tmux splits its argv at a standalone `;`; no shell is
  /// involved). Both are read-only commands of a command client, which attaches to nothing:
  /// the pane receives no input, no focus event and no resize. `history` > 0 adds that many
  /// lines of scrollback (`-S -N`); `keepTrailingSpaces` keeps coloured trailing blanks (`-N`).
  public func capture(
    paneId: String, escapes: Bool, history: Int = 0, keepTrailingSpaces: Bool = false
  ) -> [String] {
    var a = base + ["display-message", "-p", "-t", paneId, Self.captureFormat]
    a += [";", "capture-pane", "-p"]
    if escapes { a.append("-e") }
    if keepTrailingSpaces { a.append("-N") }
    if history > 0 { a += ["-S", "-" + String(history)] }
    return a + ["-t", paneId]
  }

  /// `tmux -L S has-session -t =NAME`.
  public func hasSession(_ session: String) -> [String] {
    base + ["has-session", "-t", "=" + session]
  }

  /// Where `capture-pane` starts.
  public enum CaptureStart: Sendable, Equatable {
    /// The top of the history (`-S -`).
    case historyTop
    /// A line number: 0 is the first visible line, negative numbers go back into history.
    case line(Int)
  }

  /// `tmux -L S capture-pane -p [-e] [-J] [-S start] -t %N`: the pane's text on stdout;
  /// `-e` keeps colours and attributes as escape sequences, `-J` joins wrapped lines.
  public func capturePane(
    _ paneId: String, escapes: Bool = true, joinWrapped: Bool = false,
    start: CaptureStart? = nil
  ) -> [String] {
    var a = base + ["capture-pane", "-p"]
    if escapes { a.append("-e") }
    if joinWrapped { a.append("-J") }
    switch start {
    case nil: break
    case .historyTop?: a += ["-S", "-"]
    case .line(let n)?: a += ["-S", String(n)]
    }
    return a + ["-t", paneId]
  }

  /// `tmux -L S load-buffer -b NAME -`: the caller sends the text on stdin.
  public func loadBuffer(_ name: String) -> [String] {
    base + ["load-buffer", "-b", name, "-"]
  }

  /// `tmux -L S paste-buffer -d -p -r -b NAME -t %N`: pastes and deletes the buffer,
  /// bracketed if the program asked for it (`-p`), keeping LF (`-r`).
  public func pasteBuffer(_ name: String, into paneId: String) -> [String] {
    base + ["paste-buffer", "-d", "-p", "-r", "-b", name, "-t", paneId]
  }

  /// `tmux -L S delete-buffer -b NAME` (cleanup when a paste did not happen).
  public func deleteBuffer(_ name: String) -> [String] {
    base + ["delete-buffer", "-b", name]
  }

  /// `tmux -L S send-keys -t %N KEY...` for named keys only (never text).
  public func sendKeys(_ paneId: String, _ keys: [TmuxKey]) -> [String] {
    base + ["send-keys", "-t", paneId] + keys.map(\.rawValue)
  }

  /// `tmux -L S display-message -p -t %N FORMAT`. The format must not end in `;`.
  public func display(_ paneId: String, format: String) -> [String] {
    base + ["display-message", "-p", "-t", paneId, format]
  }

  /// `=NAME:`, the exact target for a session's current window.
  public static func sessionTarget(_ session: String) -> String { "=" + session + ":" }

  /// Whether `s` is a pane id (`%` and digits).
  public static func isPaneId(_ s: String) -> Bool {
    let u = Array(s.utf8)
    return u.count >= 2 && u[0] == UInt8(ascii: "%")
      && u.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
  }

  /// Whether `s` is safe as a buffer name: 1 to 100 of `[A-Za-z0-9_.-]`, not starting
  /// with `-`.
  public static func isBufferName(_ s: String) -> Bool {
    let u = Array(s.utf8)
    guard !u.isEmpty, u.count <= 100, u[0] != UInt8(ascii: "-") else { return false }
    return u.allSatisfy {
      ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
        || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
    }
  }
}

/// Named keys for `send-keys` (tmux key names; never literal text).
public enum TmuxKey: String, Sendable, CaseIterable {
  case enter = "Enter"
  case escape = "Escape"
  case tab = "Tab"
  case backspace = "BSpace"
  case up = "Up"
  case down = "Down"
  case left = "Left"
  case right = "Right"
  case home = "Home"
  case end = "End"
  case pageUp = "PPage"
  case pageDown = "NPage"
  case ctrlC = "C-c"
  case ctrlD = "C-d"
  case ctrlU = "C-u"
  case ctrlL = "C-l"
}
