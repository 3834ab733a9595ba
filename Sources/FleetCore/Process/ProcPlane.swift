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
    guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
      let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close
    else { return nil }
    let pidText = String(decoding: bytes[..<open], as: UTF8.self)
    guard let pid = Int32(pidText.filter { $0 != " " }) else { return nil }
    let comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
    let rest = String(decoding: bytes[(close + 1)...], as: UTF8.self)
    let f = rest.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    // f[0] is field 3 (state); field n is f[n - 3]. starttime is field 22.
    guard f.count >= 6, let code = f[0].first, f[0].count == 1, let ppid = Int32(f[1]),
      let pgrp = Int32(f[2]), let session = Int32(f[3]), let tty = Int64(f[4]),
      let tpgid = Int32(f[5])
    else { return nil }
    let start = f.count > 19 ? UInt64(f[19]) ?? 0 : 0
    return ProcessSnapshot(
      pid: pid, comm: comm, state: ProcessSnapshot.stateWord(code), stateCode: code,
      ppid: ppid, pgrp: pgrp, session: session, ttyNr: tty, tpgid: tpgid, startTime: start)
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
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while out.count < limit {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        return nil
      }
      if n == 0 { break }
      out.append(contentsOf: buffer[0..<min(n, limit - out.count)])
    }
    return out
  }
}
