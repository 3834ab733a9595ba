import MosaicSupport

/// One process as `/proc/<pid>/stat` and `/proc/<pid>/cmdline` describe it at one moment.
public struct ProcessSnapshot: Sendable, Equatable {
  public var pid: Int32
  /// `comm`, the kernel's short name (at most 15 bytes; may hold spaces and parentheses).
  public var comm: String
  /// The state word: running, sleeping, disk-sleep, stopped, tracing-stop, zombie, dead,
  /// idle, parked, or unknown.
  public var state: String
  /// The state letter as the kernel prints it (R, S, D, T, t, Z, X, I, P, ...).
  public var stateCode: Character
  /// The command line, split at NULs. Empty for kernel threads and zombies. A program
  /// that rewrote its command line (a process title) shows what it wrote; trailing empty
  /// arguments are dropped, as such titles pad with NULs.
  public var argv: [String]
  public var ppid: Int32
  /// Process group.
  public var pgrp: Int32
  /// Session id.
  public var session: Int32
  /// Controlling terminal (device number; 0 for none).
  public var ttyNr: Int64
  /// Foreground process group of the controlling terminal; -1 or 0 when there is none.
  public var tpgid: Int32
  /// Start time in clock ticks after boot: with `pid`, identifies the process across pid
  /// reuse.
  public var startTime: UInt64

  public init(
    pid: Int32, comm: String = "", state: String, stateCode: Character, argv: [String] = [],
    ppid: Int32 = 0, pgrp: Int32 = 0, session: Int32 = 0, ttyNr: Int64 = 0, tpgid: Int32 = -1,
    startTime: UInt64 = 0
  ) {
    self.pid = pid
    self.comm = comm
    self.state = state
    self.stateCode = stateCode
    self.argv = argv
    self.ppid = ppid
    self.pgrp = pgrp
    self.session = session
    self.ttyNr = ttyNr
    self.tpgid = tpgid
    self.startTime = startTime
  }

  /// Stopped by a signal (state T: Ctrl-Z, SIGSTOP, SIGTTIN/SIGTTOU).
  public var isStopped: Bool { stateCode == "T" }

  /// The state word for a kernel state letter.
  public static func stateWord(_ code: Character) -> String {
    switch code {
    case "R": return "running"
    case "S": return "sleeping"
    case "D": return "disk-sleep"
    case "T": return "stopped"
    case "t": return "tracing-stop"
    case "Z": return "zombie"
    case "X", "x": return "dead"
    case "I": return "idle"
    case "P": return "parked"
    default: return "unknown"
    }
  }

  /// SPEC's `process` object: pid, state, argv.
  public var jsonValue: JSONValue {
    .object([
      ("pid", .int(Int64(pid))),
      ("state", .string(state)),
      ("argv", .array(argv.map { .string($0) })),
    ])
  }
}

/// The processes of a pane's foreground process group that descend from the pane process
/// (`ProcPlane.foregroundGroup`).
public struct ForegroundGroup: Sendable, Equatable {
  public struct Member: Sendable, Equatable {
    public var process: ProcessSnapshot
    /// 0 for the pane process, 1 for its children, and so on.
    public var depth: Int
  }

  /// The group's leader, or the pane process: what tmux calls the pane's current command.
  public var leader: ProcessSnapshot
  /// Shallowest first; empty when no process under the pane is in the group.
  public var members: [Member]
  /// The pane process's terminal (`tty_nr`), to check the group against the pane's tty.
  public var paneTTY: Int64? = nil

  /// A member is stopped (state T): nobody reads what is sent to the pane.
  public var stopped: Bool { leader.isStopped || members.contains { $0.process.isStopped } }

  /// The first stopped member, for messages.
  public var stoppedMember: ProcessSnapshot? {
    members.first { $0.process.isStopped }?.process ?? (leader.isStopped ? leader : nil)
  }

  /// The deepest member (the last one found at the greatest depth), else the leader.
  public var deepest: ProcessSnapshot {
    guard let maxDepth = members.map(\.depth).max() else { return leader }
    return members.last { $0.depth == maxDepth }!.process
  }

  /// The agent's program in this group, whether it is the runtime expected, and that
  /// runtime: for a roster agent, the member its `runtime` and `match` accept; for an
  /// unrostered session (`agent` nil), the member whose argv names a known runtime.
  /// `fleet ps`'s rows and the hooks' attribution both ask this, so they cannot disagree.
  public func program(
    of agent: RosterAgent?, matcher: (String, String) -> Bool
  ) -> (process: ProcessSnapshot, matched: Bool?, runtime: String?) {
    if let agent {
      let f = agentProcess {
        RuntimeDetector.matches(
          runtime: agent.runtime, argv: $0.argv, match: agent.match, patternMatcher: matcher)
      }
      return (f.process, f.matched, agent.runtime)
    }
    let f = agentProcess { RuntimeDetector.detect(argv: $0.argv) != nil }
    let runtime = f.matched == true ? RuntimeDetector.detect(argv: f.process.argv) : nil
    return (f.process, f.matched, runtime)
  }

  /// The shallowest member `isAgent` accepts that is not a `mosaic heartbeat -- CMD`
  /// wrapper (a wrapper is judged by what it wraps, so the program itself is preferred;
  /// the agent's own children are never taken for it, not even a child just forked that
  /// still shows the agent's argv), else the deepest wrapper accepted, else the deepest
  /// member; and whether one was accepted (nil when no member could be judged).
  public func agentProcess(_ isAgent: (ProcessSnapshot) -> Bool?) -> (
    process: ProcessSnapshot, matched: Bool?
  ) {
    var judged = false
    var wrapper: ProcessSnapshot?
    for m in members {
      switch isAgent(m.process) {
      case true?:
        if !RuntimeDetector.isWrapper(argv: m.process.argv) { return (m.process, true) }
        wrapper = m.process
      case false?: judged = true
      case nil: break
      }
    }
    if let wrapper { return (wrapper, true) }
    return (deepest, judged ? false : nil)
  }
}
