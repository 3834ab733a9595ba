import MosaicSupport

/// The screen verdicts (`ScreenVerdict`) of panes already looked at, kept in
/// `<run>/screens.cache` so that `fleet ps` captures only the screens that may have changed
/// since (SPEC 2.4). A capture costs the tmux server about a millisecond per pane at 1000
/// sessions, while the facts that say "this screen is the one judged before" come free with
/// the `list-panes` the join runs anyway.
///
/// A verdict is reused only for the same pane (`pane_id`, unique for the server's life, and
/// `pane_pid`), size, cursor and screen (`alternate_on`), the same profile (a fingerprint of
/// its rules), on the same socket, and the same `window_activity`: tmux sets that on every
/// byte a pane's program writes (epoch seconds, so with a 1 s resolution). A verdict is kept
/// only when its capture began at least one whole second after the window's last output, so
/// any later output moves `window_activity` to another second and the verdict is not reused.
/// The cache is best effort: a missing, unreadable or untrusted file is an empty cache, and
/// a write that fails is ignored.
public struct ScreenVerdictCache: Sendable {
  /// What must be equal for a verdict to be reused.
  public struct Key: Sendable, Equatable {
    public var paneId: String
    public var panePid: Int32
    public var width: Int
    public var height: Int
    public var windowActivity: Int
    public var cursorX: Int
    public var cursorY: Int
    public var alternateOn: Bool
    public var profile: String

    /// The key of `pane` read with the profile whose `fingerprint` this is (computed once
    /// for many panes); nil when the listing lacks a fact it needs.
    public init?(pane: TmuxPane, fingerprint: String) {
      guard TmuxArgv.isPaneId(pane.paneId), let pid = pane.panePid, let width = pane.width,
        let height = pane.height, let activity = pane.windowActivity, let x = pane.cursorX,
        let y = pane.cursorY
      else { return nil }
      self.init(
        paneId: pane.paneId, panePid: pid, width: width, height: height,
        windowActivity: activity, cursorX: x, cursorY: y, alternateOn: pane.alternateOn,
        profile: fingerprint)
    }

    public init(
      paneId: String, panePid: Int32, width: Int, height: Int, windowActivity: Int,
      cursorX: Int, cursorY: Int, alternateOn: Bool, profile: String
    ) {
      self.paneId = paneId
      self.panePid = panePid
      self.width = width
      self.height = height
      self.windowActivity = windowActivity
      self.cursorX = cursorX
      self.cursorY = cursorY
      self.alternateOn = alternateOn
      self.profile = profile
    }

    /// Whether a verdict of `screen`, captured from `started` (epoch seconds) on, may be
    /// kept under this key: the capture shows the cursor and size the listing showed, and
    /// began a whole second after the window's last output.
    public func keeps(_ screen: SendScreen, capturedFrom started: Double) -> Bool {
      started >= Double(windowActivity) + 1 && screen.cursorX == cursorX
        && screen.cursorY == cursorY && screen.width == width && !screen.dead
    }
  }

  public static let header = "mosaic.screen-verdicts/v1"
  /// The file is read only up to this size; more entries than `maxEntries` are not kept.
  public static let maxBytes = 1 << 20
  public static let maxEntries = 8192

  public let socket: String
  private(set) var entries: [String: (Key, ScreenVerdict)] = [:]
  /// Whether the entries differ from the file's.
  private(set) var changed = false

  /// An empty cache for `socket`.
  public init(socket: String) { self.socket = socket }

  /// The cache kept at `path` for `socket`; empty when there is none, it is untrusted or
  /// unreadable, or it was written for another socket.
  public static func load(path: String, socket: String) -> ScreenVerdictCache {
    var cache = ScreenVerdictCache(socket: socket)
    guard case .success(let bytes) = Files.readTrusted(path, limit: maxBytes) else {
      return cache
    }
    var lines = bytes.split(separator: 0x0A)[...]
    guard let first = lines.popFirst(),
      String(decoding: first, as: UTF8.self) == "\(header) \(hex(socket))"
    else { return cache }
    for line in lines.prefix(maxEntries) {
      let f = line.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
      guard f.count == 10, TmuxArgv.isPaneId(f[0]), let pid = Int32(f[1]), let w = Int(f[2]),
        let h = Int(f[3]), let a = Int(f[4]), let x = Int(f[5]), let y = Int(f[6]),
        f[7] == "0" || f[7] == "1", let verdict = decodeVerdict(f[9])
      else { continue }
      let key = Key(
        paneId: f[0], panePid: pid, width: w, height: h, windowActivity: a, cursorX: x,
        cursorY: y, alternateOn: f[7] == "1", profile: f[8])
      cache.entries[key.paneId] = (key, verdict)
    }
    return cache
  }

  /// The verdict kept for exactly this key.
  public func verdict(for key: Key) -> ScreenVerdict? {
    guard let (k, v) = entries[key.paneId], k == key else { return nil }
    return v
  }

  /// Keeps `verdict` for `key` (replacing what the pane had).
  public mutating func keep(_ verdict: ScreenVerdict, for key: Key) {
    if let (k, v) = entries[key.paneId], k == key, v == verdict { return }
    entries[key.paneId] = (key, verdict)
    changed = true
  }

  /// Forgets the panes not in `paneIds` (gone, or no longer looked at).
  public mutating func retain(_ paneIds: Set<String>) {
    for id in entries.keys where !paneIds.contains(id) {
      entries[id] = nil
      changed = true
    }
  }

  /// The file's text.
  public func render() -> String {
    var out = "\(Self.header) \(Self.hex(socket))\n"
    for id in entries.keys.sorted().prefix(Self.maxEntries) {
      let (k, v) = entries[id]!
      out +=
        "\(k.paneId) \(k.panePid) \(k.width) \(k.height) \(k.windowActivity) \(k.cursorX) "
        + "\(k.cursorY) \(k.alternateOn ? 1 : 0) \(k.profile) \(Self.encode(v))\n"
    }
    return out
  }

  /// Writes the cache to `path` (atomically, mode 0600) if it changed; failures are ignored.
  public func save(path: String) {
    guard changed else { return }
    try? Files.writeAtomically(path, render(), mode: 0o600)
  }

  static func encode(_ v: ScreenVerdict) -> String {
    switch v {
    case .none: return "-"
    case .rule(let i): return "r\(i)"
    case .prompt(let ready): return ready ? "p1" : "p0"
    }
  }

  static func decodeVerdict(_ s: String) -> ScreenVerdict? {
    switch s {
    case "-": return ScreenVerdict.none
    case "p1": return .prompt(ready: true)
    case "p0": return .prompt(ready: false)
    default:
      guard s.hasPrefix("r"), let i = Int(s.dropFirst()), i >= 0 else { return nil }
      return .rule(i)
    }
  }

  /// The profile's screen-reading parts (rules, prompt, ready rows) as 16 hex digits
  /// (64-bit FNV-1a): a changed profile never reuses an old verdict.
  public static func fingerprint(_ p: RuntimeProfile) -> String {
    var parts = [p.name, p.prompt ?? "\u{1}"]
    for r in p.screen { parts += [r.find, r.state.rawValue, r.waitingFor ?? "\u{1}"] }
    parts.append("\u{2}")
    parts += p.ready
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for part in parts {
      for b in part.utf8 {
        h = (h ^ UInt64(b)) &* 0x100_0000_01b3
      }
      h = (h ^ 0xff) &* 0x100_0000_01b3  // a separator no UTF-8 text holds
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }

  /// `s` as lowercase hex (socket names may hold any character).
  static func hex(_ s: String) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in s.utf8 {
      out.append(digits[Int(b >> 4)])
      out.append(digits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
  }
}
