import FleetCore
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Loads a roster file: evaluates it in a fresh Lua state (standard libraries only, a
/// time limit and a memory cap, so a broken roster cannot hang or exhaust `fleet ps`),
/// converts the returned table and validates it (SPEC 2.2). Errors are one line.
public struct RosterLoadError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

public enum RosterLoader {
  /// Seconds a roster may take to evaluate, at most.
  public static let timeLimit = 2.0

  public static func load(
    path: String, host: String = shortHostName(), timeLimit: Double = RosterLoader.timeLimit
  ) -> Result<Roster, RosterLoadError> {
    // The first run: no roster yet. Say how to make one rather than "No such file".
    var st = stat()
    if lstat(path, &st) != 0, errno == ENOENT {
      return .failure(
        RosterLoadError(
          message: "roster: \(path): no roster yet ('mosaic fleet init' writes one)"))
    }
    // The roster is code: the same trust check as every file mosaic runs (SPEC 2.2), and
    // an open that cannot block (a FIFO is refused, not waited on).
    let source: [UInt8]
    switch Files.readCode(path, limit: 4 << 20) {
    case .success(let bytes): source = bytes
    case .failure(let refused):
      return .failure(RosterLoadError(message: "roster: " + Files.refusal(path, refused)))
    }
    let value: JSONValue
    do {
      let lua = try LuaState(memoryLimit: 64 << 20)
      lua.setTimeLimit(max(timeLimit, 0.001))
      try lua.load(MosaicCLI.stripShebang(source), name: "@" + path)
      try lua.call(nargs: 0, nresults: 1, traceback: false)
      guard lua.type(at: -1) == .table else {
        return .failure(
          RosterLoadError(
            message: "roster: \(path): must return a table, got \(lua.typeName(at: -1))"))
      }
      do {
        value = try lua.json(at: -1)
      } catch {
        var where_ =
          error.message.hasPrefix("value") ? "roster" + error.message.dropFirst(5) : error.message
        // `0/0`, `1/0`: say what is wrong in the operator's terms, not JSON's.
        if where_.hasSuffix(" is not a JSON number"), let colon = where_.lastIndex(of: ":") {
          let got = where_[colon...].dropFirst(2).dropLast(" is not a JSON number".count)
          where_ =
            String(where_[..<colon]) + ": must be a finite number, got "
            + (got.hasSuffix("nan") ? "NaN (0/0)" : got.hasPrefix("-") ? "-inf" : "inf")
        }
        return .failure(RosterLoadError(message: "roster: \(path): \(where_)"))
      }
    } catch {
      if error.kind == .aborted {
        return .failure(
          RosterLoadError(
            message: "roster: \(path): \(error.message.split(separator: "\n").first ?? "") "
              + "(evaluating it may take at most 2 s and 64 MiB)"))
      }
      let first = error.message.split(separator: "\n").first.map(String.init) ?? error.message
      return .failure(RosterLoadError(message: "roster: \(first)"))
    }
    let roster: Roster
    do throws(RosterError) {
      roster = try RosterValidator.validate(value, path: path, defaultHost: host)
    } catch {
      return .failure(RosterLoadError(message: "roster: \(error.description)"))
    }
    // `match` is a Lua pattern: compiled here, so a broken one is an error naming the agent
    // and field, not an agent that silently shows drift.
    let matcher = PatternMatcher()
    var valid = Set<String>()  // a fleet's agents mostly share a few patterns
    for agent in roster.agents {
      guard let pattern = agent.match, !valid.contains(pattern) else { continue }
      guard let why = matcher.compileError(pattern) else {
        valid.insert(pattern)
        continue
      }
      return .failure(
        RosterLoadError(
          message:
            "roster: \(path): agent \"\(agent.name)\": field \"match\" is not a valid Lua "
            + "pattern: \(why)"))
    }
    return .success(roster)
  }
}

/// Lua's `string.find` for roster `match` patterns, in a small state of its own (never the
/// caller's, which may be inside a coroutine).
final class PatternMatcher {
  private var lua: LuaState?

  /// Why `pattern` is not a valid Lua pattern (Lua's own message), or nil when it is. It is
  /// tried against an empty subject and against one that reaches its every item.
  func compileError(_ pattern: String) -> String? {
    for subject in ["", pattern] {
      if case .failure(let e) = find(subject, pattern) { return e.message }
    }
    return nil
  }

  /// Answers already computed, by pattern then subject: a fleet's agents share patterns and
  /// often their subjects (the same program line, the same prompt row).
  private var answers: [String: [String: Bool]] = [:]

  func matches(_ subject: String, _ pattern: String) -> Bool {
    if let known = answers[pattern]?[subject] { return known }
    let answer = (try? find(subject, pattern).get()) ?? false
    if subject.utf8.count <= 4096 { answers[pattern, default: [:]][subject] = answer }
    return answer
  }

  struct PatternError: Error { var message: String }

  /// `string.find(subject, pattern) ~= nil`, or Lua's error (a bad pattern), in at most 1 s.
  private func find(_ subject: String, _ pattern: String) -> Result<Bool, PatternError> {
    if lua == nil { lua = try? LuaState(memoryLimit: 16 << 20) }
    guard let lua else { return .failure(PatternError(message: "no Lua state to check it")) }
    let base = lua.top
    defer { lua.top = base }
    lua.getGlobal("string")
    lua.getField("find", in: -1)
    lua.pushString(subject)
    lua.pushString(pattern)
    lua.setTimeLimit(1)
    defer { lua.setTimeLimit(0) }
    do {
      try lua.call(nargs: 2, nresults: 1, traceback: false)
    } catch {
      lua.clearAbort()
      return .failure(
        PatternError(
          message: error.message.split(separator: "\n").first.map(String.init) ?? error.message))
    }
    return .success(lua.type(at: -1) != .nil)
  }
}
