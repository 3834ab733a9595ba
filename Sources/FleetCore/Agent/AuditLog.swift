import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The operator audit log, `<state>/audit.log` (SPEC 2.1, 2.6): one JSON object per line,
/// appended, never rewritten. `agent attach` writes an `attach` record before it attaches a
/// client and a `detach` record after.
///
/// Each record is written with one `write(2)` on a descriptor opened `O_APPEND`, so records
/// of concurrent writers never interleave. The file is created with mode 0600 in a private
/// state directory (0700), opened without following symlinks, and refused when it is not a
/// regular file of this user or others may write to it.
public struct AuditLog: Sendable {
  public let directory: String
  public var path: String { directory + "/audit.log" }

  public init(stateDir: String) { directory = stateDir }

  /// Appends `record` as one line.
  public func append(_ record: JSONValue) throws(FileError) {
    try Files.ensurePrivateDirectory(directory)
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw FileError("\(path): cannot open: \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
      throw FileError("\(path): not a regular file")
    }
    guard st.st_uid == geteuid() else {
      throw FileError("\(path): owned by uid \(st.st_uid), not by this user")
    }
    guard st.st_mode & 0o022 == 0 else {
      throw FileError(
        "\(path): group or world writable (mode \(String(st.st_mode & 0o777, radix: 8)))")
    }
    let line = Array((JSONCodec.encode(record) + "\n").utf8)
    let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard n == line.count else {
      let why = n < 0 ? String(cString: strerror(errno)) : "short write"
      throw FileError("\(path): cannot append: \(why)")
    }
  }

  /// Who runs this process: the user name (from the password database, else the uid).
  public static func userName() -> String {
    if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name {
      return String(cString: name)
    }
    return String(geteuid())
  }

  /// The controlling terminal of standard input (`/dev/pts/3`), if it is one.
  public static func terminalName(_ fd: Int32 = 0) -> String? {
    guard isatty(fd) == 1, let p = ttyname(fd) else { return nil }
    return String(cString: p)
  }
}
