import LuaBridge
import MosaicSupport

/// `mosaic shell`: the REPL (SPEC 2.9).
enum Shell {
  static func run(_ runtime: Runtime, argv: [String]) -> Int32 {
    runtime.runMain(module: "mosaic._repl", argv: argv)
  }
}
