#if canImport(Glibc)
  import Glibc
#endif

/// Runs a closure on a thread of its own and hands back its result: `fleet ps` waits for
/// tmux and systemd at the same time instead of one after the other.
///
/// The closure must not touch state the caller uses before `wait()` returns.
public final class Background<T>: @unchecked Sendable {
  private let slot: ResultSlot<T>
  private var thread = pthread_t()
  private var started = false

  public init(_ body: @escaping () -> T) {
    let slot = ResultSlot<T>()
    self.slot = slot
    let job = ThreadJob { slot.value = body() }
    let context = Unmanaged.passRetained(job).toOpaque()
    if pthread_create(&thread, nil, threadEntry, context) == 0 {
      started = true
    } else {
      // No thread to be had: run it here.
      Unmanaged<ThreadJob>.fromOpaque(context).release()
      job.run()
    }
  }

  /// The closure's result (waits for the thread).
  public func wait() -> T {
    if started {
      pthread_join(thread, nil)
      started = false
    }
    return slot.value!
  }
}

private final class ResultSlot<T>: @unchecked Sendable {
  var value: T?
}

private final class ThreadJob: @unchecked Sendable {
  let run: () -> Void
  init(_ run: @escaping () -> Void) { self.run = run }
}

private func threadEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  Unmanaged<ThreadJob>.fromOpaque(raw!).takeRetainedValue().run()
  return nil
}

/// `items.map(transform)`, with the second half of the items done on a thread of its own
/// when there are more than `threshold` of them: `fleet ps` reads a few small `/proc` files per
/// pane, and a thousand panes' reads take two cores' worth of kernel time. `transform` must be
/// safe to call from two threads at once.
public func mapInHalves<T, R>(
  _ items: [T], threshold: Int = 64, _ transform: @escaping (T) -> R
) -> [R] {
  guard items.count > threshold else { return items.map(transform) }
  let half = items.count / 2
  let tail = Array(items[half...])
  let other = Background { tail.map(transform) }
  var out = items[..<half].map(transform)
  out += other.wait()
  return out
}
