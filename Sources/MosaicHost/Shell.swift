import CLineEdit
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// `mosaic shell`: the REPL (SPEC 2.9).
///
/// On a terminal: a banner, `<config>/init.lua`, then lines from libedit (`> `, and `>> `
/// while the input is incomplete) with history in `<state>/shell_history` and Tab
/// completion. Expressions print their values, errors print a traceback and the shell
/// goes on. Ctrl-C stops running code (the hook in CLuaShim) or discards the line being
/// typed (CLineEdit); Ctrl-D on an empty line leaves.
///
/// Without a terminal on stdin: stdin is a script read the same way (statement by
/// statement, values printed) with no prompts; the first error ends it with status 1.
enum Shell {
  static let historySize: Int32 = 1000

  static func run(_ runtime: LuaRuntime, argv: [String]) -> Int32 {
    if let option = argv.first {
      if option == "-h" || option == "--help" {
        // One text for `shell --help`, `help shell` and the man page (lua/mosaic/_commands.lua).
        return MosaicCLI.runCommand(["help", "shell"])
      }
      let what = option.hasPrefix("-") ? "unknown option" : "unexpected argument"
      return MosaicCLI.usage("shell: \(what) '\(option)'", hint: "mosaic shell --help")
    }
    let session: ShellSession
    do {
      session = try ShellSession(runtime)
    } catch {
      return MosaicCLI.fail("cannot start the shell: \(error.message)")
    }
    if isatty(STDIN_FILENO) == 1 {
      return interactive(session)
    }
    return script(session)
  }

  static var banner: String {
    "mosaic \(mosaicVersion) shell (\(LuaState.release)) — fleet, agent, heartbeat, mosaic"
      + " are loaded; Ctrl-D leaves"
  }

  /// Runs `<config>/init.lua` if there is one; its errors are reported, not fatal.
  static func runInit(_ session: ShellSession) {
    let path = session.runtime.paths.config + "/init.lua"
    guard Files.exists(path) else { return }
    if let message = session.runFile(path) {
      Console.error("mosaic: \(message)\n")
    }
  }

  // MARK: On a terminal

  static func interactive(_ session: ShellSession) -> Int32 {
    // With stdout redirected, the banner goes where the prompts go (as Python's does).
    if isatty(STDOUT_FILENO) == 1 {
      print(banner)
      Console.flush()
    } else {
      Console.error(banner + "\n")
    }
    runInit(session)
    let editor = LineEditor(
      historyFile: historyFile(session.runtime.paths), historySize: historySize,
      completer: session)
    guard let editor else {
      Console.error("mosaic: cannot start the line editor; reading plain lines\n")
      return loop(session, read: readPlain)
    }
    return loop(session, read: editor.read, remember: { editor.addHistory($0) })
  }

  /// `<state>/shell_history`, creating `<state>` (mode 0700); nil (history kept in memory
  /// only) if the directory cannot be made.
  static func historyFile(_ paths: MosaicPaths) -> String? {
    do {
      try Files.ensurePrivateDirectory(paths.state)
    } catch {
      Console.error("mosaic: shell history is not saved: \(error.message)\n")
      return nil
    }
    return paths.state + "/shell_history"
  }

  static func loop(
    _ session: ShellSession, read: (String) -> LineEditor.Input,
    remember: ([UInt8]) -> Void = { _ in }
  ) -> Int32 {
    var pending: [UInt8] = []
    while true {
      switch read(pending.isEmpty ? "> " : ">> ") {
      case .end:
        return ExitCode.ok
      case .failed(let why):
        Console.error("\nmosaic: cannot read the terminal: \(why)\n")
        return ExitCode.failure
      case .interrupted:
        pending = []
      case .line(let line):
        if pending.isEmpty && isBlank(line) { continue }
        remember(line)
        pending += pending.isEmpty ? line : [0x0A] + line
        switch session.evaluate(pending) {
        case .more:
          continue
        case .done:
          break
        case .failed(let message):
          Console.error(message + "\n")
        case .interrupted(let message):
          // The terminal has just echoed ^C where the output stopped.
          Console.error("\n" + message + "\n")
        }
        pending = []
      }
    }
  }

  /// Lines without libedit (when it cannot start): a prompt and a plain read.
  static func readPlain(prompt: String) -> LineEditor.Input {
    Console.writeAll(1, Array(prompt.utf8))
    guard let line = readStdinLine() else {
      Console.writeAll(1, [0x0A])
      return .end
    }
    return .line(line)
  }

  // MARK: Without a terminal

  static func script(_ session: ShellSession) -> Int32 {
    runInit(session)
    var pending: [UInt8] = []
    var lineNumber = 0
    var firstLine = 1
    var total = 0
    while let line = readStdinLine() {
      lineNumber += 1
      total += line.count + 1
      guard total <= maxScriptBytes else {
        Console.error("mosaic: stdin: a script larger than \(maxScriptBytes) bytes\n")
        return ExitCode.failure
      }
      if lineNumber == 1 && line.starts(with: [0x23, 0x21]) { continue }  // a #! line
      if pending.isEmpty {
        if isBlank(line) { continue }
        firstLine = lineNumber
        pending = line
      } else {
        pending += [0x0A] + line
      }
      switch session.evaluate(pending, firstLine: firstLine) {
      case .more:
        continue
      case .done:
        pending = []
      case .failed(let message), .interrupted(let message):
        Console.error("mosaic: \(absoluteLines(message))\n")
        return ExitCode.failure
      }
    }
    if !pending.isEmpty, case .more(let message) = session.evaluate(pending, firstLine: firstLine) {
      Console.error("mosaic: \(absoluteLines(message))\n")
      return ExitCode.failure
    }
    return ExitCode.ok
  }

  /// The most a script on stdin may hold, as for `mosaic run -`.
  static let maxScriptBytes = 64 << 20

  /// `stdin+K:N:` (a chunk that started on line K+1, see `_repl.compile`) as `stdin:<K+N>:`,
  /// and on the same line the parser's `at line M` as `at line <K+M>`.
  static func absoluteLines(_ message: String) -> String {
    let marker = Array("stdin+".utf8)
    let atLine = Array(" at line ".utf8)
    let b = Array(message.utf8)
    var out: [UInt8] = []
    var i = 0
    var offset: Int? = nil
    func number(_ at: inout Int) -> Int? {
      var v = 0
      let start = at
      while at < b.count, (0x30...0x39).contains(b[at]), at - start < 12 {
        v = v * 10 + Int(b[at] - 0x30)
        at += 1
      }
      return at > start ? v : nil
    }
    while i < b.count {
      if b[i...].starts(with: marker) {
        var j = i + marker.count
        if let k = number(&j), j < b.count, b[j] == 0x3A {
          j += 1
          if let n = number(&j), j < b.count, b[j] == 0x3A {
            out += Array("stdin:\(k + n):".utf8)
            offset = k
            i = j + 1
            continue
          }
        }
      }
      if let k = offset, b[i...].starts(with: atLine) {
        var j = i + atLine.count
        if let m = number(&j) {
          out += Array(" at line \(k + m)".utf8)
          i = j
          continue
        }
      }
      if b[i] == 0x0A { offset = nil }
      out.append(b[i])
      i += 1
    }
    return String(decoding: out, as: UTF8.self)
  }

  // MARK: Helpers

  /// One line of stdin without its newline, read through C stdio; nil at the end.
  static func readStdinLine() -> [UInt8]? {
    var buffer: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(buffer) }
    let count = mosaic_stdin_getline(&buffer, &capacity)
    guard count >= 0, let buffer else { return nil }
    var line = buffer.withMemoryRebound(to: UInt8.self, capacity: count) {
      Array(UnsafeBufferPointer(start: $0, count: count))
    }
    if line.last == 0x0A { line.removeLast() }
    if line.last == 0x0D { line.removeLast() }
    return line
  }

  static func isBlank(_ line: [UInt8]) -> Bool {
    line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
  }
}
