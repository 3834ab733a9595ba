import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Why the per-agent send lock could not be taken.
public struct SendLockError: Error, Sendable, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

/// The per-agent send lock, `<run>/<agent>.send.lock`: an exclusive `flock` on the file,
/// held from before the pre-checks until the verdict, so concurrent sends to one agent run
/// one after the other and their texts are never interleaved. The kernel drops it when
/// the holder exits, however it exits, so a crashed send never leaves it stuck.
public final class SendLock {
  private var fd: Int32
  public let path: String

  private init(fd: Int32, path: String) {
    self.fd = fd
    self.path = path
  }

  deinit { release() }

  /// Takes the lock, waiting up to `wait` seconds (polling every 10 ms) for a holder to
  /// finish. The file is created 0600; a symlink is refused (O_NOFOLLOW).
  public static func acquire(path: String, wait: Double) -> Result<SendLock, SendLockError> {
    let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      return .failure(
        SendLockError(
          message: "\(path): cannot open the send lock: \(String(cString: strerror(errno)))"))
    }
    let deadline = Clock.monotonic() + max(0, wait)
    while true {
      if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .success(SendLock(fd: fd, path: path)) }
      let why = errno
      if why != EWOULDBLOCK, why != EINTR {
        close(fd)
        return .failure(
          SendLockError(message: "\(path): cannot lock: \(String(cString: strerror(why)))"))
      }
      if Clock.monotonic() >= deadline {
        close(fd)
        return .failure(
          SendLockError(
            message:
              "another send to this agent is still in progress (waited \(TmuxClient.seconds(wait)) s for \(path))"
          ))
      }
      Clock.sleep(0.01)
    }
  }

  /// Drops the lock (also done when the value goes away).
  public func release() {
    guard fd >= 0 else { return }
    close(fd)
    fd = -1
  }
}
