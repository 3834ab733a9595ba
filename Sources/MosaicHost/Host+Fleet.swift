import LuaBridge
import MosaicSupport

extension Runtime {
  /// Raw fleet primitives (roster, ps, probe, heartbeat).
  func fleetFunctions() -> [(String, HostFunction)] {
    []
  }
}
