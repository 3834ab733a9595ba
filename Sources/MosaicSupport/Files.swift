#if canImport(Glibc)
  import Glibc
#endif

/// A file operation failed; `message` is one line for humans (`<path>: <why>`).
public struct FileError: Error, CustomStringConvertible, Sendable {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

public enum Files {
  private static func why() -> String { String(cString: strerror(errno)) }

  /// Replaces `path` atomically: writes a temp file in the same directory with `mode`,
  /// fsyncs it, then renames it over `path`. Readers see the old or the new file, never
  /// a half-written one.
  public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600)
    throws(FileError)
  {
    let dir = dirname(path)
    let base = basename(path)
    var template = Array("\(dir)/.\(base).tmp-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw FileError("\(path): cannot create a temporary file: \(why())") }
    let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    var ok = fchmod(fd, mode) == 0
    var off = 0
    while ok, off < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
      if n < 0 {
        if errno == EINTR { continue }
        ok = false
      } else {
        off += n
      }
    }
    let reason = ok ? "" : why()
    if ok { _ = fsync(fd) }
    close(fd)
    guard ok else {
      unlink(tmp)
      throw FileError("\(path): write failed: \(reason)")
    }
    guard rename(tmp, path) == 0 else {
      let r = why()
      unlink(tmp)
      throw FileError("\(path): cannot replace: \(r)")
    }
  }

  public static func writeAtomically(_ path: String, _ text: String, mode: mode_t = 0o600)
    throws(FileError)
  {
    try writeAtomically(path, Array(text.utf8), mode: mode)
  }

  /// Reads a whole file (up to `limit` bytes; more is an error).
  public static func read(_ path: String, limit: Int = 64 << 20) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError("\(path): \(why())") }
    defer { close(fd) }
    return try readFD(fd, path: path, limit: limit)
  }

  static func readFD(_ fd: Int32, path: String, limit: Int, sizeHint: Int = 0) throws(FileError)
    -> [UInt8]
  {
    // A regular file whose size fstat told is read into one buffer of that size (one more
    // byte sees the end): a fleet's small files are read a thousand at a time.
    if sizeHint > 0, sizeHint < min(limit, 1 << 20) {
      var out = [UInt8](repeating: 0, count: sizeHint + 1)
      var used = 0
      while used < out.count {
        let n = out.withUnsafeMutableBytes {
          Glibc.read(fd, $0.baseAddress! + used, $0.count - used)
        }
        if n < 0 {
          if errno == EINTR { continue }
          throw FileError("\(path): \(why())")
        }
        if n == 0 { break }
        used += n
      }
      if used <= sizeHint {
        out.removeLast(out.count - used)
        return out
      }
      // It grew since fstat: read on from here.
      var rest = try readFD(fd, path: path, limit: limit)
      rest.insert(contentsOf: out, at: 0)
      if rest.count > limit { throw FileError("\(path): larger than \(limit) bytes") }
      return rest
    }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 16384)
    while true {
      let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw FileError("\(path): \(why())")
      }
      if n == 0 { break }
      out.append(contentsOf: buf[0..<n])
      if out.count > limit { throw FileError("\(path): larger than \(limit) bytes") }
    }
    return out
  }

  public static func readText(_ path: String) throws(FileError) -> String {
    String(decoding: try read(path), as: UTF8.self)
  }

  /// Why a file may not be trusted, or nil when it may.
  public enum Distrust: Error, Equatable, Sendable {
    case missing
    case symlink
    case notRegular
    case otherOwner(uid_t)
    case writableByOthers(mode_t)
    case tooLarge(Int)
    case unreadable(String)

    public var reason: String {
      switch self {
      case .missing: return "missing"
      case .symlink: return "is a symlink"
      case .notRegular: return "not a regular file"
      case .otherOwner(let uid): return "owned by uid \(uid), not by this user"
      case .writableByOthers(let m): return "group or world writable (mode \(String(m, radix: 8)))"
      case .tooLarge(let n): return "larger than \(n) bytes"
      case .unreadable(let why): return "unreadable: \(why)"
      }
    }
  }

  /// Who may own a trusted file, and whether a symlink to one is followed.
  public struct TrustPolicy: Sendable, Equatable {
    /// A symlink is followed (the file it names is checked) instead of refused.
    public var followSymlinks: Bool
    /// Files owned by root are trusted as well as the user's own.
    public var rootMayOwn: Bool

    public init(followSymlinks: Bool, rootMayOwn: Bool) {
      self.followSymlinks = followSymlinks
      self.rootMayOwn = rootMayOwn
    }

    /// Files in `<run>` that other processes write (heartbeats, probes, leases): the user's
    /// own, never through a symlink.
    public static let data = TrustPolicy(followSymlinks: false, rootMayOwn: false)
    /// Files mosaic runs as code (roster, `<config>/init.lua`, `<config>/commands/**`,
    /// `<config>/lua/**`; SPEC 2.2): the user's or root's, symlinks followed to the file.
    public static let code = TrustPolicy(followSymlinks: true, rootMayOwn: true)
  }

  /// The one trust check, on an open file: a regular file, owned by this user (or root
  /// when `policy` allows), not group- or world-writable, at most `limit` bytes.
  public static func distrust(_ st: stat, limit: Int, policy: TrustPolicy) -> Distrust? {
    guard st.st_mode & S_IFMT == S_IFREG else { return .notRegular }
    let uid = geteuid()
    guard st.st_uid == uid || (policy.rootMayOwn && st.st_uid == 0) else {
      return .otherOwner(st.st_uid)
    }
    guard st.st_mode & 0o022 == 0 else { return .writableByOthers(st.st_mode & 0o777) }
    guard st.st_size <= limit else { return .tooLarge(limit) }
    return nil
  }

  /// Reads a small file that other processes write, refusing anything that could be a
  /// trick: a symlink, a non-regular file, another owner, group/world-writable, or more
  /// than `limit` bytes. Opens with O_NOFOLLOW and O_NONBLOCK (a FIFO cannot block) and
  /// checks the opened file (no race).
  public static func readTrusted(_ path: String, limit: Int, policy: TrustPolicy = .data)
    -> Result<[UInt8], Distrust>
  {
    let nofollow = policy.followSymlinks ? 0 : O_NOFOLLOW
    let fd = open(path, O_RDONLY | nofollow | O_NONBLOCK | O_CLOEXEC)
    if fd < 0 {
      switch errno {
      case ENOENT, ENOTDIR: return .failure(.missing)
      case ELOOP: return .failure(policy.followSymlinks ? .unreadable(why()) : .symlink)
      default: return .failure(.unreadable(why()))
      }
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { return .failure(.unreadable(why())) }
    if let refused = distrust(st, limit: limit, policy: policy) { return .failure(refused) }
    do {
      let bytes = try readFD(fd, path: path, limit: limit, sizeHint: Int(st.st_size))
      return .success(bytes)
    } catch {
      // The file grew past the limit since fstat, or reading it failed.
      return .failure(
        error.message.hasSuffix("larger than \(limit) bytes")
          ? .tooLarge(limit) : .unreadable(error.message))
    }
  }

  /// Reads a file mosaic runs as code (SPEC 2.2), with the same check as `<run>`'s files
  /// (`readTrusted`) but following symlinks and trusting root's files too.
  public static func readCode(_ path: String, limit: Int = 16 << 20) -> Result<[UInt8], Distrust> {
    readTrusted(path, limit: limit, policy: .code)
  }

  /// The one-line refusal for a code file: `<path>: refusing to run it: <why>`, with the
  /// fix where there is one.
  public static func refusal(_ path: String, _ d: Distrust) -> String {
    switch d {
    case .missing: return "\(path): No such file or directory"
    case .unreadable(let why): return "\(path): \(why)"
    case .writableByOthers:
      return "\(path): refusing to run it: \(d.reason); run: chmod go-w \(path)"
    default: return "\(path): refusing to run it: \(d.reason)"
    }
  }

  /// Creates `path` (and parents) as a private directory (mode 0700) if missing, then
  /// refuses it if it is a symlink, not a directory, not owned by this user, or
  /// group/world-writable (SPEC 2.1).
  public static func ensurePrivateDirectory(_ path: String) throws(FileError) {
    try makeDirectories(path, mode: 0o700)
    var st = stat()
    guard lstat(path, &st) == 0 else { throw FileError("\(path): \(why())") }
    if st.st_mode & S_IFMT == S_IFLNK {
      throw FileError("\(path): refusing a run directory that is a symlink")
    }
    guard st.st_mode & S_IFMT == S_IFDIR else { throw FileError("\(path): not a directory") }
    guard st.st_uid == geteuid() else {
      throw FileError("\(path): owned by uid \(st.st_uid), not by this user")
    }
    guard st.st_mode & 0o022 == 0 else {
      throw FileError(
        "\(path): group or world writable (mode \(String(st.st_mode & 0o777, radix: 8))); "
          + "run: chmod 700 \(path)")
    }
  }

  /// `mkdir -p` with `mode` for the directories it creates.
  public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(FileError) {
    var st = stat()
    if stat(path, &st) == 0 { return }
    let parent = dirname(path)
    if parent != path, !parent.isEmpty { try makeDirectories(parent, mode: mode) }
    if mkdir(path, mode) != 0, errno != EEXIST {
      throw FileError("\(path): cannot create directory: \(why())")
    }
  }

  public static func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
  }

  public static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
  }

  /// Names in a directory (no `.` and `..`), sorted; empty if it cannot be read.
  public static func list(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
      let name = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != ".", name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  /// Names in a directory (no `.` and `..`), or nil if it cannot be read: one pass of
  /// `getdents` tells which of many files exist, where opening each missing one costs a
  /// path lookup of its own.
  public static func names(in path: String) -> Set<String>? {
    guard let d = opendir(path) else { return nil }
    defer { closedir(d) }
    var names = Set<String>()
    while let e = readdir(d) {
      let name = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != ".", name != ".." { names.insert(name) }
    }
    return names
  }

  public static func dirname(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
  }

  public static func basename(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
  }
}

/// What `stat` says of a file that changes whenever its content may have: device, inode,
/// size, and modification and status-change times to the nanosecond. Two equal identities
/// of one path mean the same, unchanged file (a rewrite, rename over it or `touch` changes
/// at least the change time).
public struct FileIdentity: Equatable, Sendable {
  let device: UInt64
  let inode: UInt64
  let size: Int64
  let modified: [Int]
  let changed: [Int]

  /// The identity of the file at `path` (symlinks followed), nil when it cannot be stat'ed.
  public init?(_ path: String) {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    device = UInt64(st.st_dev)
    inode = UInt64(st.st_ino)
    size = Int64(st.st_size)
    modified = [st.st_mtim.tv_sec, st.st_mtim.tv_nsec]
    changed = [st.st_ctim.tv_sec, st.st_ctim.tv_nsec]
  }
}
