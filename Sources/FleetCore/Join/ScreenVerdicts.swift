import MosaicSupport

extension RowContext {
  /// The screen rules' verdict (as `activity`, nil when no rule holds) of each found pane,
  /// by pane id: kept ones from `screenCache` when the listing shows the same screen, the
  /// others from one `tmux.screens` call; a pane whose screen could not be captured is
  /// missing. Entries of panes that are gone are dropped from the cache.
  func screenVerdicts(_ founds: [Found]) -> [String: Activity?] {
    var cache =
      screenCache.map { ScreenVerdictCache.load(path: $0, socket: tmux.socket) }
      ?? ScreenVerdictCache(socket: tmux.socket)
    var out: [String: Activity?] = [:]
    var capture: [(Found, RuntimeProfile, ScreenVerdictCache.Key?)] = []
    var fingerprints: [String: String] = [:]  // by profile name: one per runtime, not per pane
    for f in founds {
      guard let profile = profile(f) else { continue }
      let fingerprint =
        fingerprints[profile.name]
        ?? {
          let print = ScreenVerdictCache.fingerprint(profile)
          fingerprints[profile.name] = print
          return print
        }()
      let key = ScreenVerdictCache.Key(pane: f.pane, fingerprint: fingerprint)
      if let key, let kept = cache.verdict(for: key) {
        out[f.pane.paneId] = kept.activity(profile: profile)
      } else {
        capture.append((f, profile, key))
      }
    }
    if !capture.isEmpty {
      let started = planes.now()
      let screens = tmux.screens(capture.map(\.0.pane.paneId))
      for (f, profile, key) in capture {
        guard let screen = screens[f.pane.paneId] else { continue }
        let verdict = reader.verdict(screen, profile: profile)
        out[f.pane.paneId] = verdict.activity(profile: profile)
        if let key, key.keeps(screen, capturedFrom: started) { cache.keep(verdict, for: key) }
      }
    }
    if let path = screenCache {
      // Every live agent pane keeps its entry (a `--tenant` run looks at some of them only).
      cache.retain(Set(foregrounds.keys).union(founds.map(\.pane.paneId)))
      cache.save(path: path)
    }
    return out
  }
}
