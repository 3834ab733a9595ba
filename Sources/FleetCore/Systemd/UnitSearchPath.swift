#if canImport(Glibc)
  import Glibc
#endif

/// The user manager's unit search path and its special directories, computed exactly as
/// systemd 252 does for `LOOKUP_SCOPE_USER` (src/basic/path-lookup.c `lookup_paths_init`,
/// `user_dirs`) from the environment of the manager process.
///
/// `user(environment:uid:)` returns nil whenever the result could differ from the manager's own
/// (`$SYSTEMD_UNIT_PATH` set, relative or odd XDG variables, no `$XDG_RUNTIME_DIR`): callers then
/// ask systemd instead of resolving in-process.
struct UnitSearchPath: Equatable, Sendable {
  /// Directories in priority order, highest first (systemd's `search_path`).
  var directories: [String]
  var persistentConfig: String
  var runtimeConfig: String
  var persistentControl: String
  var runtimeControl: String
  var transient: String
  var generator: String
  var generatorEarly: String
  var generatorLate: String

  /// `USER_CONFIG_UNIT_DIR` on Debian; links here enable a unit for every user (`--global`).
  static let globalConfig = "/etc/systemd/user"
  static let globalRuntimeConfig = "/run/systemd/user"

  static func user(environment env: [String: String], uid: uid_t) -> UnitSearchPath? {
    if env["SYSTEMD_UNIT_PATH"] != nil { return nil }
    func absolute(_ key: String) -> String?? {
      guard let value = env[key] else { return .some(nil) }
      guard value.hasPrefix("/"), !value.contains("\\") else { return nil }
      return .some(PathText.simplify(value))
    }
    func list(_ key: String, default fallback: [String]) -> [String]? {
      guard let value = env[key] else { return fallback }
      guard !value.contains("\\") else { return nil }
      let parts = value.split(separator: ":").map(String.init)
      guard parts.allSatisfy({ $0.hasPrefix("/") }) else { return nil }
      return parts.map(PathText.simplify)
    }
    guard case .some(.some(let runtime)) = absolute("XDG_RUNTIME_DIR") else { return nil }
    guard case .some(let configHomeVar) = absolute("XDG_CONFIG_HOME"),
      case .some(let dataHomeVar) = absolute("XDG_DATA_HOME"),
      let configDirs = list("XDG_CONFIG_DIRS", default: ["/etc/xdg"]),
      let dataDirs = list("XDG_DATA_DIRS", default: ["/usr/local/share", "/usr/share"])
    else { return nil }

    let home: String
    if let h = env["HOME"], h.hasPrefix("/"), !h.contains("\\") {
      home = PathText.simplify(h)
    } else if uid == 0 {
      home = "/root"
    } else if let pw = getpwuid(uid), let dir = pw.pointee.pw_dir {
      home = PathText.simplify(String(cString: dir))
    } else {
      return nil
    }
    let configHome = configHomeVar ?? PathText.join(home, ".config")
    let dataHome = dataHomeVar ?? PathText.join(home, ".local/share")

    var p = UnitSearchPath(
      directories: [],
      persistentConfig: PathText.join(configHome, "systemd/user"),
      runtimeConfig: PathText.join(runtime, "systemd/user"),
      persistentControl: PathText.join(configHome, "systemd/user.control"),
      runtimeControl: PathText.join(runtime, "systemd/user.control"),
      transient: PathText.join(runtime, "systemd/transient"),
      generator: PathText.join(runtime, "systemd/generator"),
      generatorEarly: PathText.join(runtime, "systemd/generator.early"),
      generatorLate: PathText.join(runtime, "systemd/generator.late"))
    var dirs: [String] = [
      p.persistentControl, p.runtimeControl, p.transient, p.generatorEarly, p.persistentConfig,
    ]
    dirs += configDirs.map { PathText.join($0, "systemd/user") }
    // global_persistent_config, then user_config_unit_paths (both /etc/systemd/user on Debian).
    dirs.append(Self.globalConfig)
    dirs += [p.runtimeConfig, Self.globalRuntimeConfig, p.generator]
    dirs.append(PathText.join(dataHome, "systemd/user"))
    dirs += dataDirs.map { PathText.join($0, "systemd/user") }
    dirs += [
      "/usr/local/lib/systemd/user", "/usr/local/share/systemd/user", "/usr/lib/systemd/user",
      "/usr/lib/systemd/user", "/usr/share/systemd/user", p.generatorLate,
    ]
    var seen = Set<String>()
    p.directories = dirs.filter { seen.insert($0).inserted }
    return p
  }

  /// `path_is_runtime(lp, path, check_parent)`.
  func isRuntime(_ path: String, checkParent: Bool) -> Bool {
    if PathText.startsWith(path, "/run") != nil { return true }
    let p = checkParent ? PathText.dirname(path) : PathText.simplify(path)
    return [runtimeConfig, generator, generatorEarly, generatorLate, transient, runtimeControl]
      .contains(p)
  }

  /// `path_is_generator(lp, path)`: the file lies directly in a generator directory.
  func isGenerated(_ path: String) -> Bool {
    [generator, generatorEarly, generatorLate].contains(PathText.dirname(path))
  }

  /// `path_is_transient(lp, path)`.
  func isTransient(_ path: String) -> Bool { PathText.dirname(path) == transient }
}

/// Path strings handled the way systemd compares them (`path_simplify`, `path_startswith`).
enum PathText {
  /// Collapses repeated slashes, drops `.` components and a trailing slash; keeps `..`.
  static func simplify(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
    let body = parts.joined(separator: "/")
    if absolute { return "/" + body }
    return body.isEmpty ? "." : body
  }

  static func join(_ a: String, _ b: String) -> String { simplify(a + "/" + b) }

  static func dirname(_ path: String) -> String {
    let s = simplify(path)
    guard let slash = s.lastIndex(of: "/") else { return "." }
    return slash == s.startIndex ? "/" : String(s[..<slash])
  }

  static func basename(_ path: String) -> String {
    let u = path.utf8
    guard let slash = u.lastIndex(of: UInt8(ascii: "/")) else { return path }
    return String(decoding: u[u.index(after: slash)...], as: UTF8.self)
  }

  /// The rest of `path` below `prefix` (component-wise, "" when equal), or nil.
  static func startsWith(_ path: String, _ prefix: String) -> String? {
    let p = simplify(path).split(separator: "/")
    let q = simplify(prefix).split(separator: "/")
    guard path.hasPrefix("/") == prefix.hasPrefix("/"), q.count <= p.count else { return nil }
    for (a, b) in zip(p, q) where a != b { return nil }
    return p.dropFirst(q.count).joined(separator: "/")
  }

  /// `path` resolved lexically (`..` removes the previous component), or nil when that might
  /// differ from the kernel's answer: a directory on the way is a symlink, or `..` follows a
  /// component that does not exist. This is what systemd's `chase_symlinks(CHASE_NOFOLLOW |
  /// CHASE_NONEXISTENT)` computes when no directory on the way is a symlink.
  static func resolveLexically(_ path: String) -> String? {
    guard path.hasPrefix("/") else { return nil }
    let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
    var out: [Substring] = []
    var missing = false
    for (i, part) in parts.enumerated() {
      if part == ".." {
        if missing { return nil }
        if !out.isEmpty { out.removeLast() }
        continue
      }
      out.append(part)
      guard i < parts.count - 1, !missing else { continue }
      var st = stat()
      if lstat("/" + out.joined(separator: "/"), &st) != 0 {
        guard errno == ENOENT else { return nil }
        missing = true
      } else if st.st_mode & S_IFMT == S_IFLNK {
        return nil
      }
    }
    return "/" + out.joined(separator: "/")
  }
}
