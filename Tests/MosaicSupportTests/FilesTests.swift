import Foundation
import MosaicSupport
import XCTest

/// `Files` on a real file system: atomic replacement, the trust checks on files other
/// processes write and on files mosaic runs as code, private directories.
final class FilesTests: XCTestCase {
  var dir = ""

  override func setUpWithError() throws {
    dir = NSTemporaryDirectory() + "mt-files-\(UInt32.random(in: 0..<UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    _ = chmod(dir, 0o700)
    try? FileManager.default.removeItem(atPath: dir)
  }

  func mode(_ path: String) -> mode_t {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
  }

  func write(_ path: String, _ text: String, mode: mode_t = 0o600) {
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
    XCTAssertEqual(chmod(path, mode), 0)
  }

  func testAtomicWritesReplaceWholeFilesWithTheModeAndLeaveNoTemporaries() throws {
    let path = dir + "/state.json"
    try Files.writeAtomically(path, "first")
    XCTAssertEqual(try Files.readText(path), "first")
    XCTAssertEqual(mode(path), 0o600)
    try Files.writeAtomically(path, Array(repeating: 0x61, count: 1 << 20), mode: 0o640)
    XCTAssertEqual(try Files.read(path).count, 1 << 20)
    XCTAssertEqual(mode(path), 0o640, "the new file's mode, whatever the umask")
    XCTAssertEqual(Files.list(dir), ["state.json"], "no temporary file left")

    // A symlink at the path is replaced, never written through.
    let target = dir + "/target"
    write(target, "keep")
    let link = dir + "/link"
    XCTAssertEqual(symlink(target, link), 0)
    try Files.writeAtomically(link, "new")
    XCTAssertEqual(try Files.readText(target), "keep")
    XCTAssertEqual(try Files.readText(link), "new")
    XCTAssertEqual(mode(link) & S_IFMT, 0, "link is now a regular file")

    // Readers running all along see the old or the new content, never a mix or nothing.
    let old = String(repeating: "o", count: 200_000)
    let new = String(repeating: "n", count: 200_000)
    try Files.writeAtomically(path, old)
    let stop = Flag()
    let seen = Flag()
    let reader = Thread {
      while !stop.value {
        let text = (try? Files.readText(path)) ?? "missing"
        if text != old && text != new { seen.set() }
      }
    }
    reader.start()
    for i in 0..<60 { try Files.writeAtomically(path, i % 2 == 0 ? new : old) }
    stop.set()
    while !reader.isFinished { usleep(1000) }
    XCTAssertFalse(seen.value, "a reader saw a half-written or missing file")
  }

  func testAFailedWriteLeavesTheOldFileAndNoTemporary() throws {
    let path = dir + "/kept"
    try Files.writeAtomically(path, "old")
    // The target is a directory: rename fails; the old file elsewhere is untouched.
    let sub = dir + "/sub"
    try FileManager.default.createDirectory(atPath: sub + "/x", withIntermediateDirectories: true)
    XCTAssertThrowsError(try Files.writeAtomically(sub, "text")) {
      XCTAssertTrue("\($0)".hasPrefix("\(sub): cannot replace: "), "\($0)")
    }
    XCTAssertEqual(Files.list(dir), ["kept", "sub"])
    // A missing directory: one line naming the path.
    XCTAssertThrowsError(try Files.writeAtomically(dir + "/no/such", "x")) {
      XCTAssertEqual(
        "\($0)", "\(dir)/no/such: cannot create a temporary file: No such file or directory")
    }
    XCTAssertEqual(try Files.readText(path), "old")
  }

  func testReadLimits() throws {
    let path = dir + "/big"
    try Files.writeAtomically(path, Array(repeating: 1, count: 5000))
    XCTAssertEqual(try Files.read(path, limit: 5000).count, 5000)
    XCTAssertThrowsError(try Files.read(path, limit: 4999)) {
      XCTAssertEqual("\($0)", "\(path): larger than 4999 bytes")
    }
    XCTAssertThrowsError(try Files.read(dir + "/none")) {
      XCTAssertEqual("\($0)", "\(dir)/none: No such file or directory")
    }
    XCTAssertEqual(Files.readTrusted(path, limit: 4999), .failure(.tooLarge(4999)))
    // /proc files report size 0 and are read to their end.
    XCTAssertFalse(try Files.read("/proc/self/status").isEmpty)
  }

  func testTrustChecksOnDataFiles() throws {
    let good = dir + "/agent.hb"
    write(good, "beat")
    XCTAssertEqual(Files.readTrusted(good, limit: 100), .success(Array("beat".utf8)))

    XCTAssertEqual(Files.readTrusted(dir + "/absent", limit: 100), .failure(.missing))
    XCTAssertEqual(Files.readTrusted(good + "/below", limit: 100), .failure(.missing))

    let link = dir + "/link.hb"
    XCTAssertEqual(symlink(good, link), 0)
    XCTAssertEqual(Files.readTrusted(link, limit: 100), .failure(.symlink))
    XCTAssertEqual(Files.readCode(link), .success(Array("beat".utf8)), "code follows symlinks")

    let loose = dir + "/loose"
    write(loose, "x", mode: 0o620)
    XCTAssertEqual(Files.readTrusted(loose, limit: 100), .failure(.writableByOthers(0o620)))
    XCTAssertEqual(
      Files.refusal(loose, .writableByOthers(0o620)),
      "\(loose): refusing to run it: group or world writable (mode 620); run: chmod go-w \(loose)")
    let world = dir + "/world"
    write(world, "x", mode: 0o602)
    XCTAssertEqual(Files.readCode(world), .failure(.writableByOthers(0o602)))

    XCTAssertEqual(Files.readTrusted(dir, limit: 100), .failure(.notRegular))
    // A FIFO with no writer must not block the reader.
    let fifo = dir + "/fifo"
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    XCTAssertEqual(Files.readTrusted(fifo, limit: 100), .failure(.notRegular))
    XCTAssertEqual(Files.readTrusted("/dev/null", limit: 100), .failure(.notRegular))

    // Another owner: refused for data; for code only root's files are trusted besides ours.
    let other = dir + "/other"
    write(other, "x")
    if geteuid() == 0 {
      XCTAssertEqual(chown(other, 4242, 4242), 0)
      XCTAssertEqual(Files.readTrusted(other, limit: 100), .failure(.otherOwner(4242)))
      XCTAssertEqual(Files.readCode(other), .failure(.otherOwner(4242)))
      XCTAssertEqual(
        Files.refusal(other, .otherOwner(4242)),
        "\(other): refusing to run it: owned by uid 4242, not by this user")
    } else {
      XCTAssertEqual(Files.readCode("/etc/hostname").map { !$0.isEmpty }, .success(true))
      XCTAssertEqual(Files.readTrusted("/etc/hostname", limit: 4096), .failure(.otherOwner(0)))
    }
  }

  func testTheTrustRuleItself() {
    var st = stat()
    st.st_mode = S_IFREG | 0o644
    st.st_uid = geteuid()
    st.st_size = 10
    XCTAssertNil(Files.distrust(st, limit: 10, policy: .data))
    XCTAssertEqual(Files.distrust(st, limit: 9, policy: .data), .tooLarge(9))
    st.st_uid = 0
    let rootOwned = Files.distrust(st, limit: 10, policy: .data)
    XCTAssertEqual(rootOwned, geteuid() == 0 ? nil : .otherOwner(0))
    XCTAssertNil(Files.distrust(st, limit: 10, policy: .code), "root's files are code")
    st.st_uid = geteuid() == 1 ? 2 : 1
    XCTAssertEqual(Files.distrust(st, limit: 10, policy: .code), .otherOwner(st.st_uid))
    st.st_uid = geteuid()
    st.st_mode = S_IFREG | 0o664
    XCTAssertEqual(Files.distrust(st, limit: 10, policy: .code), .writableByOthers(0o664))
    st.st_mode = S_IFDIR | 0o700
    XCTAssertEqual(Files.distrust(st, limit: 10, policy: .code), .notRegular)
  }

  func testPrivateDirectories() throws {
    let run = dir + "/a/b/run"
    try Files.ensurePrivateDirectory(run)
    XCTAssertEqual(mode(run), 0o700)
    XCTAssertTrue(Files.isDirectory(run))
    try Files.ensurePrivateDirectory(run)  // again: fine

    XCTAssertEqual(chmod(run, 0o770), 0)
    XCTAssertThrowsError(try Files.ensurePrivateDirectory(run)) {
      XCTAssertEqual(
        "\($0)", "\(run): group or world writable (mode 770); run: chmod 700 \(run)")
    }
    let link = dir + "/runlink"
    XCTAssertEqual(symlink(run, link), 0)
    XCTAssertThrowsError(try Files.ensurePrivateDirectory(link)) {
      XCTAssertEqual("\($0)", "\(link): refusing a run directory that is a symlink")
    }
    let file = dir + "/file"
    write(file, "x")
    XCTAssertThrowsError(try Files.ensurePrivateDirectory(file)) {
      XCTAssertEqual("\($0)", "\(file): not a directory")
    }
    XCTAssertThrowsError(try Files.ensurePrivateDirectory(file + "/below")) {
      XCTAssertEqual("\($0)", "\(file)/below: cannot create directory: Not a directory")
    }
    if geteuid() == 0 {
      let foreign = dir + "/foreign"
      try Files.makeDirectories(foreign, mode: 0o700)
      XCTAssertEqual(chown(foreign, 4242, 4242), 0)
      XCTAssertThrowsError(try Files.ensurePrivateDirectory(foreign)) {
        XCTAssertEqual("\($0)", "\(foreign): owned by uid 4242, not by this user")
      }
    }
  }
}

/// A flag shared with a thread.
final class Flag: @unchecked Sendable {
  private let lock = NSLock()
  private var raised = false
  var value: Bool { lock.withLock { raised } }
  func set() { lock.withLock { raised = true } }
}

/// `FileIdentity`: what makes a kept roster stale.
final class FileIdentityTests: XCTestCase {
  func testAnyRewriteChangesTheIdentityAndNothingElseDoes() throws {
    let dir = NSTemporaryDirectory() + "mt-identity-\(UInt32.random(in: 0..<UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/roster.lua"
    XCTAssertNil(FileIdentity(path), "no file, no identity")
    try Files.writeAtomically(path, "return {}\n")
    let first = try XCTUnwrap(FileIdentity(path))
    XCTAssertEqual(FileIdentity(path), first, "unchanged")
    _ = try Files.read(path)
    XCTAssertEqual(FileIdentity(path), first, "reading is no change")
    // The same bytes written in place (same inode, same size): the change time moves. The
    // kernel stamps files from a coarse clock (a few ms), so the write waits out one tick.
    usleep(20_000)
    let fd = open(path, O_WRONLY)
    XCTAssertGreaterThanOrEqual(fd, 0)
    XCTAssertEqual(write(fd, "return {}\n", 10), 10)
    close(fd)
    XCTAssertNotEqual(FileIdentity(path), first, "rewritten in place")
    let second = try XCTUnwrap(FileIdentity(path))
    usleep(20_000)
    try Files.writeAtomically(path, "return {}\n")
    XCTAssertNotEqual(FileIdentity(path), second, "replaced by rename")
    // A symlink is followed: its identity is the target's.
    XCTAssertEqual(symlink(path, dir + "/link.lua"), 0)
    XCTAssertEqual(FileIdentity(dir + "/link.lua"), FileIdentity(path))
  }
}
