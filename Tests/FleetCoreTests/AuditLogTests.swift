import FleetCore
import Foundation
import MosaicSupport
import XCTest

/// The audit log is size-bounded: it rotates to audit.log.1 ... .<keep> before a record
/// would take it past maxBytes, loses no record while rotating (also with concurrent
/// writers), and never splits a line.
final class AuditLogTests: XCTestCase {
  var dir = ""

  override func setUpWithError() throws {
    dir =
      NSTemporaryDirectory() + "mt-audit-" + String(UInt32.random(in: 0..<UInt32.max), radix: 16)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

  static func record(_ i: Int, writer: Int = 0) -> JSONValue {
    .object([("action", .string("attach")), ("writer", .int(Int64(writer))), ("i", .int(Int64(i)))])
  }

  func lines(_ path: String) -> [String] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "\(path) ends mid-line")
    return text.split(separator: "\n").map(String.init)
  }

  func testRotatesBeforeTheLimitAndKeepsTheNewestFiles() throws {
    let log = AuditLog(stateDir: dir, maxBytes: 200, keep: 2)
    let size = JSONCodec.encode(Self.record(100)).utf8.count + 1
    for i in 100..<160 { try log.append(Self.record(i)) }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    XCTAssertEqual(names, ["audit.log", "audit.log.1", "audit.log.2"])
    var seen: [Int] = []
    for name in ["audit.log.2", "audit.log.1", "audit.log"] {
      let path = dir + "/" + name
      let attributes = try FileManager.default.attributesOfItem(atPath: path)
      XCTAssertLessThanOrEqual((attributes[.size] as? Int) ?? -1, 200, name)
      XCTAssertEqual((attributes[.posixPermissions] as? Int) ?? 0, 0o600, name)
      for line in lines(path) {
        let value = try JSONCodec.decode(Array(line.utf8))
        seen.append(Int(try XCTUnwrap(value["i"]?.intValue)))
      }
    }
    // The newest records, in order, without a gap: three files of 200 / size records each.
    let perFile = 200 / size
    XCTAssertEqual(seen, Array((160 - seen.count)..<160))
    XCTAssertEqual(seen.count, 2 * perFile + (60 % perFile == 0 ? perFile : 60 % perFile))
  }

  func testConcurrentWritersLoseNothing() throws {
    let log = AuditLog(stateDir: dir, maxBytes: 2000, keep: 10_000)
    let writers = 8
    let each = 150
    let failures = LockedCounter()
    DispatchQueue.concurrentPerform(iterations: writers) { w in
      for i in 0..<each {
        do { try log.append(AuditLogTests.record(i, writer: w)) } catch { failures.add() }
      }
    }
    XCTAssertEqual(failures.value, 0)
    var count = 0
    var perWriter = [Int: [Int]]()
    for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
      let path = dir + "/" + name
      let attributes = try FileManager.default.attributesOfItem(atPath: path)
      // A writer that held the file while another rotated it may append past the limit,
      // but by less than one record per writer.
      XCTAssertLessThan((attributes[.size] as? Int) ?? Int.max, 2000 + writers * 64, name)
      for line in lines(path) {
        let value = try JSONCodec.decode(Array(line.utf8))
        count += 1
        perWriter[Int(value["writer"]?.intValue ?? -1), default: []].append(
          Int(value["i"]?.intValue ?? -1))
      }
    }
    XCTAssertEqual(count, writers * each)
    for w in 0..<writers {
      XCTAssertEqual(perWriter[w]?.sorted(), Array(0..<each), "writer \(w)")
    }
    XCTAssertGreaterThan(try FileManager.default.contentsOfDirectory(atPath: dir).count, 10)
  }

  func testAnUnsafeLogIsStillRefused() throws {
    let log = AuditLog(stateDir: dir, maxBytes: 100, keep: 1)
    try log.append(Self.record(1))
    chmod(log.path, 0o666)
    XCTAssertThrowsError(try log.append(Self.record(2))) { error in
      XCTAssertTrue("\(error)".contains("writable"), "\(error)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: log.path + ".1"))
  }
}

final class LockedCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var n = 0
  func add() { lock.withLock { n += 1 } }
  var value: Int { lock.withLock { n } }
}
