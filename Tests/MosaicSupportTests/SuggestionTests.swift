import MosaicSupport
import XCTest

/// The one "did you mean" rule of the whole program.
final class SuggestionTests: XCTestCase {
  func testTyposWithinTheLimitAreSuggested() {
    XCTAssertEqual(Suggestion.closest(to: "hepl", in: ["help", "shell"]), "help")  // a swap
    XCTAssertEqual(Suggestion.closest(to: "runtim", in: ["runtime", "name"]), "runtime")
    XCTAssertEqual(Suggestion.closest(to: "Session", in: ["session"]), "session")
    XCTAssertEqual(
      Suggestion.closest(to: "heartbeat-interval", in: ["heartbeat_interval"]),
      "heartbeat_interval")
    XCTAssertEqual(
      Suggestion.closest(to: "interval", in: ["heartbeat_interval"]), "heartbeat_interval")
    XCTAssertEqual(Suggestion.closest(to: "cluade", in: ["claude", "codex"]), "claude")
    XCTAssertEqual(Suggestion.closest(to: "revewer", in: ["coder-1", "reviewer"]), "reviewer")
  }

  func testFarWordsAreNot() {
    XCTAssertNil(Suggestion.closest(to: "nosuchcmd", in: ["help", "shell", "run"]))
    XCTAssertNil(Suggestion.closest(to: "ab", in: ["xy"]))
    XCTAssertNil(Suggestion.closest(to: "", in: ["a"]))
    XCTAssertNil(Suggestion.closest(to: "abc", in: []))
    // Short words allow one edit, longer ones more.
    XCTAssertNil(Suggestion.closest(to: "abcd", in: ["axyd"]))
    XCTAssertEqual(Suggestion.closest(to: "abcde", in: ["axcye"]), "axcye")
  }

  func testDistanceCountsASwapAsOneEdit() {
    XCTAssertEqual(Suggestion.distance("ab", "ba"), 1)
    XCTAssertEqual(Suggestion.distance("kitten", "sitting"), 3)
    XCTAssertEqual(Suggestion.distance("", "abc"), 3)
    XCTAssertEqual(Suggestion.hint(for: "pss", in: ["ps"]), " (did you mean 'ps'?)")
    XCTAssertEqual(Suggestion.hint(for: "zzzzzz", in: ["ps"]), "")
  }
}
