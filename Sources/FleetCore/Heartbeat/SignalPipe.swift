// Signals turned into bytes on a self-pipe, for poll()-driven loops (the heartbeat wrapper,
// the stub agent). The handler only writes one byte; everything else happens in the loop.
#if canImport(Glibc)
  import Glibc
#endif

/// Write end of the active self-pipe (-1 when none); read by the handler.
nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1
/// A signal sent by this pid is marked as not to be forwarded (the wrapped child signalling
/// its own process group, which already includes it).
nonisolated(unsafe) private var signalPipeQuietPID: pid_t = 0

/// The handler: one byte, the signal number, with bit 7 set when the kernel sent the signal
/// (the terminal's Ctrl-C or hangup, which reaches the whole foreground process group) or
/// when `signalPipeQuietPID` sent it. Async-signal-safe: write(2) only, errno preserved.
private func signalPipeHandler(
  _ signo: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?
) {
  let saved = errno
  var byte = UInt8(truncatingIfNeeded: signo & 0x7F)
  if let info {
    let code = info.pointee.si_code
    if code == 0x80 /* SI_KERNEL */ { byte |= 0x80 }
    if code <= 0, signalPipeQuietPID != 0,
      info.pointee._sifields._kill.si_pid == signalPipeQuietPID
    {
      byte |= 0x80
    }
  }
  if signalPipeWriteFD >= 0 { _ = write(signalPipeWriteFD, &byte, 1) }
  errno = saved
}

/// One signal delivered to the process.
struct CaughtSignal: Equatable {
  var signo: Int32
  /// Sent by someone other than the kernel (terminal) or the quiet pid: worth forwarding.
  var external: Bool
}

/// While installed, the given signals no longer take their default action; each one
/// becomes a byte on `readFD` (poll it, then `drain()`). One per process at a time;
/// `uninstall()` restores the previous handlers.
final class SignalPipe {
  let readFD: Int32
  private let writeFD: Int32
  private var saved: [(Int32, sigaction)] = []

  /// nil if another SignalPipe is active or no pipe could be made.
  static func install(_ signals: [Int32]) -> SignalPipe? {
    guard signalPipeWriteFD < 0 else { return nil }
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return nil }
    for fd in fds {
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    let sp = SignalPipe(readFD: fds[0], writeFD: fds[1])
    signalPipeWriteFD = fds[1]
    for s in signals {
      var action = sigaction()
      action.__sigaction_handler = .init(sa_sigaction: signalPipeHandler)
      sigemptyset(&action.sa_mask)
      action.sa_flags = SA_SIGINFO | SA_RESTART | (s == SIGCHLD ? SA_NOCLDSTOP : 0)
      var old = sigaction()
      if sigaction(s, &action, &old) == 0 { sp.saved.append((s, old)) }
    }
    return sp
  }

  private init(readFD: Int32, writeFD: Int32) {
    self.readFD = readFD
    self.writeFD = writeFD
  }

  /// Signals from this pid are not `external` (see `CaughtSignal`).
  func setQuietPID(_ pid: pid_t) { signalPipeQuietPID = pid }

  /// The signals caught since the last call, in order.
  func drain() -> [CaughtSignal] {
    var out: [CaughtSignal] = []
    var buf = [UInt8](repeating: 0, count: 64)
    while true {
      let n = buf.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
      if n <= 0 {
        if n < 0, errno == EINTR { continue }
        break
      }
      for b in buf[0..<n] {
        out.append(CaughtSignal(signo: Int32(b & 0x7F), external: b & 0x80 == 0))
      }
    }
    return out
  }

  func uninstall() {
    for (s, old) in saved.reversed() {
      var o = old
      sigaction(s, &o, nil)
    }
    saved = []
    signalPipeWriteFD = -1
    signalPipeQuietPID = 0
    close(readFD)
    close(writeFD)
  }
}
