import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Named single-instance locks for scripts and commands: `mosaic.lock(name [, {wait=}])`.
///
/// A lock is an exclusive `flock(2)` on `<run>/<name>.lock` (the run directory private, as
/// `Files.ensurePrivateDirectory` makes it; the file 0600, opened with `O_NOFOLLOW`). The
/// descriptor is `O_CLOEXEC`, so programs a script starts never inherit the lock, and the
/// kernel drops it when the holder exits however it exits (crash, `kill -9`, time limit):
/// a lock never outlives its process and needs no clean-up. The file stays (removing a
/// lock file races with the next taker) and holds the last holder's pid, which is what a
/// refused taker reports. `flock` rather than `fcntl` locks, because `fcntl` locks belong
/// to the process and vanish when it closes *any* descriptor of the file.
///
/// Two takes of one name conflict even in one process (each take opens the file anew),
/// so a script cannot lock itself out by accident without being told so. The Lua handle
/// is not released by the garbage collector (a dropped handle keeps its lock until
/// `release`, a `<close>` variable, the runtime's end or the process's end).
///
/// Raw primitives (the friendly handle is `lua/mosaic/init.lua`):
/// - `lock_acquire(name, {wait=seconds})` → `fd, path` | `nil, message, code [, pid]`, code
///   `held` (another process holds it; pid: the holder, when it wrote itself down),
///   `held-by-self` (this process holds it already) or `lock-failed`. Waits up to
///   `wait` seconds (default 0: try once), polling every 20 ms, stopping early with the
///   chunk's own error when Ctrl-C or a time limit stops the script.
/// - `lock_release(fd)` → whether `fd` was a lock this state held (now released).
final class HeldLocks {
  var fds: Set<Int32> = []

  deinit {
    for fd in fds { close(fd) }
  }
}

/// Lock names: what agent names allow (no `.`, so a lock never collides with the files
/// mosaic keeps per agent, such as `<agent>.send.lock`, and no `/`).
func isValidLockName(_ name: String) -> Bool {
  let b = Array(name.utf8)
  guard (1...64).contains(b.count) else { return false }
  func alnum(_ c: UInt8) -> Bool {
    (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
  }
  return alnum(b[0]) && b.dropFirst().allSatisfy { alnum($0) || $0 == 0x2D || $0 == 0x5F }
}

extension LuaRuntime {
  func lockFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    let held = HeldLocks()
    return [
      (
        "lock_acquire",
        { call throws(LuaCallError) in
          let name = try call.strictString(1)
          guard isValidLockName(name) else {
            throw .argument(
              1,
              "lock name expected: 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
            )
          }
          let o = try call.options(2, known: ["wait"])
          var wait = 0.0
          if let w = o["wait"] {
            guard let d = w.doubleValue, d >= 0, !d.isNaN else {
              throw .argument(2, "wait: non-negative number of seconds expected")
            }
            wait = min(d, 24 * 86_400)
          }
          if let failure = catching({ () throws(FileError) in
            try Files.ensurePrivateDirectory(paths.run)
          }) {
            return lockFailure(call, "lock \(name): \(failure.message)", code: "lock-failed")
          }
          let path = paths.run + "/" + name + ".lock"
          switch try takeLock(path: path, name: name, wait: wait, call: call) {
          case .failure(let message, let code, let holder):
            return lockFailure(call, message, code: code, holder: holder)
          case .success(let fd):
            held.fds.insert(fd)
            call.push(Int64(fd))
            call.push(path)
            return 2
          }
        }
      ),
      (
        "lock_release",
        { call throws(LuaCallError) in
          let value = try call.integer(1)
          guard let fd = Int32(exactly: value), held.fds.remove(fd) != nil else {
            call.push(false)
            return 1
          }
          close(fd)
          call.push(true)
          return 1
        }
      ),
    ]
  }
}

private enum LockOutcome {
  case success(Int32)
  /// The message, its code (`held`: another holder; `lock-failed`: the file), the
  /// holder's pid when known.
  case failure(String, code: String = "lock-failed", holder: Int32? = nil)
}

/// `nil, message, code[, holder pid]`: the refusal as data, so no caller reads the pid
/// out of the message.
private func lockFailure(_ call: LuaCall, _ message: String, code: String, holder: Int32? = nil)
  -> Int32
{
  call.pushNil()
  call.push(message)
  call.push(code)
  guard let holder else { return 3 }
  call.push(Int64(holder))
  return 4
}

private func takeLock(path: String, name: String, wait: Double, call: LuaCall)
  throws(LuaCallError) -> LockOutcome
{
  let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
  guard fd >= 0 else {
    return .failure("lock \(name): \(path): \(String(cString: strerror(errno)))")
  }
  var st = stat()
  guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid() else {
    close(fd)
    return .failure("lock \(name): \(path): not a regular file owned by this user")
  }
  let deadline = Clock.monotonic() + wait
  while true {
    if flock(fd, LOCK_EX | LOCK_NB) == 0 {
      // Record the holder for whoever is refused next (best effort).
      let text = Array("\(getpid())\n".utf8)
      _ = ftruncate(fd, 0)
      _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
      return .success(fd)
    }
    let why = errno
    if why != EWOULDBLOCK, why != EINTR {
      close(fd)
      return .failure("lock \(name): \(path): \(String(cString: strerror(why)))")
    }
    if let message = call.abortMessage {
      close(fd)
      throw .raw(message)
    }
    let left = deadline - Clock.monotonic()
    if left <= 0 {
      let holder = holderPid(fd)
      close(fd)
      var message: String
      var code = "held"
      if let holder, holder == getpid() {
        message = "lock '\(name)' is already held by this process (pid \(holder))"
        code = "held-by-self"
      } else if let holder {
        message = "lock '\(name)' is held by pid \(holder)"
      } else {
        message = "lock '\(name)' is held by another process"
      }
      if wait > 0 { message += " (waited \(MosaicCLI.formatSeconds(wait)))" }
      return .failure(message, code: code, holder: code == "held" ? holder : nil)
    }
    Clock.sleep(min(left, 0.02))
  }
}

/// The pid the holder wrote into the lock file, if it did.
private func holderPid(_ fd: Int32) -> Int32? {
  var buf = [UInt8](repeating: 0, count: 32)
  let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
  guard n > 0 else { return nil }
  let text = String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n").first ?? ""
  guard let pid = Int32(text), pid > 0 else { return nil }
  return pid
}
