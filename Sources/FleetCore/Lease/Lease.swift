import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// An operator's hold on an agent while `agent attach` runs (SPEC 2.6): the file
/// `<run>/<agent>.lease` holds one JSON object `{"holder", "since", "pid"}`. A lease whose
/// holder process is gone is stale and ignored.
public struct Lease: Sendable, Equatable {
  /// Who holds it: `user@host` and the terminal, for humans.
  public var holder: String
  /// When it was taken (ISO 8601 UTC).
  public var since: String
  /// The process holding it (the `agent attach` process).
  public var pid: Int32
  /// That process's start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot):
  /// a pid alone may have been reused by an unrelated process after a crash.
  public var pidStart: UInt64?

  public init(holder: String, since: String, pid: Int32, pidStart: UInt64? = nil) {
    self.holder = holder
    self.since = since
    self.pid = pid
    self.pidStart = pidStart ?? ProcPlane.readStat(pid: pid)?.startTime
  }

  /// SPEC 2.6's `lease` object.
  public var jsonValue: JSONValue {
    .object([("holder", .string(holder)), ("since", .string(since)), ("pid", .int(Int64(pid)))])
  }

  /// What the lease file holds: the object above and the holder's start time.
  var fileValue: JSONValue {
    .object([
      ("holder", .string(holder)), ("since", .string(since)), ("pid", .int(Int64(pid))),
      ("pid_start", pidStart.map { JSONValue.int(Int64(clamping: $0)) } ?? .null),
    ])
  }

  /// Whether the holder still runs: its pid exists and, when the file names it, with the
  /// same start time (otherwise the pid was reused and the lease is stale).
  var holderAlive: Bool {
    guard LeaseStore.processAlive(pid) else { return false }
    guard let pidStart else { return true }
    return ProcPlane.readStat(pid: pid)?.startTime == pidStart
  }
}

public struct LeaseStore: Sendable {
  public let runDir: String

  public init(runDir: String) { self.runDir = runDir }

  public func path(agent: String) -> String { "\(runDir)/\(agent).lease" }

  /// The live lease on `agent`, or nil (none, unreadable, or its holder is gone).
  /// `present`: the run directory's names, as for `HeartbeatStore.read`.
  public func read(agent: String, present: Set<String>? = nil) -> Lease? {
    if let present, !present.contains("\(agent).lease") { return nil }
    guard case .success(let bytes) = Files.readTrusted(path(agent: agent), limit: 4096),
      let json = try? JSONCodec.decode(bytes),
      let holder = json["holder"]?.stringValue, let since = json["since"]?.stringValue,
      let pid = json["pid"]?.intValue, pid > 0, pid <= Int64(Int32.max)
    else { return nil }
    let start = json["pid_start"]?.intValue.flatMap { $0 > 0 ? UInt64($0) : nil }
    var lease = Lease(holder: holder, since: since, pid: Int32(pid), pidStart: start)
    if start == nil { lease.pidStart = nil }  // an older file: the pid alone decides
    return lease.holderAlive ? lease : nil
  }

  /// Takes the lease for `lease.pid`; fails if another live holder has it.
  ///
  /// Atomic: the lease is written to a temporary file and `link(2)`ed to its name, which
  /// fails if the name exists, so of two attaches started at the same moment exactly one
  /// wins. A lease file whose holder is gone (or unreadable) is removed and the link
  /// retried once.
  public func acquire(agent: String, _ lease: Lease) throws(FileError) {
    let target = path(agent: agent)
    let temp = "\(runDir)/.\(agent).lease.\(getpid())"
    try Files.writeAtomically(temp, JSONCodec.encode(lease.fileValue) + "\n")
    defer { unlink(temp) }
    for attempt in 0..<2 {
      if link(temp, target) == 0 { return }
      guard errno == EEXIST else {
        throw FileError("\(target): cannot take the lease: \(String(cString: strerror(errno)))")
      }
      if let current = read(agent: agent) {
        if current.pid == lease.pid {
          try Files.writeAtomically(target, JSONCodec.encode(lease.fileValue) + "\n")
          return
        }
        throw FileError("\(agent) is already leased by \(current.holder) since \(current.since)")
      }
      // A stale lease (its holder is gone): drop it and try once more.
      if attempt == 0 { unlink(target) }
    }
    throw FileError("\(agent): another process took the lease at the same moment")
  }

  /// Drops the lease if `pid` holds it (or it is stale).
  public func release(agent: String, pid: Int32) {
    if let current = read(agent: agent), current.pid != pid { return }
    unlink(path(agent: agent))
  }

  /// Whether a process exists (signal 0; EPERM still means it exists).
  public static func processAlive(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
  }
}
