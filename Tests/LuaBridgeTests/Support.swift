import LuaBridge
import MosaicSupport
import XCTest

/// The error `body` throws as a `LuaError`, or nil (any other error fails the test).
func luaError(
  _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line
) -> LuaError? {
  do {
    try body()
    return nil
  } catch let error as LuaError {
    return error
  } catch {
    XCTFail("expected a LuaError, got \(error)", file: file, line: line)
    return nil
  }
}

/// Runs Lua code made of `assert(...)` lines; a failed assertion fails the test with its
/// message (so the failure says which check broke).
func check(
  _ lua: LuaState, _ code: String, file: StaticString = #filePath, line: UInt = #line
) {
  do {
    try lua.run(code, name: "=check")
  } catch {
    XCTFail("Lua check failed: \(error.message)", file: file, line: line)
  }
}

/// The JSON kind of a value, spelled out: `==` on JSONValue treats 1 and 1.0 as equal, and
/// these tests care about the difference.
func kind(_ value: JSONValue) -> String {
  switch value {
  case .null: return "null"
  case .bool: return "bool"
  case .int: return "int"
  case .double: return "double"
  case .string: return "string"
  case .array: return "array"
  case .object: return "object"
  }
}

/// Object keys in order (nil for anything else).
func keys(_ value: JSONValue) -> [String]? {
  guard case .object(let pairs) = value else { return nil }
  return pairs.map { $0.0 }
}

/// Lets another thread poke a state (only thread-safe members: `requestInterrupt`).
final class StateHandle: @unchecked Sendable {
  let lua: LuaState
  init(_ lua: LuaState) { self.lua = lua }
}

/// A fresh empty directory under the temporary directory.
func makeTempDir(_ prefix: String) -> String {
  var template = Array("\(NSTemporaryDirectory())/\(prefix)-XXXXXX".utf8CString)
  let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
  precondition(made != nil, "mkdtemp failed")
  return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
