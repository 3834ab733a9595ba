import Foundation
import PackagePlugin

/// Embeds every `.lua` file under the package's `lua/` folder into the target that uses
/// this plugin, as `EmbeddedLua.files` (relative path → source text), so the `mosaic`
/// binary runs when copied alone to another machine.
///
/// SwiftPM may reuse this plugin's command list from an earlier build, so a Lua file added
/// since would be missing from it. The command therefore also depends on every directory
/// under `lua/` (adding or removing a file changes its directory), and the tool walks
/// `lua/` itself rather than trusting the list.
@main
struct EmbedLua: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
    let luaDir = context.package.directoryURL.appending(path: "lua")
    var inputs: [URL] = [luaDir]
    let keys: [URLResourceKey] = [.isDirectoryKey]
    if let walker = FileManager.default.enumerator(at: luaDir, includingPropertiesForKeys: keys) {
      for case let url as URL in walker {
        let isDirectory = (try? url.resourceValues(forKeys: Set(keys)).isDirectory) ?? false
        if isDirectory || url.pathExtension == "lua" { inputs.append(url) }
      }
    }
    // The docs too (docs/**.md, keyed "docs/<path>"), for the REPL's help() and man pages.
    let docsDir = context.package.directoryURL.appending(path: "docs")
    inputs.append(docsDir)
    if let walker = FileManager.default.enumerator(at: docsDir, includingPropertiesForKeys: keys) {
      for case let url as URL in walker {
        let isDirectory = (try? url.resourceValues(forKeys: Set(keys)).isDirectory) ?? false
        if isDirectory || url.pathExtension == "md" { inputs.append(url) }
      }
    }
    inputs.sort { $0.path < $1.path }
    let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedLua.swift")
    return [
      .buildCommand(
        displayName: "Embedding Lua files from lua/",
        executable: try context.tool(named: "EmbedLuaTool").url,
        arguments: [luaDir.path, output.path, docsDir.path],
        inputFiles: inputs,
        outputFiles: [output])
    ]
  }
}
