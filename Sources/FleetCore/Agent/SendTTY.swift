import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The pane's terminal, looked at without touching its input.
public enum SendTTY {
  /// How many bytes wait unread on the terminal `path` (`#{pane_tty}`): opens it with
  /// `O_RDONLY|O_NOCTTY|O_NONBLOCK`, asks `ioctl(FIONREAD)`, closes it. Nothing is read or
  /// consumed, and the terminal never becomes ours. In canonical (cooked) mode only
  /// complete lines count. nil when it is not a character device under /dev or cannot be
  /// opened.
  public static func unreadBytes(_ path: String) -> Int? {
    guard path.hasPrefix("/dev/") else { return nil }
    let fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFCHR else { return nil }
    var count: Int32 = 0
    guard ioctl(fd, UInt(FIONREAD), &count) == 0 else { return nil }
    return Int(count)
  }
}
