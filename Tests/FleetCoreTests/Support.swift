import FleetCore
import MosaicSupport
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func waitUntil(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
  let deadline = Clock.monotonic() + timeout
  while Clock.monotonic() < deadline {
    if condition() { return true }
    usleep(20_000)
  }
  return condition()
}

/// A roster value validated as `roster.lua` on host `vm1`.
func validateRoster(_ value: JSONValue) throws(RosterError) -> Roster {
  try RosterValidator.validate(value, path: "roster.lua", defaultHost: "vm1")
}

/// The message of the error validating `value` throws (one line), or a test failure.
func rosterError(
  _ value: JSONValue, file: StaticString = #filePath, line: UInt = #line
) -> String {
  do {
    let r = try validateRoster(value)
    XCTFail("expected an error, got \(r)", file: file, line: line)
    return ""
  } catch {
    let text = error.description
    XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
    return text
  }
}
