import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Finds the running `systemd --user` manager and reads its environment, in-process.
///
/// The manager answers `is-enabled` with lookup paths built from its own environment
/// (`$HOME`, `$XDG_CONFIG_HOME`, `$XDG_DATA_DIRS`, ...), which need not equal ours (a desktop
/// session adds XDG directories the manager never saw). The manager owns its private bus socket
/// `$XDG_RUNTIME_DIR/systemd/private`; connecting to it and asking the kernel for the peer's
/// credentials (`SO_PEERCRED`) names the manager's pid without a spawn, and
/// `/proc/<pid>/environ` holds the environment it was started with. The connection is closed at
/// once, before any D-Bus authentication, which the manager treats as any client that left.
enum UserManagerProcess {
  /// The manager's environment, or nil when the manager or its environment cannot be read.
  static func environment(runtimeDirectory: String) -> [String: String]? {
    guard
      let pid = ProcPlane.listenerPID(
        socketPath: PathText.join(runtimeDirectory, "systemd/private"))
    else { return nil }
    guard case .success(let bytes) = readProcFile("/proc/\(pid)/environ") else { return nil }
    var env: [String: String] = [:]
    for entry in bytes.split(separator: 0) {
      guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
      let key = String(decoding: entry[entry.startIndex..<eq], as: UTF8.self)
      let value = String(decoding: entry[(eq + 1)...], as: UTF8.self)
      if env[key] == nil { env[key] = value }
    }
    return env
  }

  /// The major version of the systemd running as the user manager (252 for Debian 12's
  /// 252.x), or nil when it cannot be told.
  ///
  /// Read without a spawn: the manager maps systemd's shared library, whose file name carries
  /// the version (`libsystemd-shared-252.so`; other distributions add the rest of the version,
  /// `libsystemd-shared-255.4-1.so`), so one read of `/proc/<pid>/maps` (about 16 KB) names
  /// it. `systemctl --user --version` would cost a process and tell systemctl's version, not
  /// the manager's. A systemd built without that shared library gives nil. The answer is kept
  /// per manager pid for the life of this process.
  static func systemdVersion(runtimeDirectory: String) -> Int? {
    guard
      let pid = ProcPlane.listenerPID(
        socketPath: PathText.join(runtimeDirectory, "systemd/private"))
    else { return nil }
    if let known = versionCache.withLock({ $0[pid] }) { return known }
    guard case .success(let maps) = readProcFile("/proc/\(pid)/maps") else { return nil }
    let version = systemdVersion(maps: maps)
    if let version { versionCache.withLock { $0[pid] = version } }
    return version
  }

  private static let versionCache = Mutex<[pid_t: Int]>([:])

  /// The version in the first `libsystemd-shared-<digits>` of a maps file.
  static func systemdVersion(maps: [UInt8]) -> Int? {
    let needle = Array("/libsystemd-shared-".utf8)
    return maps.withUnsafeBufferPointer { bytes -> Int? in
      guard bytes.count >= needle.count else { return nil }
      var i = 0
      search: while i + needle.count <= bytes.count {
        // Only a path's start can match: skip to the next '/'.
        guard bytes[i] == 0x2F else {
          i += 1
          continue
        }
        for k in 1..<needle.count where bytes[i + k] != needle[k] {
          i += 1
          continue search
        }
        var j = i + needle.count
        var value = 0
        while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39, value < 100_000 {
          value = value * 10 + Int(bytes[j] - 0x30)
          j += 1
        }
        return j > i + needle.count ? value : nil
      }
      return nil
    }
  }

  /// Reads a /proc file (their size in stat is 0, so read until EOF), at most 1 MiB.
  static func readProcFile(_ path: String) -> Result<[UInt8], SystemdError> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .failure(SystemdError("\(path): cannot open")) }
    defer { close(fd) }
    return readAll(fd, limit: 1 << 20)
  }

  /// Reads `fd` to its end; more than `limit` bytes is an error.
  static func readAll(_ fd: Int32, limit: Int) -> Result<[UInt8], SystemdError> {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 16384)
    while out.count <= limit {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0, errno == EINTR { continue }
      if n < 0 { return .failure(SystemdError("read failed: \(String(cString: strerror(errno)))")) }
      if n == 0 { return .success(out) }
      out.append(contentsOf: buf[0..<n])
    }
    return .failure(SystemdError("larger than \(limit) bytes"))
  }
}
