#if canImport(Glibc)
  import Glibc
#endif

/// Where mosaic keeps things (SPEC 2.1), resolved from the environment.
public struct MosaicPaths: Sendable, Equatable {
  /// `<config>`: `$MOSAIC_HOME`, else `$XDG_CONFIG_HOME/mosaic`, else `~/.config/mosaic`.
  public var config: String
  /// `<run>`: heartbeats, probes, locks, leases.
  public var run: String
  /// Shell history and the audit log.
  public var state: String
  /// The roster file unless a flag names another.
  public var roster: String

  public init(config: String, run: String, state: String, roster: String) {
    self.config = config
    self.run = run
    self.state = state
    self.roster = roster
  }

  public static func fromEnvironment() -> MosaicPaths {
    let home = Environment.nonEmpty("HOME") ?? homeFromPasswd()
    let config: String
    if let m = Environment.nonEmpty("MOSAIC_HOME") {
      config = m
    } else if let x = Environment.nonEmpty("XDG_CONFIG_HOME") {
      config = x + "/mosaic"
    } else {
      config = home + "/.config/mosaic"
    }
    let state: String
    if let x = Environment.nonEmpty("XDG_STATE_HOME") {
      state = x + "/mosaic"
    } else {
      state = home + "/.local/state/mosaic"
    }
    let roster = Environment.nonEmpty("MOSAIC_ROSTER") ?? config + "/fleet/roster.lua"
    return MosaicPaths(config: config, run: config + "/fleet/run", state: state, roster: roster)
  }

  private static func homeFromPasswd() -> String {
    if let pw = getpwuid(geteuid()), let dir = pw.pointee.pw_dir { return String(cString: dir) }
    return "/"
  }
}
