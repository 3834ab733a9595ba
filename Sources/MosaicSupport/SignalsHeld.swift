#if canImport(Glibc)
  import Glibc
#endif

/// Runs a step that must not be cut in half by the signals that end mosaic (SIGTERM,
/// SIGINT, SIGHUP): they are held (blocked) while `body` runs and act as soon as it
/// returns. Child processes start with an empty mask (`SpawnRunner`), so the tmux calls
/// inside the step are not affected.
public enum SignalsHeld {
  public static func during<T>(_ body: () -> T) -> T {
    var held = sigset_t()
    var previous = sigset_t()
    sigemptyset(&held)
    for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&held, s) }
    pthread_sigmask(SIG_BLOCK, &held, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    return body()
  }
}
