// The heartbeat health rule (SPEC 2.3).
import MosaicSupport

/// What an observer concluded from an agent's heartbeat file.
public struct HeartbeatReading: Sendable, Equatable {
  /// `healthy`, `stale` or `unknown`.
  public var health: String
  /// `now - ts` in seconds; nil when there is no usable heartbeat. Clamped to 0 for a
  /// timestamp slightly in the future; negative (the truth) when `skew` is set.
  public var ageS: Double?
  /// The parsed heartbeat, when the file could be trusted and parsed.
  public var heartbeat: Heartbeat?
  /// Why the health is not `healthy` (nil when it is).
  public var reason: String?
  /// The timestamp is in the future by more than one interval.
  public var skew: Bool
  /// The interval the rule was applied with (the roster's).
  public var intervalS: Double

  public init(
    health: String, ageS: Double? = nil, heartbeat: Heartbeat? = nil, reason: String? = nil,
    skew: Bool = false, intervalS: Double
  ) {
    self.health = health
    self.ageS = ageS
    self.heartbeat = heartbeat
    self.reason = reason
    self.skew = skew
    self.intervalS = intervalS
  }

  public var isHealthy: Bool { health == HeartbeatHealth.healthy }

  /// The heartbeat object, built here only: SPEC 2.4's keys (health, age_s, ts, pid,
  /// status, interval_s, reason), the reserved keys seq, ack, progress, then what the
  /// caller adds (`fleet ps` rows: probe_answered; `heartbeat.read`: probe, skew). Unknown
  /// values are null.
  public func jsonValue(then more: [(String, JSONValue)] = []) -> JSONValue {
    .object(
      [
        ("health", .string(health)),
        ("age_s", .from(ageS.map { ($0 * 10).rounded() / 10 })),
        ("ts", .from(heartbeat?.tsText)),
        ("pid", .from(heartbeat.map { Int($0.pid) })),
        ("status", .from(heartbeat?.status)),
        ("interval_s", .double(intervalS)),
        ("reason", .from(reason)),
        ("seq", .from(heartbeat?.seq.map { Int($0) })),
        ("ack", .from(heartbeat?.ack)),
        ("progress", .from(heartbeat?.progress)),
      ] + more)
  }
}

/// The health rule.
///
/// - `healthy` iff `now - ts <= 3 × interval` (exactly three intervals is still healthy);
///   otherwise `stale`.
/// - The interval is the observer's (the roster's `heartbeat_interval`), passed in. The
///   writer's self-declared `interval=` is informational only: if it counted, a writer could
///   declare a huge interval and stay healthy forever after it stopped beating.
/// - Clock skew: a timestamp more than one interval in the future cannot be judged (the
///   writer's clock, or ours, is wrong), so it is `unknown` with `skew` set and a reason
///   "clock skew: ...". A timestamp in the future by at most one interval is ordinary jitter
///   (clocks a little apart, a write racing the read): it is `healthy` with its age clamped
///   to 0.
/// - A missing file is `unknown` ("no heartbeat file"); a file that cannot be trusted or
///   parsed is `unknown` with the reason. Never `healthy`.
public enum HeartbeatHealth {
  public static let healthy = "healthy"
  public static let stale = "stale"
  public static let unknown = "unknown"

  /// Applies the rule to a parsed heartbeat. `interval` must be positive and finite;
  /// anything else gives `unknown`.
  public static func evaluate(_ hb: Heartbeat, interval: Double, now: Double)
    -> HeartbeatReading
  {
    guard interval.isFinite, interval > 0 else {
      return HeartbeatReading(
        health: unknown, heartbeat: hb, reason: "invalid heartbeat interval \(interval)",
        intervalS: interval)
    }
    let age = now - hb.ts
    if age < -interval {
      return HeartbeatReading(
        health: unknown, ageS: age, heartbeat: hb,
        reason: "clock skew: heartbeat timestamp is \(seconds(-age)) s in the future",
        skew: true, intervalS: interval)
    }
    if age <= 3 * interval {
      return HeartbeatReading(
        health: healthy, ageS: max(0, age), heartbeat: hb, intervalS: interval)
    }
    return HeartbeatReading(
      health: stale, ageS: age, heartbeat: hb,
      reason: "last beat \(seconds(age)) s ago, over 3 x \(seconds(interval)) s",
      intervalS: interval)
  }

  /// Applies the rule to the outcome of `Files.readTrusted` on a heartbeat file.
  public static func evaluate(
    file: Result<[UInt8], Files.Distrust>, interval: Double, now: Double
  ) -> HeartbeatReading {
    switch file {
    case .failure(.missing):
      return HeartbeatReading(health: unknown, reason: "no heartbeat file", intervalS: interval)
    case .failure(let why):
      return HeartbeatReading(
        health: unknown, reason: "heartbeat file \(why.reason)", intervalS: interval)
    case .success(let bytes):
      switch HeartbeatParser.parse(bytes) {
      case .failure(let e):
        return HeartbeatReading(
          health: unknown, reason: "unparseable heartbeat: \(e)", intervalS: interval)
      case .success(let hb):
        return evaluate(hb, interval: interval, now: now)
      }
    }
  }

  /// `12`, `3.2`: seconds with at most one decimal.
  static func seconds(_ d: Double) -> String {
    let r = (d * 10).rounded() / 10
    return HeartbeatParser.formatSeconds(r)
  }
}
