import Foundation
import PackagePlugin

/// Embeds every file under the package's `lua/` folder into the target that uses this
/// plugin, as `EmbeddedLua.files` (relative path → source text), so the `mosaic` binary
/// runs when copied alone to another machine.
@main
struct EmbedLua: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
    let luaDir = context.package.directoryURL.appending(path: "lua")
    var inputs: [URL] = []
    if let walker = FileManager.default.enumerator(at: luaDir, includingPropertiesForKeys: nil) {
      for case let url as URL in walker where url.pathExtension == "lua" {
        inputs.append(url)
      }
    }
    inputs.sort { $0.path < $1.path }
    let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedLua.swift")
    return [
      .buildCommand(
        displayName: "Embedding \(inputs.count) Lua files from lua/",
        executable: try context.tool(named: "EmbedLuaTool").url,
        arguments: [luaDir.path, output.path] + inputs.map(\.path),
        inputFiles: inputs,
        outputFiles: [output])
    ]
  }
}
