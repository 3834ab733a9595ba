import FleetCore
import LuaBridge
import MosaicSupport

extension Runtime {
  /// Raw agent primitives (Watch); the friendly API is lua/mosaic/agent.lua.
  func agentWatchFunctions() -> [(String, HostFunction)] {
    []
  }
}
