#if canImport(Glibc)
  import Glibc
#endif

/// How the unit-file state of a unit name is obtained.
enum UnitFileAnswer: Equatable, Sendable {
  /// Decided in-process: exactly what `systemctl --user is-enabled` prints.
  case state(String)
  /// No unit file: `is-enabled` fails with "No such file or directory".
  case notFound
  /// systemd itself fails for this name (an invalid name, an instance of a type that cannot be
  /// templated, a directory where the file should be): `is-enabled` prints nothing, the state is
  /// unknown.
  case error
  /// A file or symlink of this very name lies in the search path: `list-unit-files` lists it with
  /// the state systemd computes.
  case listed
  /// Not decidable in-process with certainty: ask `is-enabled`.
  case askSystemd
}

/// The unit-file (boot) state of many units at once, with systemd's own answer and without a
/// process per unit.
///
/// systemd computes `is-enabled` in `unit_file_lookup_state()` (systemd 252,
/// src/shared/install.c), about 1.3 ms per unit because every query rescans the whole search
/// path. This index scans the search path once per query and applies the same rules:
///
/// 1. The search path is the user manager's own (`UnitSearchPath`, built from the manager
///    process's environment).
/// 2. A name with a file or symlink of its own anywhere in the search path (plain units,
///    templates, aliases, linked and masked units, instances with their own file) is `.listed`:
///    one `systemctl --user list-unit-files NAME...` returns systemd's state for all of them
///    (it runs the same `unit_file_lookup_state()` for each listed file).
/// 3. A plain name without a file is `.notFound` (`unit_file_search` tries no other name).
/// 4. An instance `foo@bar.service` without a file of its own resolves to the first
///    `foo@.service` in search-path order; a symlink to a file outside the search path (a linked
///    template) is followed; an empty file or a symlink to `/dev/null` is a mask, reported
///    `masked`, or `masked-runtime` below `/run` or a runtime directory. No template at all is
///    `.notFound`.
/// 5. For a loaded template file in a generator or transient directory the state is `generated`
///    or `transient`. Otherwise the instance is enabled exactly when a symlink named
///    `foo@bar.service` sits in a `*.wants/` or `*.requires/` directory of some search
///    directory (`find_symlinks`; the symlink's target is not read there, and systemd 252 looks
///    into no other kind of directory, not `*.upholds/`). Such a link in the user's config
///    directory or in `/etc/systemd/user` gives `enabled`; else one in a runtime directory gives
///    `enabled-runtime`; else one elsewhere (a vendor directory) gives `static` (systemd's
///    special rule for instances).
/// 6. Without such a link: `disabled` when the template's `[Install]` section has `Alias=`,
///    `WantedBy=` or `RequiredBy=`; else `indirect` with `Also=`; else `static`
///    (`DefaultInstance=` matters only for the template's own state, which is rule 2).
///
/// The directory scan and each template file are read once per query, whatever the number of
/// instances. Everything else is `.askSystemd` and goes to one batched
/// `systemctl --user is-enabled`: drop-in directories for the instance or template, a template
/// that is an alias of another name, chains through symlinked directories or dangling links,
/// `[Install]` text this parser cannot read exactly (`InstallSection`), a top-level symlink in
/// the search path whose target is named like the instance, an unreadable search directory, or
/// a manager environment that could not be read (then every name is asked).
struct UnitFileIndex {
  enum Kind: Equatable {
    case regular
    case symlink
    case directory
    case other
  }

  struct Entry: Equatable {
    var directory: Int
    var kind: Kind
  }

  let searchPath: UnitSearchPath
  /// Every name found directly in a search directory, with its occurrences in priority order.
  private(set) var entries: [String: [Entry]] = [:]
  /// Per search directory: names of the symlinks in its `*.wants/` and `*.requires/` directories.
  private(set) var wantsLinks: [Set<String>] = []
  /// Base names of the targets of symlinks lying directly in a search directory.
  private(set) var topLevelLinkTargets: Set<String> = []
  /// A search directory could not be read for a reason systemd would fail on.
  private(set) var damaged = false
  /// The search directories plus their resolved forms (the manager's name map uses both).
  private(set) var expandedDirectories: [String] = []

  init(searchPath: UnitSearchPath) {
    self.searchPath = searchPath
    for (index, dir) in searchPath.directories.enumerated() {
      var links = Set<String>()
      switch Self.listDirectory(dir) {
      case .failure(let err):
        if ![ENOENT, ENOTDIR, EACCES].contains(err.code) { damaged = true }
      case .success(let list):
        for (name, kind) in list {
          entries[name, default: []].append(Entry(directory: index, kind: kind))
          guard !UnitName.isHiddenOrBackup(name) else { continue }
          if kind == .directory, let dot = name.lastIndex(of: "."),
            [".wants", ".requires"].contains(String(name[dot...])),
            case .success(let inner) = Self.listDirectory(dir + "/" + name)
          {
            for (link, linkKind) in inner
            where linkKind == .symlink && !UnitName.isHiddenOrBackup(link) {
              links.insert(link)
            }
          } else if kind == .symlink, let target = Self.readLink(dir + "/" + name) {
            topLevelLinkTargets.insert(PathText.basename(target))
          }
        }
      }
      wantsLinks.append(links)
    }
    var expanded = searchPath.directories
    for dir in searchPath.directories {
      if let resolved = Self.realPath(dir), !expanded.contains(resolved) {
        expanded.append(resolved)
      }
    }
    expandedDirectories = expanded
  }

  /// The unit-file state of `name` (see the type's documentation).
  func answer(for name: String) -> UnitFileAnswer {
    var templates: [String: TemplateFile] = [:]
    return answer(for: name, templates: &templates)
  }

  /// The states of many names; each template file is read once.
  func answers(for names: [String]) -> [String: UnitFileAnswer] {
    var templates: [String: TemplateFile] = [:]
    var out: [String: UnitFileAnswer] = [:]
    for name in names { out[name] = answer(for: name, templates: &templates) }
    return out
  }

  /// What the first `foo@.service` of the search path amounts to for all its instances.
  enum TemplateFile {
    /// Masked, or not decidable: the same answer for every instance.
    case answer(UnitFileAnswer)
    /// A regular unit file (rules 5 and 6 apply).
    case loaded(path: String, install: InstallSection)
  }

  private func answer(for name: String, templates: inout [String: TemplateFile])
    -> UnitFileAnswer
  {
    guard let kind = UnitName.classify(name) else { return .error }
    if kind != .plain, !UnitName.mayTemplate(UnitName.type(of: name)) { return .error }
    if UnitName.isHiddenOrBackup(name) || damaged { return .askSystemd }
    if let first = entries[name]?.first {
      return first.kind == .regular || first.kind == .symlink ? .listed : .error
    }
    guard kind == .instance, let template = UnitName.template(of: name) else { return .notFound }
    guard entries[template] != nil else { return .notFound }
    if topLevelLinkTargets.contains(name) || entries[name + ".d"] != nil {
      return .askSystemd
    }
    let file: TemplateFile
    if let cached = templates[template] {
      file = cached
    } else {
      file = templateFile(template)
      templates[template] = file
    }
    switch file {
    case .answer(let answer): return answer
    case .loaded(let path, let install):
      return instanceState(name, path: path, install: install)
    }
  }

  /// Rule 4: finds and loads the template file, following linked unit files.
  private func templateFile(_ template: String) -> TemplateFile {
    guard let first = entries[template]?.first else { return .answer(.notFound) }
    if entries[template + ".d"] != nil { return .answer(.askSystemd) }
    var path = PathText.join(searchPath.directories[first.directory], template)
    for _ in 0..<64 {
      var st = stat()
      guard lstat(path, &st) == 0 else { return .answer(.askSystemd) }
      switch st.st_mode & S_IFMT {
      case S_IFCHR:
        return .answer(masked(path))
      case S_IFREG:
        if st.st_size == 0 { return .answer(masked(path)) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW)
        guard fd >= 0 else { return .answer(.askSystemd) }
        defer { close(fd) }
        guard case .success(let bytes) = UserManagerProcess.readAll(fd, limit: 1 << 20),
          let install = InstallSection.parse(bytes)
        else { return .answer(.askSystemd) }
        // Rule 5's first steps depend on the template's path alone: decided once for all
        // its instances.
        if searchPath.isGenerated(path) { return .answer(.state("generated")) }
        if searchPath.isTransient(path) { return .answer(.state("transient")) }
        return .loaded(path: path, install: install)
      case S_IFLNK:
        guard let raw = Self.readLink(path) else { return .answer(.askSystemd) }
        let absolute = raw.hasPrefix("/") ? raw : PathText.dirname(path) + "/" + raw
        guard let target = PathText.resolveLexically(absolute) else { return .answer(.askSystemd) }
        var tst = stat()
        if stat(target, &tst) == 0 {
          let mode = tst.st_mode & S_IFMT
          if mode == S_IFCHR || (mode == S_IFREG && tst.st_size == 0) {
            return .answer(masked(path))
          }
        } else if errno != ENOENT {
          return .answer(.askSystemd)
        }
        // A target inside the search path makes the symlink an alias, which systemd validates
        // and renames; leave those to systemd. Outside, it is a linked unit file: follow it.
        if searchPath.directories.contains(where: { PathText.startsWith(target, $0) != nil }) {
          return .answer(.askSystemd)
        }
        path = target
      default:
        return .answer(.askSystemd)
      }
    }
    return .answer(.askSystemd)
  }

  private func masked(_ path: String) -> UnitFileAnswer {
    .state(searchPath.isRuntime(path, checkParent: true) ? "masked-runtime" : "masked")
  }

  /// Rules 5 and 6 for an instance whose template file at `path` is a regular, non-empty file,
  /// neither generated nor transient (`templateFile` answered those).
  private func instanceState(_ name: String, path: String, install: InstallSection)
    -> UnitFileAnswer
  {
    var inRuntime = false
    var elsewhere = false
    for (index, dir) in searchPath.directories.enumerated() where wantsLinks[index].contains(name) {
      if dir == searchPath.persistentConfig || dir == UnitSearchPath.globalConfig {
        return .state("enabled")
      }
      if searchPath.isRuntime(dir, checkParent: false) {
        inRuntime = true
      } else {
        elsewhere = true
      }
    }
    if inRuntime { return .state("enabled-runtime") }
    if elsewhere { return .state("static") }
    if install.hasRules { return .state("disabled") }
    return .state(install.hasAlso ? "indirect" : "static")
  }

  // MARK: - The unit id the manager loads a name under (for active states)

  private enum IDValue: Equatable {
    case path(String)
    case name(String)
  }

  /// The id of the unit the manager loads for `name`: `name` itself, or for an alias the name of
  /// the unit file it resolves to (systemd 252 src/basic/unit-file.c
  /// `unit_file_build_name_map`, `unit_ids_map_get`, `unit_file_find_fragment`). nil when the
  /// symlinks cannot be followed exactly. `list-units` lists units under their ids only, so an
  /// alias's active state is found under this name.
  func unitID(for name: String) -> String? {
    var fragments: [String: Result<String?, Uncertain>] = [:]
    return unitID(for: name, fragments: &fragments)
  }

  /// `unitID(for:)` of many names; each template's alias chain is followed once.
  func unitIDs(for names: [String]) -> [String: String] {
    var fragments: [String: Result<String?, Uncertain>] = [:]
    var out: [String: String] = [:]
    for name in names { out[name] = unitID(for: name, fragments: &fragments) }
    return out
  }

  private func unitID(for name: String, fragments: inout [String: Result<String?, Uncertain>])
    -> String?
  {
    guard let kind = UnitName.classify(name) else { return nil }
    var fragment: String?
    switch fragmentPath(name) {
    case .failure: return nil
    case .success(let f): fragment = f
    }
    if fragment == nil, kind == .instance, let template = UnitName.template(of: name) {
      let result = fragments[template] ?? fragmentPath(template)
      fragments[template] = result
      switch result {
      case .failure: return nil
      case .success(let f): fragment = f
      }
    }
    guard let fragment else { return name }
    let base = PathText.basename(fragment)
    if UnitName.classify(base) == .template {
      guard let instance = UnitName.instance(of: name) else { return nil }
      return UnitName.replacingInstance(base, with: instance)
    }
    return base
  }

  private struct Uncertain: Error {}

  /// `unit_ids_map_get`: .success(nil) when the name is unknown or its alias chain is broken.
  private func fragmentPath(_ name: String) -> Result<String?, Uncertain> {
    var id: String? = nil
    for _ in 0..<8 {
      var value: IDValue?
      do { value = try idValue(id ?? name) } catch { return .failure(Uncertain()) }
      if value == nil {
        guard let current = id, let template = UnitName.template(of: current),
          UnitName.classify(current) == .instance
        else { return .success(nil) }
        do { value = try idValue(template) } catch { return .failure(Uncertain()) }
        guard value != nil else { return .success(nil) }
      }
      switch value {
      case .path(let p): return .success(p)
      case .name(let n): id = n
      case nil: return .success(nil)
      }
    }
    return .failure(Uncertain())
  }

  /// The name map's entry for `name`: the first regular file or resolvable symlink of that name.
  private func idValue(_ name: String) throws(Uncertain) -> IDValue? {
    guard UnitName.classify(name) != nil else { return nil }
    for entry in entries[name] ?? [] {
      let dir = searchPath.directories[entry.directory]
      let path = PathText.join(dir, name)
      switch entry.kind {
      case .regular:
        return .path(path)
      case .symlink:
        guard let raw = Self.readLink(path) else { continue }
        let absolute = raw.hasPrefix("/") ? raw : dir + "/" + raw
        guard let target = PathText.resolveLexically(absolute) else { throw Uncertain() }
        if expandedDirectories.contains(where: { PathText.startsWith(target, $0) != nil }) {
          let targetName = PathText.basename(target)
          guard UnitName.isValidAlias(source: name, target: targetName) else { continue }
          return .name(targetName)
        }
        return .path(path)
      case .directory, .other:
        continue
      }
    }
    return nil
  }

  // MARK: - File system

  struct Errno: Error {
    var code: Int32
  }

  /// Names and kinds of a directory's entries (no `.`/`..`), or the errno of opendir.
  static func listDirectory(_ path: String) -> Result<[(String, Kind)], Errno> {
    guard let dir = opendir(path) else { return .failure(Errno(code: errno)) }
    defer { closedir(dir) }
    var out: [(String, Kind)] = []
    while let e = readdir(dir) {
      let name = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name == "." || name == ".." { continue }
      var kind: Kind
      switch Int32(e.pointee.d_type) {
      case Int32(DT_REG): kind = .regular
      case Int32(DT_LNK): kind = .symlink
      case Int32(DT_DIR): kind = .directory
      case Int32(DT_UNKNOWN):
        var st = stat()
        guard fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFLNK: kind = .symlink
        case S_IFDIR: kind = .directory
        default: kind = .other
        }
      default: kind = .other
      }
      out.append((name, kind))
    }
    return .success(out)
  }

  static func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink(path, &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func realPath(_ path: String) -> String? {
    guard let p = realpath(path, nil) else { return nil }
    defer { free(p) }
    return String(cString: p)
  }
}
