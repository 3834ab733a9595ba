import MosaicSupport

/// One other host's answer to `fleet ps --json` over ssh: its roster name and destination,
/// and either a transport error (no connection, timeout, non-zero exit) or what it printed.
public struct HostAnswer: Sendable {
  public var name: String
  public var ssh: String
  public var error: String?
  public var stdout: [UInt8]

  public init(name: String, ssh: String, error: String?, stdout: [UInt8]) {
    self.name = name
    self.ssh = ssh
    self.error = error
    self.stdout = stdout
  }
}

/// Joins this host's `fleet ps` snapshot with other hosts' answers (SPEC 2.12), as JSON
/// values, without Lua tables (at 50 hosts of 200 agents, building the Lua tables of every
/// answer and encoding them again cost seconds).
///
/// Each answering host's own rows (those whose `host` is the name it reports for itself)
/// replace the null-cell rows the local snapshot has for the same host and name, under the
/// roster's name for the host; other rows it lists are appended. Its warnings are carried
/// with `host` set and the message prefixed. A host that did not answer, or whose answer is
/// not a fleet ps document, is `host-unreachable` and keeps its null-cell rows. The local
/// `remote-agents` warning goes (the other hosts are read now). `hosts` (this machine
/// first) goes before `agents`.
public enum HostsMerge {
  public static func merge(local: JSONValue, answers: [HostAnswer], here: String) -> JSONValue {
    guard case .object(let top) = local else { return local }
    var warnings: [JSONValue] = []
    for w in local["warnings"]?.arrayValue ?? [] where w["code"]?.stringValue != "remote-agents" {
      warnings.append(w)
    }
    var rows = local["agents"]?.arrayValue ?? []
    var index: [String: Int] = [:]
    for (i, row) in rows.enumerated() {
      index[key(row["host"]?.stringValue ?? "", row["name"]?.stringValue ?? "")] = i
    }
    var entries: [JSONValue] = [
      entry(here, reachable: true, error: nil, generatedAt: local["generated_at"]?.stringValue)
    ]

    for answer in answers {
      var why = answer.error
      var remote: JSONValue? = nil
      if why == nil {
        do throws(JSONCodec.DecodeError) {
          let doc = try JSONCodec.decode(answer.stdout)
          if doc["agents"]?.arrayValue != nil {
            remote = doc
          } else {
            why = "not a fleet ps answer: no agents"
          }
        } catch {
          why = "not a fleet ps answer: \(error.description)"
        }
      }
      guard let remote, why == nil else {
        let message = why ?? "no answer"
        entries.append(entry(answer.name, reachable: false, error: message, generatedAt: nil))
        warnings.append(
          warning(
            FleetWarning.Code.hostUnreachable.rawValue,
            "host \(answer.name) (\(answer.ssh)) unreachable: \(message); its agents' cells are unknown",
            host: answer.name))
        continue
      }
      entries.append(
        entry(
          answer.name, reachable: true, error: nil,
          generatedAt: remote["generated_at"]?.stringValue))
      let remoteHost = remote["host"]?.stringValue
      if remoteHost != answer.name {
        warnings.append(
          warning(
            FleetWarning.Code.hostNameMismatch.rawValue,
            "host \(answer.name) (\(answer.ssh)) calls itself '\(remoteHost ?? "null")': its roster key "
              + "should be its short host name", host: answer.name))
      }
      for w in remote["warnings"]?.arrayValue ?? [] {
        let code = w["code"]?.stringValue ?? "unknown"
        guard code != "remote-agents" else { continue }
        let message = w["message"]?.stringValue ?? ""
        warnings.append(warning(code, "\(answer.name): \(message)", host: answer.name))
      }
      for row in remote["agents"]?.arrayValue ?? [] {
        guard case .object(var pairs) = row, let remoteHost,
          row["host"]?.stringValue == remoteHost
        else { continue }
        if let i = pairs.firstIndex(where: { $0.0 == "host" }) {
          pairs[i].1 = .string(answer.name)
        }
        let k = key(answer.name, row["name"]?.stringValue ?? "")
        if let i = index[k] {
          rows[i] = .object(pairs)
        } else {
          index[k] = rows.count
          rows.append(.object(pairs))
        }
      }
    }

    var out: [(String, JSONValue)] = []
    for (k, v) in top where k != "hosts" {
      switch k {
      case "warnings": out.append((k, .array(warnings)))
      case "agents":
        out.append(("hosts", .array(entries)))
        out.append((k, .array(rows)))
      default: out.append((k, v))
      }
    }
    return .object(out)
  }

  private static func key(_ host: String, _ name: String) -> String { host + "\u{0}" + name }

  private static func entry(_ name: String, reachable: Bool, error: String?, generatedAt: String?)
    -> JSONValue
  {
    .object([
      ("name", .string(name)), ("reachable", .bool(reachable)), ("error", .from(error)),
      ("generated_at", .from(generatedAt)),
    ])
  }

  private static func warning(_ code: String, _ message: String, host: String) -> JSONValue {
    .object([("code", .string(code)), ("message", .string(message)), ("host", .string(host))])
  }
}
