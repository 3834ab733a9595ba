import MosaicSupport

/// Why a name does not lead to an agent's pane, as data: a stable `code` that code may
/// branch on, and one line for people (`message`, without the `<name>: ` prefix that
/// callers put in front). Nothing parses the message.
public struct AgentLookupError: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Code: String, Sendable {
    /// Neither a roster agent nor a session on the socket (or a session a roster agent owns).
    case noSuchAgent = "no-such-agent"
    /// A roster agent of another host (`host` in the roster): its pane is not here.
    case remoteHost = "remote-host"
    /// A roster agent without a tmux session on the socket (absent, or no server).
    case noSession = "no-session"
    /// The tmux server could not be asked (not "no server": a failure or a timeout).
    case tmuxUnreadable = "tmux-unreadable"
  }

  public var code: Code
  public var message: String

  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { message }
}

/// Who a name is, from the roster alone: a roster agent, else the unrostered tmux session
/// of exactly that name.
public struct AgentIdentity: Sendable, Equatable {
  public var name: String
  /// The tmux session: the roster's `session`, or the name itself.
  public var session: String
  /// The roster entry; nil for an unrostered session.
  public var rostered: RosterAgent?
  public var tenant: String
  public var host: String
  /// The tmux socket the session is looked for on.
  public var socket: String
  /// Seconds between heartbeats (the roster's, else its default).
  public var heartbeatInterval: Double
}

/// An agent found: who it is and its pane (the session's first pane, as `fleet ps` shows).
public struct AgentTarget: Sendable, Equatable {
  public var identity: AgentIdentity
  public var pane: TmuxPane

  public var name: String { identity.name }
  public var session: String { identity.session }
  public var socket: String { identity.socket }
}

/// The one rule that turns an agent name into its pane, for every verb (`agent send`,
/// `capture`, `watch`, `attach`, and through `lookup(_:in:)` the verbs that already hold a
/// `fleet ps` snapshot). It reads only the roster and one `tmux list-panes`: no systemd,
/// no /proc, no heartbeats.
///
/// - A roster agent is found by name; its session is the roster's. An agent of another
///   host is refused here (`remote-host`).
/// - Any other name addresses the tmux session of exactly that name on the socket, as
///   `fleet ps` lists it (flag `unrostered`), unless a roster agent's session has that
///   name (then the agent is the way to it).
/// - A name that is neither gets one message, `no such agent in the roster (<path>) or
///   session on socket <socket>`, with a "did you mean" over the roster's names and the
///   socket's unrostered sessions; when no roster exists yet it says so and how to make one.
public struct AgentResolver: Sendable {
  public var roster: Roster
  /// The roster file does not exist (the first run): the roster is empty and the
  /// message for an unknown name says how to make one.
  public var rosterMissing: Bool
  /// The socket; the roster's when nil.
  public var socket: String
  /// This machine's short host name.
  public var host: String

  public init(roster: Roster, rosterMissing: Bool = false, socket: String? = nil, host: String) {
    self.roster = roster
    self.rosterMissing = rosterMissing
    self.socket = socket ?? roster.socket
    self.host = host
  }

  /// Who `name` is, from the roster alone (no tmux yet). A remote roster agent is
  /// identified (its host says where it lives); `requireLocal` refuses it.
  public func identify(_ name: String) -> Result<AgentIdentity, AgentLookupError> {
    if let agent = roster.agent(named: name) {
      return .success(
        AgentIdentity(
          name: name, session: agent.session, rostered: agent, tenant: agent.tenant,
          host: agent.host, socket: socket, heartbeatInterval: agent.heartbeatInterval))
    }
    if let owner = roster.agent(inSession: name) {
      return .failure(
        AgentLookupError(
          .noSuchAgent, "no such agent (session '\(name)' belongs to agent '\(owner.name)')"))
    }
    guard !name.isEmpty else { return .failure(noSuchAgent(name, sessions: [])) }
    return .success(
      AgentIdentity(
        name: name, session: name, rostered: nil, tenant: roster.tenant, host: host,
        socket: socket, heartbeatInterval: roster.heartbeatInterval))
  }

  /// Refuses an identity of another host: its pane cannot be reached from here.
  public func requireLocal(_ id: AgentIdentity) -> Result<AgentIdentity, AgentLookupError> {
    guard id.host == host else {
      return .failure(
        AgentLookupError(
          .remoteHost, "runs on host \(id.host), not on this one (\(host)); run this there"))
    }
    return .success(id)
  }

  /// The identity's pane in a `list-panes` answer (or the reason there is none).
  public func locate(
    _ id: AgentIdentity, in listing: Result<TmuxListing, TmuxError>
  ) -> Result<AgentTarget, AgentLookupError> {
    switch listing {
    case .failure(.serverAbsent):
      guard id.rostered != nil else { return .failure(noSuchAgent(id.name, sessions: [])) }
      return .failure(
        AgentLookupError(
          .noSession, "no session '\(id.session)': no tmux server on socket \(socket)"))
    case .failure(let e):
      return .failure(AgentLookupError(.tmuxUnreadable, "tmux socket \(socket): \(e)"))
    case .success(let listing):
      guard let pane = listing.agentPane(of: id.session) else {
        guard id.rostered != nil else {
          return .failure(noSuchAgent(id.name, sessions: listing.sessions))
        }
        return .failure(
          AgentLookupError(.noSession, "no session '\(id.session)' on socket \(socket)"))
      }
      return .success(AgentTarget(identity: id, pane: pane))
    }
  }

  /// identify, requireLocal, then one `list-panes` through `tmux` and locate.
  public func resolve(_ name: String, tmux: TmuxClient) -> Result<AgentTarget, AgentLookupError> {
    let id: AgentIdentity
    switch identify(name).flatMap(requireLocal) {
    case .success(let found): id = found
    case .failure(let e): return .failure(e)
    }
    return locate(id, in: tmux.listPanes())
  }

  /// The reverse: which agent's pane `paneId` is (a hook event knows its pane from
  /// `$TMUX_PANE`), by the same rule: the roster agent of this host whose session it is the
  /// agent pane of, else the unrostered session's name.
  public func agent(ofPane paneId: String, in listing: Result<TmuxListing, TmuxError>)
    -> Result<String, AgentLookupError>
  {
    let notOurs = AgentLookupError(
      .noSuchAgent, "no agent's pane is \(paneId) (socket \(socket))")
    guard case .success(let listing) = listing else {
      if case .failure(let e) = listing, e != .serverAbsent {
        return .failure(AgentLookupError(.tmuxUnreadable, "tmux socket \(socket): \(e)"))
      }
      return .failure(notOurs)
    }
    guard let session = listing.panes.first(where: { $0.paneId == paneId })?.session,
      listing.agentPane(of: session)?.paneId == paneId
    else { return .failure(notOurs) }
    if let agent = roster.agent(inSession: session) {
      return agent.host == host ? .success(agent.name) : .failure(notOurs)
    }
    return .success(session)
  }

  /// For verbs that already hold the rows of a `fleet ps` snapshot: the row's index for
  /// `name`, or the one "no such agent" error with its suggestion over `names`.
  public func lookup(_ name: String, in names: [String]) -> Result<Int, AgentLookupError> {
    if let i = names.firstIndex(of: name) { return .success(i) }
    return .failure(noSuchAgent(name, candidates: names))
  }

  /// The one "no such agent" error; the suggestion is drawn from the roster's local agents
  /// and the sessions on the socket that no roster agent owns.
  public func noSuchAgent(_ name: String, sessions: [String]) -> AgentLookupError {
    let owned = Set(roster.agents.map(\.session))
    let local = roster.agents.filter { $0.host == host }.map(\.name)
    return noSuchAgent(name, candidates: local + sessions.filter { !owned.contains($0) })
  }

  func noSuchAgent(_ name: String, candidates: [String]) -> AgentLookupError {
    if rosterMissing {
      return AgentLookupError(
        .noSuchAgent,
        "no such agent: no roster yet at \(roster.path) ('mosaic fleet init' writes one)"
          + " and no session of that name on socket \(socket)"
          + Suggestion.hint(for: name, in: candidates))
    }
    return AgentLookupError(
      .noSuchAgent,
      "no such agent in the roster (\(roster.path)) or session on socket \(socket)"
        + Suggestion.hint(for: name, in: candidates))
  }
}

/// What runs in one agent's pane, as the hooks need it (`hooks.attribute` for Codex, whose
/// shared daemon tells an event's agent only by the event's working directory).
public struct AgentProgram: Sendable, Equatable {
  public var name: String
  /// The roster's runtime, or the one detected in an unrostered session's pane.
  public var runtime: String?
  public var paneState: AgentRow.PaneState
  /// The program's working directory; nil when it has none here or it cannot be read.
  public var cwd: String?

  public init(name: String, runtime: String?, paneState: AgentRow.PaneState, cwd: String?) {
    self.name = name
    self.runtime = runtime
    self.paneState = paneState
    self.cwd = cwd
  }
}

extension AgentResolver {
  /// Every agent of this host (the roster's, then unrostered sessions) with its program,
  /// from one `list-panes` answer and `/proc`: the planes the question needs, without
  /// systemd, heartbeats or screens. The program is the one `fleet ps` shows
  /// (`ForegroundGroup.program`).
  public func programs(
    in listing: TmuxListing, matcher: (String, String) -> Bool, procRoot: String = "/proc"
  ) -> [AgentProgram] {
    let panes = listing.agentPanes
    func program(_ name: String, _ session: String, _ agent: RosterAgent?) -> AgentProgram {
      guard let pane = panes[session] else {
        return AgentProgram(name: name, runtime: agent?.runtime, paneState: .absent, cwd: nil)
      }
      guard !pane.dead, let pid = pane.panePid,
        let group = ProcPlane.foregroundGroup(
          ofPanePid: pid, paneTTY: pane.tty, procRoot: procRoot)
      else {
        return AgentProgram(
          name: name, runtime: agent?.runtime, paneState: pane.dead ? .dead : .alive, cwd: nil)
      }
      let found = group.program(of: agent, matcher: matcher)
      return AgentProgram(
        name: name, runtime: found.runtime, paneState: .alive,
        cwd: ProcPlane.cwd(of: found.process.pid, procRoot: procRoot))
    }
    var out = roster.agents.filter { $0.host == host }.map { program($0.name, $0.session, $0) }
    let rostered = Set(roster.agents.map(\.session))
    for session in listing.sessions.sorted() where !rostered.contains(session) {
      out.append(program(session, session, nil))
    }
    return out
  }
}
