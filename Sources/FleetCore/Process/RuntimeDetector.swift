/// Recognises which agent runtime a process is, from its argv (SPEC 2.2).
///
/// The default rule looks at the program's own name: the basename of `argv[0]` without
/// a script extension (`claude`, `/usr/local/bin/codex`, `pi.js`). When that is an
/// interpreter (node, nodejs, bun, deno, python, python3, python3.x, ruby, ...) it looks
/// at the script instead: the first argument that is not an option (skipping the values
/// of options that take one, and `run` after bun/deno), or the module after `python -m`.
/// A name that says nothing (`cli.js`, `index.js`, a version number) is recognised by the
/// package it lives in: `@anthropic-ai/claude-code` and `.../claude/versions/...` are
/// claude, `@openai/codex` codex, `opencode-ai` opencode, `pi-coding-agent` pi.
///
/// The mosaic stub is `mosaic agent stub NAME` (any path to the binary, options allowed
/// before `agent`). `mosaic heartbeat NAME [options] -- CMD ARGS...` is judged by CMD, the
/// agent it wraps.
///
/// Drift is `matches(...) == false`: the roster names one runtime, another program runs.
public enum RuntimeDetector {
  static let known = ["claude", "codex", "pi", "opencode"]

  static let packages: [(fragment: String, runtime: String)] = [
    ("@anthropic-ai/claude-code/", "claude"),
    ("/claude/versions/", "claude"),
    ("/claude-code/", "claude"),
    ("@openai/codex/", "codex"),
    ("/opencode-ai/", "opencode"),
    ("/pi-coding-agent/", "pi"),
  ]

  static let scriptExtensions: Set<String> = [
    "js", "mjs", "cjs", "ts", "mts", "cts", "py", "pyw", "pyz", "rb", "exe", "sh",
  ]

  /// Options of the interpreters that take the next argument as their value.
  static let optionsWithValue: Set<String> = [
    // node, bun, deno
    "-r", "--require", "--import", "--loader", "--experimental-loader", "--inspect-port",
    "--title", "-C", "--conditions", "--env-file", "--config", "--cwd",
    "--preload", "--import-map", "--lock", "--cert", "--location", "--seed", "--v8-flags",
    // python
    "-W", "-X", "-Q",
    // ruby (-C and -r as for node)
    "-I", "-E",
  ]

  /// Options after which the program text follows inline, so there is no script to name.
  static let inlineCode: Set<String> = ["-e", "--eval", "-p", "--print"]

  /// The runtime `argv` runs (claude, codex, pi, opencode, stub), or nil when unknown.
  public static func detect(argv: [String]) -> String? {
    guard let first = argv.first, !first.isEmpty else { return nil }
    let program = basename(first)
    let name = stripExtension(program)

    if name == "mosaic" { return detectMosaic(Array(argv.dropFirst())) }
    if known.contains(name) { return name }
    if let r = byPackage(first) { return r }
    if isInterpreter(program) {
      return detectScript(interpreter: program, args: Array(argv.dropFirst()))
    }
    return nil
  }

  /// Whether `argv` runs `runtime`: with `match` set, `patternMatcher(commandLine,
  /// match)` decides (the host passes Lua's `string.find` with the subject first, the
  /// pattern second); otherwise the built-in rule (`detect`) does. nil when it cannot be
  /// told: no argv (the process is gone, a zombie or a kernel thread), or a runtime
  /// without a built-in rule and no `match`.
  public static func matches(
    runtime: String, argv: [String], match: String?,
    patternMatcher: (String, String) -> Bool
  ) -> Bool? {
    guard !argv.isEmpty, !argv[0].isEmpty else { return nil }
    if let match { return patternMatcher(commandLine(argv), match) }
    guard RosterAgent.knownRuntimes.contains(runtime) else { return nil }
    return detect(argv: argv) == runtime
  }

  /// The command line a `match` pattern is tried against: argv joined by spaces.
  public static func commandLine(_ argv: [String]) -> String {
    argv.joined(separator: " ")
  }

  /// Whether `argv` is `mosaic heartbeat NAME [options] -- CMD`: a wrapper around the agent.
  public static func isWrapper(argv: [String]) -> Bool {
    guard let first = argv.first, stripExtension(basename(first)) == "mosaic" else { return false }
    for a in argv.dropFirst() {
      if a == "--" { return false }
      if !a.hasPrefix("-") { return a == "heartbeat" }
    }
    return false
  }

  // MARK: - Rules

  static func detectMosaic(_ args: [String]) -> String? {
    var words: [String] = []
    for (i, a) in args.enumerated() {
      if a == "--" {
        // `mosaic heartbeat NAME ... -- CMD`: the wrapped agent.
        if words.first == "heartbeat" { return detect(argv: Array(args[(i + 1)...])) }
        break
      }
      if a.hasPrefix("-") { continue }
      words.append(a)
      if words.count == 2, words == ["agent", "stub"] { return "stub" }
    }
    return nil
  }

  static func detectScript(interpreter: String, args: [String]) -> String? {
    let python = interpreter.hasPrefix("python") || interpreter.hasPrefix("pypy")
    let runner = interpreter == "bun" || interpreter == "deno"
    var i = 0
    var sawSubcommand = false
    while i < args.count {
      let a = args[i]
      if a == "--" {
        i += 1
        break
      }
      if python && a == "-m" {
        guard i + 1 < args.count else { return nil }
        return byModule(args[i + 1])
      }
      if python && a == "-c" { return nil }
      if inlineCode.contains(a) { return nil }
      if a.hasPrefix("-") && a.count > 1 {
        if optionsWithValue.contains(a) { i += 1 }
        i += 1
        continue
      }
      if runner && !sawSubcommand && (a == "run" || a == "x") {
        sawSubcommand = true
        i += 1
        continue
      }
      break
    }
    guard i < args.count else { return nil }
    return byScript(args[i])
  }

  static func byScript(_ path: String) -> String? {
    let name = stripExtension(basename(path))
    if known.contains(name) { return name }
    if name == "mosaic" { return nil }
    return byPackage(path)
  }

  static func byModule(_ module: String) -> String? {
    let head = String(module.split(separator: ".").first ?? "")
    let normal = head.replacingUnderscores()
    if known.contains(normal) { return normal }
    for (fragment, runtime) in packages
    where fragment.trimmingSlashes() == normal || fragment.trimmingSlashes() == head {
      return runtime
    }
    return nil
  }

  static func byPackage(_ path: String) -> String? {
    let p = path.hasSuffix("/") ? path : path + "/"
    let slashed = p.hasPrefix("/") || p.hasPrefix("@") ? p : "/" + p
    for (fragment, runtime) in packages where slashed.contains(fragment) { return runtime }
    return nil
  }

  static func isInterpreter(_ program: String) -> Bool {
    switch program {
    case "node", "nodejs", "bun", "deno", "python", "python2", "python3", "pypy", "pypy3",
      "ruby":
      return true
    default:
      // python3.11, python2.7, ruby3.1
      for prefix in ["python", "ruby"] where program.hasPrefix(prefix) {
        let rest = program.dropFirst(prefix.count)
        return !rest.isEmpty && rest.allSatisfy { $0 == "." || ("0"..."9").contains($0) }
      }
      return false
    }
  }

  static func basename(_ path: String) -> String {
    var p = Substring(path)
    while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return String(p) }
    return String(p[p.index(after: slash)...])
  }

  static func stripExtension(_ name: String) -> String {
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
    let ext = name[name.index(after: dot)...].lowercased()
    return scriptExtensions.contains(ext) ? String(name[..<dot]) : name
  }
}

extension String {
  fileprivate func replacingUnderscores() -> String {
    String(map { $0 == "_" ? "-" : $0 })
  }

  fileprivate func trimmingSlashes() -> String {
    var s = Substring(self)
    while s.hasPrefix("/") { s = s.dropFirst() }
    while s.hasSuffix("/") { s = s.dropLast() }
    return String(s)
  }
}
