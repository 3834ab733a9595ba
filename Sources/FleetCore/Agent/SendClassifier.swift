import MosaicSupport

/// What `agent send --verify` concluded (SPEC 2.7).
public enum SendVerdict: String, Sendable, Equatable {
  /// The agent acknowledged the message nonce, or the input line returned to its empty
  /// prompt with nothing left unread.
  case accepted
  /// The text still sits in the input.
  case draft
  /// The program is not reading its input: unread bytes stay queued on the pane's tty, or
  /// its foreground process is stopped.
  case wedged
  /// No evidence either way.
  case unknown
  /// The agent took the message into its queue, to start after its current turn.
  case queued
}

/// The message as a program that echoes its input shows it, and the prompt line it was
/// typed on: what the classifier looks for on the screen.
public struct SendDraft: Sendable, Equatable {
  /// The last characters of the message's last line that are plain printable ASCII (at
  /// most 16, without surrounding spaces). "" when the message ends in anything else
  /// (a newline, UTF-8, control bytes): then the draft cannot be recognised on the screen.
  public var fragment: String
  /// The cursor row before the paste (the prompt line), without trailing spaces.
  public var prompt: String
  /// The cursor before the paste.
  public var promptX: Int
  public var promptY: Int
  /// How often `fragment` occurred on the prompt line already (the draft shows when the
  /// cursor line holds it more often than that).
  var fragmentBefore: Int

  public static let fragmentLimit = 16

  public init(text: [UInt8], before: SendScreen) {
    fragment = SendDraft.fragment(of: text)
    prompt = before.cursorRow
    promptX = before.cursorX
    promptY = before.cursorY
    fragmentBefore = SendDraft.occurrences(of: fragment, in: before.cursorLine)
  }

  static func fragment(of text: [UInt8]) -> String {
    var tail: [UInt8] = []
    for b in text.reversed() {
      guard b >= 0x20, b <= 0x7E, tail.count < fragmentLimit * 4 else { break }
      tail.append(b)
    }
    let s = String(decoding: tail.reversed(), as: UTF8.self)
    let trimmed = s.drop { $0 == " " }
    let core = SendScreen.trimRight(String(trimmed))
    return String(core.suffix(fragmentLimit)).trimmingLeadingSpaces()
  }

  static func occurrences(of needle: String, in haystack: String) -> Int {
    guard !needle.isEmpty else { return 0 }
    var count = 0
    var rest = Substring(haystack)
    while let r = rest.firstRange(of: needle) {
      count += 1
      rest = rest[r.upperBound...]
    }
    return count
  }

  /// Whether the prompt line holds anything to compare with (a blank one does not: a
  /// program with no prompt, or a cursor parked on an empty row).
  public var hasPrompt: Bool { !prompt.allSatisfy { $0 == " " } }

  /// Whether `screen` shows the draft at the cursor: the cursor line holds the fragment
  /// more often than the prompt line did.
  public func shown(on screen: SendScreen) -> Bool {
    !fragment.isEmpty
      && SendDraft.occurrences(of: fragment, in: screen.cursorLine) > fragmentBefore
  }

  /// Whether the cursor row is the prompt line again, after `preEnter` (so an unchanged
  /// screen never counts).
  public func promptReturned(on screen: SendScreen, since preEnter: SendScreen) -> Bool {
    hasPrompt && screen.cursorRow == prompt && screen.inputState != preEnter.inputState
  }

  /// Whether the cursor sits on another row of the same framed input box as the prompt:
  /// the prompt line has a border left and right of the cursor (non-alphanumeric
  /// characters at its first and last non-space columns), and the cursor row has the same
  /// characters at the same columns and nothing else there is the prompt. That is what
  /// an input box shows when Enter inserted a new line instead of submitting.
  public func insideInputBox(on screen: SendScreen) -> Bool {
    let p = Array(prompt)
    guard let first = p.firstIndex(where: { $0 != " " }),
      let last = p.lastIndex(where: { $0 != " " }), last > first, last >= promptX,
      !p[first].isLetter, !p[first].isNumber, !p[last].isLetter, !p[last].isNumber
    else { return false }
    let r = Array(screen.cursorRow)
    guard screen.cursorRow != prompt, r.count == p.count,
      r.firstIndex(where: { $0 != " " }) == first, r.lastIndex(where: { $0 != " " }) == last
    else { return false }
    return r[first] == p[first] && r[last] == p[last]
  }
}

/// One look at the pane after Enter.
public struct SendObservation: Sendable {
  /// Seconds since Enter.
  public var t: Double
  /// The screen; nil when the pane is gone.
  public var screen: SendScreen?
  /// Bytes queued unread on the pane's tty; nil when it could not be read.
  public var unread: Int?
  /// Whether a process of the pane's foreground group is stopped; nil if unknown.
  public var stopped: Bool?
  /// Whether the agent's heartbeat acknowledged the message's nonce.
  public var acked: Bool

  public init(t: Double, screen: SendScreen?, unread: Int?, stopped: Bool?, acked: Bool) {
    self.t = t
    self.screen = screen
    self.unread = unread
    self.stopped = stopped
    self.acked = acked
  }
}

/// The classifier of `agent send --verify`, fed one observation at a time after Enter.
/// In order of strength:
///
/// 1. the heartbeat's `ack=` is the message's nonce: `accepted` (basis `ack`);
/// 2. the pane's foreground process is stopped: `wedged` (`stopped`);
/// 3. bytes stay unread on the pane's tty for `wedgeAfter` seconds: `wedged` (`unread`);
///    a program that reads its input, accepting or ignoring Enter, drains them in ms;
/// 4. nothing unread and the cursor row is the prompt line again: `accepted` (`prompt`);
/// 5. once the input line (cursor and its row) has been still for `settle` seconds with
///    nothing unread: the draft still at the cursor, `draft` (`draft-at-cursor`); the
///    cursor on another row of the same framed input box, `draft` (`input-box`);
///    otherwise `unknown` (`no-prompt` when there was no prompt to compare with,
///    `no-evidence` when the line neither came back nor kept the text).
///
/// A pane that died or vanished gives `unknown` (`pane-exited`). No verdict before the
/// caller's deadline means "verification timed out".
public struct SendJudge: Sendable {
  public var draft: SendDraft
  public var preEnter: SendScreen
  public var settle: Double
  public var wedgeAfter: Double

  /// When bytes were first seen unread (seconds since Enter), while they stay.
  public private(set) var unreadSince: Double?
  /// When the input line last changed (seconds since Enter).
  public private(set) var quietSince: Double = 0
  private var lastState: SendScreen.InputState

  public init(draft: SendDraft, preEnter: SendScreen, settle: Double, wedgeAfter: Double) {
    self.draft = draft
    self.preEnter = preEnter
    self.settle = settle
    self.wedgeAfter = wedgeAfter
    lastState = preEnter.inputState
  }

  /// The verdict and its basis once the evidence is enough; nil to keep looking.
  public mutating func observe(_ o: SendObservation) -> (SendVerdict, String)? {
    if o.acked { return (.accepted, "ack") }
    if o.stopped == true { return (.wedged, "stopped") }
    guard let screen = o.screen, !screen.dead else { return (.unknown, "pane-exited") }
    let unread = o.unread ?? 0
    if unread > 0 {
      let since = unreadSince ?? o.t
      unreadSince = since
      if o.t - since >= wedgeAfter { return (.wedged, "unread") }
    } else {
      unreadSince = nil
    }
    if unread == 0, draft.promptReturned(on: screen, since: preEnter) {
      return (.accepted, "prompt")
    }
    if screen.inputState != lastState {
      lastState = screen.inputState
      quietSince = o.t
    }
    guard unread == 0, o.t - quietSince >= settle else { return nil }
    if draft.shown(on: screen) { return (.draft, "draft-at-cursor") }
    if draft.insideInputBox(on: screen) { return (.draft, "input-box") }
    return (.unknown, draft.hasPrompt ? "no-evidence" : "no-prompt")
  }
}

extension String {
  fileprivate func trimmingLeadingSpaces() -> String { String(drop { $0 == " " }) }
}
