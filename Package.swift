// swift-tools-version:6.0
// The mosaic package. Layers, bottom up:
//   CLua, CEditline      system libraries (Debian's liblua5.4-dev, libedit-dev)
//   CLuaShim, CLineEdit, C shims: Lua macros, error trampolines, hooks, allocator; libedit
//   CSystemdShim           globals; the user manager's ListUnitsByPatterns over sd-bus
//                          (libsystemd-dev's header; libsystemd.so.0 opened when first asked)
//   LuaBridge            the only Swift code that touches the Lua C API
//   MosaicSupport        JSON values, process spawning, paths, atomic files (no Lua, no fleet)
//   FleetCore            roster, tmux, systemd, /proc, heartbeat, the join (no Lua)
//   MosaicHost           binds FleetCore into Lua, embeds lua/, dispatches commands, the REPL
//   mosaic               the thin executable
import PackageDescription

let package = Package(
  name: "mosaic",
  products: [
    .executable(name: "mosaic", targets: ["mosaic"])
  ],
  targets: [
    .systemLibrary(
      name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
    .systemLibrary(
      name: "CEditline", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
    .target(name: "CLuaShim", dependencies: ["CLua"]),
    .target(name: "CSystemdShim"),
    .target(name: "CLineEdit", dependencies: ["CEditline"]),
    .target(name: "LuaBridge", dependencies: ["CLua", "CLuaShim", "MosaicSupport"]),
    .target(name: "MosaicSupport"),
    .target(name: "FleetCore", dependencies: ["MosaicSupport", "CSystemdShim"]),
    .target(
      name: "MosaicHost",
      dependencies: ["LuaBridge", "FleetCore", "MosaicSupport", "CLineEdit"],
      plugins: ["EmbedLua"]),
    .executableTarget(name: "mosaic", dependencies: ["MosaicHost"]),
    .executableTarget(name: "EmbedLuaTool", dependencies: ["CLua"]),
    .plugin(name: "EmbedLua", capability: .buildTool(), dependencies: ["EmbedLuaTool"]),
    .testTarget(name: "MosaicSupportTests", dependencies: ["MosaicSupport"]),
    .testTarget(name: "LuaBridgeTests", dependencies: ["LuaBridge", "MosaicSupport"]),
    .testTarget(name: "FleetCoreTests", dependencies: ["FleetCore", "MosaicSupport"]),
    .testTarget(
      name: "MosaicHostTests",
      dependencies: ["MosaicHost", "MosaicSupport", "FleetCore", "LuaBridge"]),
    .testTarget(
      name: "MosaicTests", dependencies: ["MosaicHost", "MosaicSupport", "FleetCore", "LuaBridge"]),
    .testTarget(
      name: "IntegrationTests", dependencies: ["FleetCore", "MosaicSupport"],
      exclude: ["Fixtures"]),
  ]
)
