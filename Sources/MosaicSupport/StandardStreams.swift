// `@preconcurrency`: this file reads C's `stdout`/`stderr` globals (to ask stdio whether a
// write failed), which Swift 6 otherwise refuses; it only reads them, at start and exit.
@preconcurrency import Glibc

/// Output is never lost silently (SPEC 3): a failed write to stdout or stderr turns a
/// successful exit into a failing one, with one line on stderr when stdout failed.
extension Console {
  nonisolated(unsafe) private static var stdoutClosedAtStart = false
  nonisolated(unsafe) private static var stdoutErrno: Int32 = 0
  nonisolated(unsafe) private static var stderrFailed = false
  nonisolated(unsafe) private static var finished = false

  /// Call first thing in `main`. A standard descriptor that is closed (`>&-`) is filled
  /// (stdin with /dev/null, stdout and stderr with /dev/full, whose writes fail), so no file
  /// mosaic opens later becomes fd 1 and receives its output; and an exit handler makes an
  /// `exit()` from anywhere (Lua's `os.exit`) report lost output too.
  public static func guardStandardStreams() {
    for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
      let got = open(fd == 0 ? "/dev/null" : "/dev/full", fd == 0 ? O_RDONLY : O_WRONLY)
      if got >= 0, got != fd {
        dup2(got, fd)
        close(got)
      }
      if fd == 1 { stdoutClosedAtStart = true }
      if fd == 2 { stderrFailed = true }
    }
    atexit { Console.finishAtExit() }
  }

  /// Remembers why a flush of stdout failed (the first reason wins; 0 is no failure).
  static func noteStdoutFailure(_ error: Int32) {
    if error != 0, stdoutErrno == 0, ferror(stdout) != 0 { stdoutErrno = error }
  }

  static func noteStderrFailure() { stderrFailed = true }

  /// Flushes stdout and returns the exit status to use: `status`, or 1 when it was 0 and a
  /// write to stdout failed (said on stderr in one line, `mosaic: stdout: write failed: ...`)
  /// or a write to stderr failed (nothing can be said then). A pipe whose reader left
  /// (EPIPE) ends quietly with 141, as a program killed by SIGPIPE would.
  public static func finish(_ status: Int32) -> Int32 {
    if finished { return status }
    finished = true
    noteStdoutFailure(fflush(stdout) != 0 ? errno : 0)
    if ferror(stderr) != 0 { stderrFailed = true }
    guard ferror(stdout) != 0 else { return stderrFailed && status == 0 ? 1 : status }
    if stdoutErrno == EPIPE || readerGone() { return status != 0 ? status : 128 + SIGPIPE }
    let why =
      stdoutClosedAtStart
      ? ": stdout is closed" : stdoutErrno != 0 ? ": " + String(cString: strerror(stdoutErrno)) : ""
    error("mosaic: stdout: write failed\(why)\n")
    return status != 0 ? status : 1
  }

  /// Whether stdout is a pipe nobody reads any more.
  private static func readerGone() -> Bool {
    var st = stat()
    guard fstat(1, &st) == 0, st.st_mode & S_IFMT == S_IFIFO else { return false }
    var p = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
    return poll(&p, 1, 0) == 1 && p.revents & Int16(POLLERR) != 0
  }

  private static func finishAtExit() {
    let status = finish(0)
    if status != 0 { _exit(status) }
  }
}
