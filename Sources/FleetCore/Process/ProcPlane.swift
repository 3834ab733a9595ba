import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The process plane: what really runs under a pane, read from `/proc` in-process (no
/// `ps`, no spawn). `procRoot` lets tests point it at a fake tree.
///
/// Cost: `read` and `foreground` open two or three small files.
/// `hasStoppedProcessInForeground` may scan every process on the machine (one `stat`
/// read each, about 1 to 3 ms for a few hundred processes); to answer it for many panes,
/// scan once with `stoppedProcessGroups` and pass the set along.
public enum ProcPlane {
  /// The process `pid`, or nil when it does not exist (or vanished while being read).
  public static func read(pid: Int32, procRoot: String = "/proc") -> ProcessSnapshot? {
    guard var snapshot = readStat(pid: pid, procRoot: procRoot) else { return nil }
    if let bytes = readFile("\(procRoot)/\(pid)/cmdline", limit: 256 * 1024) {
      snapshot.argv = parseCmdline(bytes)
    }
    return snapshot
  }

  /// The process `pid` from its `stat` file alone (`argv` left empty).
  public static func readStat(pid: Int32, procRoot: String = "/proc") -> ProcessSnapshot? {
    guard pid > 0, let bytes = readFile("\(procRoot)/\(pid)/stat", limit: 4096) else {
      return nil
    }
    return parseStat(bytes)
  }

  /// The program in the pane's foreground: the leader of the foreground process group of
  /// the pane's terminal (field 8, `tpgid`, of the pane process's stat). When there is no
  /// foreground group (`tpgid` <= 0) or its leader cannot be read (it exited while other
  /// members run on), the pane process itself. nil when the pane process cannot be read.
  ///
  /// `paneTTY` (`#{pane_tty}`), when given, guards against pid reuse: a dead pane keeps
  /// its old pid, so a process on another terminal is not the pane's, and gives nil.
  public static func foreground(
    ofPanePid panePid: Int32, paneTTY: String? = nil, procRoot: String = "/proc"
  ) -> ProcessSnapshot? {
    guard let pane = read(pid: panePid, procRoot: procRoot) else { return nil }
    if let paneTTY, let device = ttyDevice(paneTTY), pane.ttyNr != device { return nil }
    if pane.tpgid > 0, pane.tpgid != pane.pid,
      let leader = read(pid: pane.tpgid, procRoot: procRoot), leader.pgrp == pane.tpgid
    {
      return leader
    }
    return pane
  }

  /// Whether a process of the pane terminal's foreground process group is stopped
  /// (state `T`: Ctrl-Z, SIGSTOP, SIGTTIN/SIGTTOU), which means nobody reads what is sent
  /// to the pane. tmux continues a pane's direct child when it stops, but not a grandchild,
  /// so the group's members are all checked. Tracing stops (`t`, a debugger) do not count.
  /// nil when the pane process cannot be read.
  ///
  /// Checks the group leader first, then scans `/proc` unless `stoppedGroups` (from
  /// `stoppedProcessGroups`) is given.
  public static func hasStoppedProcessInForeground(
    ofPanePid panePid: Int32, procRoot: String = "/proc", stoppedGroups: Set<Int32>? = nil
  ) -> Bool? {
    guard let pane = readStat(pid: panePid, procRoot: procRoot) else { return nil }
    let group = pane.tpgid > 0 ? pane.tpgid : pane.pgrp
    if pane.pgrp == group, pane.isStopped { return true }
    if let stoppedGroups { return stoppedGroups.contains(group) }
    if let leader = readStat(pid: group, procRoot: procRoot), leader.pgrp == group,
      leader.isStopped
    {
      return true
    }
    return stoppedProcessGroups(procRoot: procRoot).contains(group)
  }

  /// What `fleet ps` needs of one pane in as few reads as it can: the foreground program
  /// (as `foreground`) and whether the foreground group is stopped, judged from the group
  /// leader, the pane process and their direct children (`/proc/<pid>/task/<pid>/children`)
  /// rather than a scan of every process: tmux continues a pane's direct child when it
  /// stops, so a stopped member sits one level down, as under `sh -c`. A stopped member
  /// deeper than that is not seen here (`hasStoppedProcessInForeground` scans for it).
  public static func foregroundState(
    ofPanePid panePid: Int32, paneTTY: String?, procRoot: String = "/proc"
  ) -> (process: ProcessSnapshot, stopped: Bool)? {
    guard let pane = readStat(pid: panePid, procRoot: procRoot) else { return nil }
    if let paneTTY, let device = ttyDevice(paneTTY), pane.ttyNr != device { return nil }
    var foreground = pane
    if pane.tpgid > 0, pane.tpgid != pane.pid,
      let leader = readStat(pid: pane.tpgid, procRoot: procRoot), leader.pgrp == pane.tpgid
    {
      foreground = leader
    }
    let group = pane.tpgid > 0 ? pane.tpgid : pane.pgrp
    var stopped = foreground.isStopped || (pane.pgrp == group && pane.isStopped)
    if !stopped {
      var parents = [pane.pid]
      if foreground.pid != pane.pid { parents.append(foreground.pid) }
      search: for parent in parents {
        guard let text = readFile("\(procRoot)/\(parent)/task/\(parent)/children", limit: 65536)
        else { continue }
        for word in text.split(separator: 0x20) {
          guard let pid = Int32(String(decoding: word, as: UTF8.self)),
            let child = readStat(pid: pid, procRoot: procRoot)
          else { continue }
          if child.pgrp == group, child.isStopped {
            stopped = true
            break search
          }
        }
      }
    }
    if let bytes = readFile("\(procRoot)/\(foreground.pid)/cmdline", limit: 256 * 1024) {
      foreground.argv = parseCmdline(bytes)
    }
    return (foreground, stopped)
  }

  /// The process groups that have a member in state `T`, from one scan of `/proc`.
  public static func stoppedProcessGroups(procRoot: String = "/proc") -> Set<Int32> {
    var groups = Set<Int32>()
    for pid in pids(procRoot: procRoot) {
      if let p = readStat(pid: pid, procRoot: procRoot), p.isStopped { groups.insert(p.pgrp) }
    }
    return groups
  }

  /// Every pid under `procRoot`, ascending.
  public static func pids(procRoot: String = "/proc") -> [Int32] {
    guard let dir = opendir(procRoot) else { return [] }
    defer { closedir(dir) }
    var result: [Int32] = []
    while let entry = readdir(dir) {
      let pid = withUnsafePointer(to: entry.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { name -> Int32? in
          guard name.pointee >= 0x31, name.pointee <= 0x39 else { return nil }
          return Int32(String(cString: name))
        }
      }
      if let pid { result.append(pid) }
    }
    return result.sorted()
  }

  // MARK: - Parsing

  /// Parses `/proc/<pid>/stat`: `pid (comm) state ppid pgrp session tty_nr tpgid ...`.
  /// `comm` may contain spaces and parentheses, so it ends at the LAST `)`.
  static func parseStat(_ bytes: [UInt8]) -> ProcessSnapshot? {
    // Byte-level: this runs for every pane on every `fleet ps`.
    guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
      let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close
    else { return nil }
    var pid: Int64 = 0
    var digits = 0
    for b in bytes[..<open] where b != UInt8(ascii: " ") {
      guard (0x30...0x39).contains(b) else { return nil }
      pid = pid * 10 + Int64(b - 0x30)
      digits += 1
    }
    guard digits > 0, pid <= Int64(Int32.max) else { return nil }
    let comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
    // Fields after ")": field 3 (state) is fields[0]; field n is fields[n - 3].
    var fields: [ArraySlice<UInt8>] = []
    fields.reserveCapacity(20)
    var i = close + 1
    while i < bytes.count, fields.count < 20 {
      while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A { i += 1 }
      let start = i
      while i < bytes.count, bytes[i] != 0x20, bytes[i] != 0x0A { i += 1 }
      if i > start { fields.append(bytes[start..<i]) }
    }
    func number(_ n: Int) -> Int64? {
      guard n < fields.count else { return nil }
      var value: Int64 = 0
      var negative = false
      var seen = false
      for b in fields[n] {
        if b == UInt8(ascii: "-"), !seen, !negative {
          negative = true
          continue
        }
        guard (0x30...0x39).contains(b) else { return nil }
        value = value &* 10 &+ Int64(b - 0x30)
        seen = true
      }
      return seen ? (negative ? -value : value) : nil
    }
    guard fields.count >= 6, fields[0].count == 1,
      let ppid = number(1), let pgrp = number(2), let session = number(3), let tty = number(4),
      let tpgid = number(5)
    else { return nil }
    let code = Character(Unicode.Scalar(fields[0].first!))
    let start = number(19).map { UInt64(clamping: $0) } ?? 0
    return ProcessSnapshot(
      pid: Int32(pid), comm: comm, state: ProcessSnapshot.stateWord(code), stateCode: code,
      ppid: Int32(truncatingIfNeeded: ppid), pgrp: Int32(truncatingIfNeeded: pgrp),
      session: Int32(truncatingIfNeeded: session), ttyNr: tty,
      tpgid: Int32(truncatingIfNeeded: tpgid), startTime: start)
  }

  /// Splits `/proc/<pid>/cmdline` at NULs, dropping trailing empty strings.
  static func parseCmdline(_ bytes: [UInt8]) -> [String] {
    var args = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    while args.last == "" { args.removeLast() }
    return args
  }

  /// A terminal's device number encoded as `/proc/<pid>/stat`'s `tty_nr`, or nil.
  public static func ttyDevice(_ path: String) -> Int64? {
    var st = stat()
    guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFCHR else { return nil }
    let dev = UInt64(st.st_rdev)
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
    let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
    return Int64(bitPattern: (minor & 0xff) | (major << 8) | ((minor & ~UInt64(0xff)) << 12))
  }

  /// Reads up to `limit` bytes of a /proc file (whose size stat reports as 0); nil if it
  /// cannot be opened or read.
  static func readFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out = [UInt8](repeating: 0, count: min(limit, 4096))
    var used = 0
    while used < limit {
      if used == out.count {
        out.append(contentsOf: repeatElement(0, count: min(out.count, limit - used)))
      }
      let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + used, $0.count - used) }
      if n < 0 {
        if errno == EINTR { continue }
        return nil
      }
      if n == 0 { break }
      used += n
    }
    out.removeSubrange(used...)
    return out
  }
}
