import MosaicSupport

/// What mosaic knows of one agent runtime's terminal UI and records (SPEC 2.11), as data:
/// the profiles live in Lua (`lua/mosaic/runtimes.lua`), so an operator adds a runtime
/// without Swift. Patterns are Lua patterns, tried with `string.find` through the host's
/// matcher.
public struct RuntimeProfile: Sendable, Equatable {
  /// One screen rule: when a row of the visible screen matches `find`, the agent is in
  /// `state` (`working`, `waiting`, `idle`, `starting`), waiting for `waitingFor`.
  public struct ScreenRule: Sendable, Equatable {
    public var find: String
    public var state: ActivityState
    public var waitingFor: String?

    public init(find: String, state: ActivityState, waitingFor: String? = nil) {
      self.find = find
      self.state = state
      self.waitingFor = waitingFor
    }
  }

  public var name: String
  /// Tried in order; the first rule with a matching row wins.
  public var screen: [ScreenRule]
  /// The cursor row of the input prompt (the agent reads a message there), e.g. `❯`.
  public var prompt: String?
  /// A row that says a message waits in the agent's queue for the end of the turn.
  public var queued: [String]
  /// What the input shows for a paste instead of its text (`[Pasted text #1]`).
  public var pasteMarkers: [String]
  /// Leading characters that make a message a command (`!` runs a shell, `/` a slash
  /// command): refused by `agent send` unless `--command`.
  public var commandPrefixes: [String]
  /// The runtime's own status record mosaic reads: `claude` (Claude Code's
  /// `<config dir>/sessions/<pid>.json`, `ClaudeRecord`), `heartbeat` (the runtime writes `status=` into its
  /// heartbeat itself, as the stub does), or nil.
  public var record: String?
  /// Rows of which one must be on screen before the prompt counts as idle (a runtime that
  /// draws its input before it is ready); empty: the prompt alone is enough.
  public var ready: [String]
  /// Each pattern's literal start (`ActivityReader.literalStart`) as UTF-8, computed once.
  public private(set) var literals: [String: [UInt8]] = [:]

  public init(
    name: String, screen: [ScreenRule] = [], prompt: String? = nil, queued: [String] = [],
    pasteMarkers: [String] = [], commandPrefixes: [String] = [], record: String? = nil,
    ready: [String] = []
  ) {
    self.name = name
    self.screen = screen
    self.prompt = prompt
    self.queued = queued
    self.pasteMarkers = pasteMarkers
    self.commandPrefixes = commandPrefixes
    self.record = record
    self.ready = ready
    for p in screen.map(\.find) + queued + ready + pasteMarkers + [prompt].compactMap({ $0 }) {
      literals[p] = Array(ActivityReader.literalStart(of: p).utf8)
    }
  }

  public struct DecodeError: Error, CustomStringConvertible, Sendable {
    public var description: String
  }

  /// The profiles from Lua's `runtimes` table (name → profile), as JSON.
  public static func decodeAll(_ value: JSONValue) throws(DecodeError) -> [String: RuntimeProfile] {
    if case .array(let a) = value, a.isEmpty { return [:] }  // Lua's {} may come as []
    guard case .object(let pairs) = value else {
      throw DecodeError(description: "runtime profiles: a table of profiles by name expected")
    }
    var out: [String: RuntimeProfile] = [:]
    for (name, v) in pairs { out[name] = try decode(name: name, v) }
    return out
  }

  public static func decode(name: String, _ v: JSONValue) throws(DecodeError) -> RuntimeProfile {
    func fail(_ why: String) -> DecodeError {
      DecodeError(description: "runtime profile '\(name)': \(why)")
    }
    guard case .object = v else { throw fail("a table expected") }
    func strings(_ key: String) throws(DecodeError) -> [String] {
      guard let raw = v[key], raw != .null else { return [] }
      if case .object(let p) = raw, p.isEmpty { return [] }
      guard let a = raw.arrayValue else { throw fail("\(key): a list of strings expected") }
      var out: [String] = []
      for x in a {
        guard let s = x.stringValue else { throw fail("\(key): a list of strings expected") }
        out.append(s)
      }
      return out
    }
    func string(_ key: String) throws(DecodeError) -> String? {
      guard let raw = v[key], raw != .null else { return nil }
      guard let s = raw.stringValue else { throw fail("\(key): a string expected") }
      return s
    }
    var rules: [ScreenRule] = []
    if let raw = v["screen"], raw != .null {
      var list: [JSONValue] = []
      if let a = raw.arrayValue {
        list = a
      } else if case .object(let p) = raw, p.isEmpty {
        list = []
      } else {
        throw fail("screen: a list of rules expected")
      }
      for (i, r) in list.enumerated() {
        guard let find = r["find"]?.stringValue else {
          throw fail("screen[\(i + 1)].find: a pattern expected")
        }
        guard let s = r["state"]?.stringValue, let state = ActivityState(rawValue: s),
          state != .unknown
        else { throw fail("screen[\(i + 1)].state: working, waiting, idle or starting expected") }
        rules.append(
          ScreenRule(find: find, state: state, waitingFor: r["waiting_for"]?.stringValue))
      }
    }
    return RuntimeProfile(
      name: name, screen: rules, prompt: try string("prompt"), queued: try strings("queued"),
      pasteMarkers: try strings("paste_markers"), commandPrefixes: try strings("command_prefixes"),
      record: try string("record"), ready: try strings("ready"))
  }
}
