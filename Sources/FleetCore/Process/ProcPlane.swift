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

  /// Most members `foregroundGroup` follows, and how deep: a launcher chain is short.
  public static let memberLimit = 32
  public static let depthLimit = 8

  /// The pane's foreground process group as it descends from the pane process (SPEC 2.4):
  /// an agent launched through `sh -c 'cd D && claude'`, `bash -c`, `env`, a wrapper script
  /// or `mosaic heartbeat -- CMD` is a member of that group, not its leader. Starting at the
  /// pane process, it follows `/proc/<pid>/task/<pid>/children` through the pane process and
  /// the group's members only (tools that agents start run in sessions of their own and are
  /// never members), breadth first, so the cost per pane is the length of the launcher
  /// chain, not the number of processes on the machine. Children started by a thread other
  /// than a process's main thread are not followed (launchers fork from their main thread).
  ///
  /// `members` holds each member with its argv, shallowest first; `leader` is the group's
  /// leader (what tmux names `pane_current_command`), or the pane process when the group
  /// has no readable leader. nil when the pane process cannot be read, or is not on
  /// `paneTTY` (a dead pane's pid reused by another process).
  public static func foregroundGroup(
    ofPanePid panePid: Int32, paneTTY: String?, procRoot: String = "/proc"
  ) -> ForegroundGroup? {
    guard let pane = readStat(pid: panePid, procRoot: procRoot) else { return nil }
    if let paneTTY, let device = ttyDevice(paneTTY), pane.ttyNr != device { return nil }
    let group = pane.tpgid > 0 ? pane.tpgid : pane.pgrp
    var members: [ForegroundGroup.Member] = []
    var queue: [(ProcessSnapshot, Int)] = [(pane, 0)]
    var seen: Set<Int32> = [pane.pid]
    var head = 0
    while head < queue.count, members.count < memberLimit {
      var (process, depth) = queue[head]
      head += 1
      let member = process.pgrp == group
      if member {
        if let bytes = readFile("\(procRoot)/\(process.pid)/cmdline", limit: 256 * 1024) {
          process.argv = parseCmdline(bytes)
        }
        members.append(.init(process: process, depth: depth))
      }
      guard member || depth == 0, depth < depthLimit,
        let text = readFile(
          "\(procRoot)/\(process.pid)/task/\(process.pid)/children", limit: 65536)
      else { continue }
      for word in text.split(separator: 0x20) {
        guard let pid = Int32(String(decoding: word, as: UTF8.self)), seen.insert(pid).inserted,
          let child = readStat(pid: pid, procRoot: procRoot)
        else { continue }
        queue.append((child, depth + 1))
      }
    }
    var leader = members.first { $0.process.pid == group }?.process
    if leader == nil, group != pane.pid, var l = readStat(pid: group, procRoot: procRoot),
      l.pgrp == group
    {
      if let bytes = readFile("\(procRoot)/\(group)/cmdline", limit: 256 * 1024) {
        l.argv = parseCmdline(bytes)
      }
      leader = l
    }
    if leader == nil {
      var p = pane
      if let bytes = readFile("\(procRoot)/\(pane.pid)/cmdline", limit: 256 * 1024) {
        p.argv = parseCmdline(bytes)
      }
      leader = p
    }
    return ForegroundGroup(leader: leader!, members: members, paneTTY: pane.ttyNr)
  }

  /// `foregroundGroup` of many panes (pane id, pane pid, pane tty), by pane id; panes
  /// whose process cannot be read are missing. Past 64 panes, half of them are read on a
  /// second thread: a thousand panes are some ten thousand small `/proc` reads.
  public static func foregroundGroups(
    of panes: [(id: String, pid: Int32, tty: String)], procRoot: String = "/proc"
  ) -> [String: ForegroundGroup] {
    let groups = mapInHalves(panes) {
      foregroundGroup(ofPanePid: $0.pid, paneTTY: $0.tty, procRoot: procRoot)
    }
    var out: [String: ForegroundGroup] = [:]
    out.reserveCapacity(panes.count)
    for (pane, group) in zip(panes, groups) { out[pane.id] = group }
    return out
  }

  /// The children of `pid` (those its main thread started), or nil when they cannot be read.
  public static func children(of pid: Int32, procRoot: String = "/proc") -> [Int32]? {
    guard let text = readFile("\(procRoot)/\(pid)/task/\(pid)/children", limit: 1 << 20)
    else { return nil }
    return text.split(separator: 0x20).compactMap { Int32(String(decoding: $0, as: UTF8.self)) }
  }

  /// The pid of the process at the other end of a connection to the unix socket `path`
  /// (`SO_PEERCRED`), if it runs as this user: a tmux server, the user manager. The
  /// connection is closed at once, before anything is said on it.
  public static func listenerPID(socketPath: String) -> pid_t? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let path = Array(socketPath.utf8)
    let capacity = MemoryLayout.size(ofValue: addr.sun_path)
    guard path.count < capacity else { return nil }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
      for (i, b) in path.enumerated() { raw[i] = b }
      raw[path.count] = 0
    }
    let len = socklen_t(MemoryLayout<sa_family_t>.size + path.count + 1)
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) }
    }
    guard rc == 0 else { return nil }
    // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE).
    var cred: (pid_t, uid_t, gid_t) = (0, 0, 0)
    var credLen = socklen_t(MemoryLayout<(pid_t, uid_t, gid_t)>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credLen) == 0, cred.0 > 0,
      cred.1 == geteuid()
    else { return nil }
    return cred.0
  }

  /// The process groups that have a member in state `T`, from one scan of `/proc`.
  public static func stoppedProcessGroups(procRoot: String = "/proc") -> Set<Int32> {
    var groups = Set<Int32>()
    for pid in pids(procRoot: procRoot) {
      if let p = readStat(pid: pid, procRoot: procRoot), p.isStopped { groups.insert(p.pgrp) }
    }
    return groups
  }

  /// The working directory of `pid` (`/proc/<pid>/cwd`), or nil when it cannot be read.
  public static func cwd(of pid: Int32, procRoot: String = "/proc") -> String? {
    var buf = [CChar](repeating: 0, count: 4097)
    let n = readlink("\(procRoot)/\(pid)/cwd", &buf, 4096)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Reads each path as `fleet ps` reads its files (`readFile`; a path ending in `/cwd` with
  /// `readlink`) and returns how many could be read. The fleet benchmark times it on the
  /// files fleet ps must read, so its "reads" column holds no other work of mosaic's.
  public static func readEach(_ paths: [String]) -> Int {
    var read = 0
    var link = [CChar](repeating: 0, count: 4097)
    for path in paths {
      if path.hasSuffix("/cwd") {
        if readlink(path, &link, 4096) > 0 { read += 1 }
      } else if readFile(path, limit: 256 * 1024) != nil {
        read += 1
      }
    }
    return read
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
    // Most /proc files here (stat, a launcher's cmdline, children) fit in one 4 KiB read into
    // scratch space, copied out at their size.
    let first: (done: Bool, bytes: [UInt8]?) = withUnsafeTemporaryAllocation(
      of: UInt8.self, capacity: 4096
    ) { buf in
      var used = 0
      while used < buf.count {
        let n = Glibc.read(fd, buf.baseAddress! + used, buf.count - used)
        if n < 0 {
          if errno == EINTR { continue }
          return (true, nil)
        }
        if n == 0 { return (true, Array(buf[0..<min(used, limit)])) }
        used += n
      }
      return (false, nil)  // more than 4 KiB: read again below
    }
    if first.done { return first.bytes }
    guard lseek(fd, 0, SEEK_SET) == 0 else { return nil }
    var out = [UInt8](repeating: 0, count: min(limit, 65536))
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
