import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// One event from a runtime's hooks (Claude Code's settings hooks, Codex's hooks.json), as
/// `mosaic hooks event` receives it on stdin, and what it makes of the agent's heartbeat
/// (SPEC 2.11): `status` (`busy`, `ok`, `waiting`), `ack` (the prompt's nonce), `progress`,
/// plus the hooks' own keys `hook` (the last event), `since` (when the status began) and
/// `waiting` (what a waiting agent waits for, spaces as `_`).
public struct HookEvent: Sendable, Equatable {
  public var name: String
  /// The prompt text of `UserPromptSubmit`.
  public var prompt: String?
  /// Claude's `Notification` type (`permission_prompt`, `idle_prompt`, ...).
  public var notificationType: String?
  public var cwd: String?
  public var sessionId: String?

  public init(
    name: String, prompt: String? = nil, notificationType: String? = nil, cwd: String? = nil,
    sessionId: String? = nil
  ) {
    self.name = name
    self.prompt = prompt
    self.notificationType = notificationType
    self.cwd = cwd
    self.sessionId = sessionId
  }

  /// Parses the JSON a hook gets on stdin; nil without `hook_event_name`.
  public static func parse(_ doc: JSONValue) -> HookEvent? {
    guard let name = doc["hook_event_name"]?.stringValue, !name.isEmpty else { return nil }
    return HookEvent(
      name: name, prompt: doc["prompt"]?.stringValue,
      notificationType: doc["notification_type"]?.stringValue, cwd: doc["cwd"]?.stringValue,
      sessionId: doc["session_id"]?.stringValue)
  }

  /// The heartbeat status this event means, and what is waited for; nil: no change.
  public var status: (status: String, waiting: String?)? {
    switch name {
    case "UserPromptSubmit", "PreToolUse", "PostToolUse", "SubagentStop", "PreCompact":
      return ("busy", nil)
    case "PermissionRequest": return ("waiting", "approval prompt")
    case "Notification":
      switch notificationType {
      case "permission_prompt"?: return ("waiting", "permission prompt")
      case "elicitation_dialog"?: return ("waiting", "question")
      case "idle_prompt"?: return ("ok", nil)
      default: return nil
      }
    case "Stop", "SessionEnd", "SessionStart": return ("ok", nil)
    default: return nil
    }
  }

  /// What `ack=` holds for a prompt: its `[m:<nonce>]` if it carries one, else
  /// `Hook.promptDigest` of the prompt (so `agent send --verify` proves any message).
  public static func ack(forPrompt prompt: String) -> String {
    if let nonce = StubAgent.messageNonce(in: Array(prompt.utf8)) { return nonce }
    return promptDigest(Array(prompt.utf8))
  }

  /// `h` + the 64-bit FNV-1a of the prompt without surrounding white space, in hex: what a
  /// hook writes as `ack=` for a prompt without a nonce, and what a send compares with.
  public static func promptDigest(_ text: [UInt8]) -> String {
    var lo = 0
    var hi = text.count
    func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    while lo < hi, space(text[lo]) { lo += 1 }
    while hi > lo, space(text[hi - 1]) { hi -= 1 }
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text[lo..<hi] {
      h ^= UInt64(b)
      h = h &* 0x0000_0100_0000_01b3
    }
    let hex = String(h, radix: 16)
    return "h" + String(repeating: "0", count: 16 - hex.count) + hex
  }

  /// The heartbeat after this event, from the current one (nil: none yet). `pid` is used
  /// when there is no current heartbeat; `interval` is kept from the current one.
  public func apply(to current: Heartbeat?, now: Double, pid: Int32) -> Heartbeat {
    var hb =
      current
      ?? Heartbeat(ts: now, pid: pid, status: "ok")
    hb.ts = now
    hb.seq = (hb.seq ?? 0) + 1
    hb.probe = nil
    func set(_ key: String, _ value: String?) {
      hb.extra.removeAll { $0.0 == key }
      if let value { hb.extra.append((key, value)) }
    }
    if let (status, waiting) = status {
      if status != hb.status || hb.value(forKey: "since") == nil {
        set("since", ISO8601.format(now))
      }
      hb.status = status
      set("waiting", waiting.map { String($0.map { $0 == " " ? "_" : $0 }) })
    }
    if name == "UserPromptSubmit", let prompt { hb.ack = Self.ack(forPrompt: prompt) }
    if name == "PreToolUse" || name == "PostToolUse" || name == "SubagentStop" {
      hb.progress = String(hb.seq ?? 0)
    }
    set("hook", name)
    return hb
  }
}
