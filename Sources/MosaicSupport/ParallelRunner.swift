/// Runs several commands at the same time, each on a thread of its own and each bounded by
/// its own request's `timeout` (the runner kills a command's process group at its deadline),
/// and collects every result in the order of the requests. The fan-out to other hosts
/// (`fleet ps` over ssh) costs the slowest host, not the sum of them all.
public enum ParallelRunner {
  public static func runAll(
    _ requests: [CommandRequest], runner: any CommandRunner = SpawnRunner()
  ) -> [Result<CommandResult, SpawnError>] {
    if requests.count == 1 { return [Self.one(requests[0], runner)] }
    let jobs = requests.map { request in
      Background { Self.one(request, runner) }
    }
    return jobs.map { $0.wait() }
  }

  private static func one(_ request: CommandRequest, _ runner: any CommandRunner) -> Result<
    CommandResult, SpawnError
  > {
    do throws(SpawnError) {
      return .success(try runner.run(request))
    } catch {
      return .failure(error)
    }
  }
}
