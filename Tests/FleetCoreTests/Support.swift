import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func waitUntil(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
  let deadline = Clock.monotonic() + timeout
  while Clock.monotonic() < deadline {
    if condition() { return true }
    usleep(20_000)
  }
  return condition()
}
