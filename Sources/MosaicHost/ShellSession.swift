import LuaBridge
import MosaicSupport

/// The shell's evaluator: compiles input with `mosaic._repl`, runs it where Ctrl-C can
/// stop it, prints the values, and answers Tab completion. One per shell; it owns the
/// Lua stack between calls (every method leaves it as it found it).
final class ShellSession {
  enum Outcome {
    /// The input ran (its values, if any, are printed).
    case done
    /// The input is incomplete; the message is Lua's if it ends here.
    case more(String)
    /// A syntax or runtime error: the message, with a traceback for runtime errors.
    case failed(String)
    /// Stopped by Ctrl-C (or a limit): the message and where it stopped.
    case interrupted(String)
  }

  let runtime: LuaRuntime
  private var lua: LuaState { runtime.lua }
  private static let replKey = "mosaic.shell.repl"

  init(_ runtime: LuaRuntime) throws(LuaError) {
    self.runtime = runtime
    let lua = runtime.lua
    let base = lua.top
    defer { lua.top = base }
    lua.getGlobal("require")
    lua.pushString("mosaic._repl")
    try lua.call(nargs: 1, nresults: 1)
    lua.setRegistry(Self.replKey)
  }

  /// Compiles `source` as the REPL does (an expression gives its values) and, when it is
  /// complete, runs it and prints what it returns. `firstLine` numbers the lines of a
  /// script read from stdin; interactive input counts from 1 for each entry.
  func evaluate(_ source: [UInt8], firstLine: Int? = nil) -> Outcome {
    let base = lua.top
    defer {
      lua.top = base
      lua.clearAbort()
      Console.flush()
    }
    lua.getRegistry(Self.replKey)
    lua.getField("compile", in: -1)
    lua.pushBytes(source)
    if let firstLine { lua.pushInteger(Int64(firstLine)) } else { lua.pushNil() }
    do {
      try lua.call(nargs: 2, nresults: 2)
    } catch {
      return .failed(error.message)
    }
    // Stack: repl, status, function or message.
    switch lua.string(at: -2) {
    case "ready":
      break
    case "more":
      return .more(lua.string(at: -1) ?? "incomplete input")
    default:
      return .failed(lua.errorMessage(at: -1))
    }
    let chunk = lua.top
    do {
      try lua.catchingInterrupts { () throws(LuaError) in
        try lua.call(nargs: 0)
        let count = lua.top - chunk + 1
        guard count > 0 else { return }
        lua.getField("show", in: base + 1)
        for i in 0..<count { lua.pushValue(chunk + i) }
        try lua.call(nargs: count, nresults: 0)
      }
    } catch {
      return error.kind == .aborted ? .interrupted(error.message) : .failed(error.message)
    }
    return .done
  }

  /// Runs a file (`<config>/init.lua`) as a chunk of its own; nil if it ran, else the
  /// message with a traceback.
  func runFile(_ path: String) -> String? {
    let base = lua.top
    defer {
      lua.top = base
      lua.clearAbort()
      Console.flush()
    }
    let source: [UInt8]
    switch Files.readCode(path) {
    case .success(let bytes): source = bytes
    case .failure(let refused): return Files.refusal(path, refused)
    }
    do {
      try lua.load(source, name: "@" + path)
      try runtime.runTopLevel(nargs: 0)
    } catch {
      return error.message
    }
    return nil
  }

  /// Tab completion for the text before the cursor: the candidates and the part of the
  /// line they replace (see `_repl.complete`). Nil when completion itself failed.
  func completions(for line: [UInt8]) -> (candidates: [String], partial: String)? {
    let base = lua.top
    defer {
      lua.top = base
      lua.setTimeLimit(0)
      lua.clearAbort()
    }
    lua.getRegistry(Self.replKey)
    lua.getField("complete", in: -1)
    lua.pushBytes(line)
    lua.setTimeLimit(1)
    do {
      try lua.call(nargs: 1, nresults: 2, traceback: false)
    } catch {
      return nil
    }
    let partial = lua.string(at: -1) ?? ""
    let list = lua.top - 1
    var candidates: [String] = []
    while true {
      lua.rawGet(index: list, at: Int64(candidates.count + 1))
      defer { lua.pop() }
      guard let name = lua.string(at: -1) else { break }
      candidates.append(name)
    }
    return (candidates, partial)
  }
}
