#if canImport(Glibc)
  import Glibc
#endif

/// Where a command's time goes, on standard error, when `MOSAIC_TIMING` is set (to anything
/// but empty): one line a step, `mosaic: timing: <ms since start> ms (+<ms since the last
/// step>) <step>`. `fleet ps` marks its planes, so an operator whose listing is slow sees
/// which plane is (docs/guide.md, "What fleet ps costs").
public enum Timing {
  static let enabled = Environment.nonEmpty("MOSAIC_TIMING") != nil
  nonisolated(unsafe) static var last = Clock.monotonic()
  static let start = last

  /// Writes the step's line (nothing when timing is off). Not for use from two threads at once.
  public static func mark(_ step: String) {
    guard enabled else { return }
    let now = Clock.monotonic()
    let line =
      "mosaic: timing: " + ms(now - start) + " ms (+" + ms(now - last) + ") " + step + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    last = now
  }

  private static func ms(_ seconds: Double) -> String {
    let tenths = Int((seconds * 10_000).rounded())
    return "\(tenths / 10).\(tenths % 10)"
  }
}
