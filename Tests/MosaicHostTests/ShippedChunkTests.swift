import XCTest

@testable import MosaicHost

/// The shipped Lua files come compiled at build time (EmbedLuaTool), so no start parses them:
/// every one has its chunk, the chunk keeps the file's name and lines for tracebacks, and
/// `require` and the command dispatcher run the chunk, not the source.
final class ShippedChunkTests: LuaHostTestCase {
  func testEveryShippedLuaFileHasAChunkThatLoads() {
    let files = LuaRuntime.shippedPaths.filter { $0.hasSuffix(".lua") }
    XCTAssertGreaterThan(files.count, 30)
    for path in files {
      guard let chunk = LuaRuntime.shippedChunk(path) else {
        XCTFail("\(path): no compiled chunk")
        continue
      }
      XCTAssertEqual(Array(chunk.prefix(4)), [0x1b, 0x4c, 0x75, 0x61], "\(path): bytecode header")
      XCTAssertTrue(runtime.lua.loadShippedChunk(chunk), "\(path): does not load")
      runtime.lua.pop()
    }
    XCTAssertNil(LuaRuntime.shippedChunk("docs/guide.md"), "documents are not compiled")
    XCTAssertFalse(runtime.lua.loadShippedChunk(Array("return 1".utf8)), "text is not bytecode")
  }

  func testModulesAndCommandsRunFromTheirChunksWithTheirNamesAndLines() {
    lua(
      """
      local host = require "mosaic._host"
      local fn = host.shipped_chunk("mosaic/row.lua")
      eq(type(fn), "function", "a chunk loads as a function")
      eq(debug.getinfo(fn, "S").source, "@[mosaic]/mosaic/row.lua", "its name")
      eq(host.shipped_chunk("mosaic/nope.lua"), nil, "no such file")
      local info = debug.getinfo(require("mosaic.fleet").ps, "S")
      eq(info.source, "@[mosaic]/mosaic/fleet.lua", "require ran the shipped chunk")
      check(info.linedefined > 1, "with its lines")
      local found = require("mosaic._dispatch").find({ "fleet", "ps" })
      eq(found.shipped, "commands/fleet/ps.lua", "the dispatcher knows the shipped command")
      eq(debug.getinfo(host.shipped_chunk(found.shipped), "S").source, found.chunkname, "same name")
      """)
  }

  func testALatin1LiteralDecodesToItsBytes() {
    let bytes = (0...255).map { UInt8($0) }
    let literal = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    XCTAssertEqual(LuaRuntime.latin1Bytes(literal), bytes)
  }
}
