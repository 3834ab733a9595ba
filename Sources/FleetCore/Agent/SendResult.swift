import MosaicSupport

/// What `agent send` did (SPEC 2.7): the `mosaic.agent.send/v1` object.
public struct AgentSendResult: Sendable {
  public static let schema = "mosaic.agent.send/v1"

  /// The name asked for.
  public var agent: String
  /// The roster agent's tenant; nil for an unrostered session or an unknown agent.
  public var tenantId: String?
  /// The machine the agent runs on (the roster's `host`, else this one).
  public var host: String
  public var socket: String
  /// The tmux session and the pane id (`%N`) the text went to, once known.
  public var session: String?
  public var paneId: String?
  /// Whether the text reached the pane (pasted; Enter may still have failed, see `error`).
  public var delivered = false
  /// Bytes of text delivered (with the appended nonce, if any), Enter not counted.
  public var bytes = 0
  /// Whether `--verify` was asked for.
  public var verify = false
  public var verdict: SendVerdict?
  /// What the verdict rests on: `ack`, `prompt`, `unread`, `stopped`, `draft-at-cursor`,
  /// `input-box`, `no-prompt`, `no-evidence`, `pane-exited`.
  public var basis: String?
  /// `--verify` reached its deadline without a verdict.
  public var timedOut = false
  /// Why the send was refused before anything was delivered; nil otherwise.
  public var refused: String?
  /// What kind of refusal, for code to branch on (`no-such-agent`, `remote-host`,
  /// `no-session`, `tmux-unreadable`, `pane-dead`, `leased`, ...); nil when not refused.
  public var refusedCode: String?
  /// A failure after the text was delivered (Enter could not be sent).
  public var error: String?
  /// One line for humans.
  public var detail = ""
  /// The observations the verdict rests on (SPEC 2.7's `evidence`).
  public var evidence: [(String, JSONValue)] = []

  public init(agent: String, host: String, socket: String) {
    self.agent = agent
    self.host = host
    self.socket = socket
  }

  /// 0 delivered (without `--verify`) or accepted; 1 draft or unknown; 2 wedged, timed out,
  /// or failed after delivering; 3 refused (nothing delivered).
  public var exitCode: Int32 {
    if refused != nil || !delivered { return 3 }
    if error != nil || timedOut { return 2 }
    guard verify else { return 0 }
    switch verdict {
    case .accepted?, .queued?: return 0
    case .draft?, .unknown?: return 1
    case .wedged?, nil: return 2
    }
  }

  public var jsonValue: JSONValue {
    .object([
      ("schema", .string(Self.schema)),
      ("agent", .string(agent)),
      ("tenant_id", .from(tenantId)),
      ("host", .string(host)),
      ("socket", .string(socket)),
      ("session", .from(session)),
      ("pane", .from(paneId)),
      ("delivered", .bool(delivered)),
      ("bytes", .int(Int64(bytes))),
      ("verify", .bool(verify)),
      ("verdict", .from(verdict?.rawValue)),
      ("basis", .from(basis)),
      ("timed_out", .bool(timedOut)),
      ("exit", .int(Int64(exitCode))),
      ("refused", .from(refused)),
      ("refused_code", .from(refusedCode)),
      ("error", .from(error)),
      ("detail", .string(detail)),
      ("evidence", .object(evidence)),
    ])
  }
}
