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
///
/// Size-bounded: a record that would take the file past `maxBytes` first rotates it
/// (`audit.log` → `audit.log.1` → ... → `audit.log.<keep>`, the oldest dropped), so the log
/// never grows without bound and no logrotate set-up is needed. Rotation happens under an
/// exclusive `flock` on the file being rotated, and only if that file is still the one at
/// `path`, so concurrent writers rotate once; a writer that still holds the old file
/// appends to `audit.log.1`, where its record is kept. No record is ever lost or split.
public struct AuditLog: Sendable {
  public let directory: String
  public var path: String { directory + "/audit.log" }
  /// The size past which the log is rotated (default 1 MiB: thousands of takeovers).
  public var maxBytes: Int
  /// How many rotated files to keep (`audit.log.1` ... `audit.log.<keep>`), at least 1.
  public var keep: Int

  public init(stateDir: String, maxBytes: Int = 1 << 20, keep: Int = 3) {
    directory = stateDir
    self.maxBytes = max(1, maxBytes)
    self.keep = max(1, keep)
  }

  /// Appends `record` as one line.
  public func append(_ record: JSONValue) throws(FileError) {
    try Files.ensurePrivateDirectory(directory)
    let line = Array((JSONCodec.encode(record) + "\n").utf8)
    // A rotation by another writer between open and lock means the file to use is new:
    // open again (a bounded number of times; the last attempt appends whatever it holds).
    for attempt in 0..<3 {
      let (fd, size, inode) = try openChecked()
      defer { close(fd) }
      if attempt < 2, size > 0, size + line.count > maxBytes {
        try rotate(fd: fd, inode: inode)
        continue
      }
      let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      guard n == line.count else {
        let why = n < 0 ? String(cString: strerror(errno)) : "short write"
        throw FileError("\(path): cannot append: \(why)")
      }
      return
    }
  }

  /// Opens the log for appending and checks it: fd, size, (device, inode).
  private func openChecked() throws(FileError) -> (Int32, Int, (UInt, UInt)) {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw FileError("\(path): cannot open: \(String(cString: strerror(errno)))")
    }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
      close(fd)
      throw FileError("\(path): not a regular file")
    }
    guard st.st_uid == geteuid() else {
      close(fd)
      throw FileError("\(path): owned by uid \(st.st_uid), not by this user")
    }
    guard st.st_mode & 0o022 == 0 else {
      close(fd)
      throw FileError(
        "\(path): group or world writable (mode \(String(st.st_mode & 0o777, radix: 8)))")
    }
    return (fd, Int(st.st_size), (UInt(st.st_dev), UInt(st.st_ino)))
  }

  /// Shifts the rotated files up by one and moves the log to `.1`, unless another writer
  /// did so already (the file at `path` is no longer the one `fd` holds).
  private func rotate(fd: Int32, inode: (UInt, UInt)) throws(FileError) {
    guard flock(fd, LOCK_EX) == 0 else {
      throw FileError("\(path): cannot lock: \(String(cString: strerror(errno)))")
    }
    defer { _ = flock(fd, LOCK_UN) }
    var current = stat()
    guard lstat(path, &current) == 0, UInt(current.st_dev) == inode.0,
      UInt(current.st_ino) == inode.1
    else { return }
    for i in stride(from: keep - 1, through: 1, by: -1) {
      let from = "\(path).\(i)"
      if access(from, F_OK) == 0, rename(from, "\(path).\(i + 1)") != 0 {
        throw FileError("\(from): cannot rotate: \(String(cString: strerror(errno)))")
      }
    }
    guard rename(path, path + ".1") == 0 else {
      throw FileError("\(path): cannot rotate: \(String(cString: strerror(errno)))")
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
