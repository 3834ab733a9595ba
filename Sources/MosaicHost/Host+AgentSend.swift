import FleetCore
import LuaBridge
import MosaicSupport

extension Runtime {
  /// Raw agent primitives (Send); the friendly API is lua/mosaic/agent.lua.
  func agentSendFunctions() -> [(String, HostFunction)] {
    []
  }
}
