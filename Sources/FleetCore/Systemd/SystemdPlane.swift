import MosaicSupport

/// What the user manager says about one unit. nil fields are unknown.
public struct UnitStatus: Sendable, Equatable {
  public var unit: String
  /// LoadState: loaded, not-found, masked, ...
  public var load: String?
  /// ActiveState: active, inactive, failed, activating, ...
  public var active: String?
  /// SubState: running, exited, dead, ...
  public var sub: String?
  /// The unit-file state exactly as `systemctl --user is-enabled` prints it: enabled,
  /// disabled, static, masked, linked, enabled-runtime, alias, indirect, generated, ...
  public var enabled: String?

  public init(
    unit: String, load: String? = nil, active: String? = nil, sub: String? = nil,
    enabled: String? = nil
  ) {
    self.unit = unit
    self.load = load
    self.active = active
    self.sub = sub
    self.enabled = enabled
  }
}

/// The user manager could not be asked.
public struct SystemdError: Error, Sendable, Equatable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// The systemd plane: the user manager's view of a set of units, in a number of process
/// spawns that does not grow with the number of units.
public protocol SystemdQuerying: Sendable {
  /// Status of each unit, keyed by unit name (every requested unit has an entry).
  func status(of units: [String]) -> Result<[String: UnitStatus], SystemdError>
  /// Whether lingering is on for this user (so the manager starts at boot); nil if unknown.
  func lingerEnabled() -> Bool?
}
