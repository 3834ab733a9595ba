import CLineEdit

#if canImport(Glibc)
  import Glibc
#endif

/// The shell's line editor: libedit on the terminal (editing, history, Tab completion),
/// through the C layer in `CLineEdit`, which owns libedit's globals and the signals that
/// arrive while a line is read.
final class LineEditor {
  enum Input {
    /// A line, without its newline.
    case line([UInt8])
    /// Ctrl-D on an empty line (or the terminal went away).
    case end
    /// Ctrl-C: the line being typed was discarded.
    case interrupted
    case failed(String)
  }

  private let editor: OpaquePointer

  /// An editor with its history in `historyFile` (nil: in memory only) and Tab
  /// completion from `completer`, which must outlive the editor.
  init?(historyFile: String?, historySize: Int32 = 1000, completer: ShellSession) {
    let context = Unmanaged.passUnretained(completer).toOpaque()
    guard
      let editor = mosaic_lineedit_open(
        "mosaic", historyFile, historySize, completeName, context)
    else { return nil }
    self.editor = editor
  }

  deinit { mosaic_lineedit_close(editor) }

  func read(prompt: String) -> Input {
    var text: UnsafePointer<CChar>? = nil
    var length = 0
    let status = mosaic_lineedit_read(editor, prompt, &text, &length)
    switch Int(status) {
    case Int(MOSAIC_LINE_OK.rawValue):
      guard let text else { return .line([]) }
      return .line(
        text.withMemoryRebound(to: UInt8.self, capacity: length) {
          Array(UnsafeBufferPointer(start: $0, count: length))
        })
    case Int(MOSAIC_LINE_INTERRUPTED.rawValue):
      return .interrupted
    case Int(MOSAIC_LINE_ERROR.rawValue):
      return .failed(String(cString: strerror(errno)))
    default:
      return .end
    }
  }

  /// Adds a line to the history and saves the file; false if the file could not be written.
  @discardableResult
  func addHistory(_ line: [UInt8]) -> Bool {
    let cString = line.map { CChar(bitPattern: $0 == 0 ? 0x20 : $0) } + [0]
    return mosaic_lineedit_add_history(editor, cString) == 0
  }
}

/// Tab completion, called by the C layer while a line is read. A file-scope function:
/// a closure formed in actor-isolated code would carry that isolation into C.
private func completeName(
  _ context: UnsafeMutableRawPointer?, _ line: UnsafePointer<CChar>, _ length: Int,
  _ wordLength: UnsafeMutablePointer<Int>
) -> UnsafeMutablePointer<CChar>? {
  guard let context else { return nil }
  let session = Unmanaged<ShellSession>.fromOpaque(context).takeUnretainedValue()
  let bytes = line.withMemoryRebound(to: UInt8.self, capacity: length) {
    Array(UnsafeBufferPointer(start: $0, count: length))
  }
  guard let (candidates, partial) = session.completions(for: bytes), !candidates.isEmpty else {
    return nil
  }
  wordLength.pointee = partial.utf8.count
  return strdup(candidates.map { $0 + "\n" }.joined())
}
