// CLineEdit: the shell's line editor, a thin C layer over libedit (BSD editline).
//
// Swift 6 cannot touch libedit's mutable globals or C's `stdin`/`stdout`, and libedit
// calls back into C with signals and key bindings; this file keeps all of that on the
// C side and gives Swift a few plain functions:
//
// - mosaic_lineedit_open/read/add_history/close: an editor on the terminal with
//   history (a file, a size limit, no blank lines or immediate duplicates) and a Tab
//   completion hook that calls back into the host.
// - Signals while a line is being read: Ctrl-C discards the line (read returns
//   MOSAIC_LINE_INTERRUPTED; "^C" is shown at its end), a window size change redraws,
//   Ctrl-Z suspends with the terminal restored. libedit's own signal handling
//   (EL_SIGNAL) stays off: it re-sends signals to the whole process group.
// - mosaic_stdin_getline: plain line reads of stdin (no terminal), through C's stdin
//   buffer so a script's own io.read() continues where the shell stopped.
#ifndef CLINEEDIT_H
#define CLINEEDIT_H

#include <stddef.h>
#include <sys/types.h>

/// One line editor (opaque).
typedef struct mosaic_lineedit mosaic_lineedit;

/// Tab completion: `line` is the text before the cursor (`len` bytes, NUL-terminated).
/// Returns the candidates, each ended by '\n', in a buffer from malloc (freed by the
/// editor), or NULL for none; sets `*word_len` to the number of bytes before the cursor
/// that every candidate replaces (each candidate starts with those bytes).
typedef char *_Nullable (*mosaic_complete_fn)(void *_Nullable context,
                                              const char *_Nonnull line, size_t len,
                                              size_t *_Nonnull word_len);

/// Outcomes of mosaic_lineedit_read.
enum mosaic_line_status {
  MOSAIC_LINE_OK = 0,           // a line (without its newline)
  MOSAIC_LINE_EOF = 1,          // Ctrl-D on an empty line, or the input ended (a newline
                                // has been written so the terminal is left on a new line)
  MOSAIC_LINE_INTERRUPTED = 2,  // Ctrl-C: the line was discarded
  MOSAIC_LINE_ERROR = 3,        // reading failed (errno says why)
};

/// Opens an editor on stdin (output on stdout, or stderr when stdout is not a terminal).
/// `history_path` may be NULL (no file); `history_size` caps the entries kept.
/// Reads ~/.editrc (lines for this program start with `prog:`). NULL on failure.
mosaic_lineedit *_Nullable mosaic_lineedit_open(const char *_Nonnull prog,
                                                const char *_Nullable history_path,
                                                int history_size,
                                                mosaic_complete_fn _Nullable complete,
                                                void *_Nullable context);

/// Reads one line with `prompt`. On MOSAIC_LINE_OK, `*line` points at the text (valid
/// until the next call) and `*len` is its length in bytes, without the newline.
int mosaic_lineedit_read(mosaic_lineedit *_Nonnull editor, const char *_Nonnull prompt,
                         const char *_Nullable *_Nonnull line, size_t *_Nonnull len);

/// Adds a line to the history (not blank lines, not a repeat of the newest entry) and
/// saves the history file, if any. Returns 0, or -1 if the file could not be written.
int mosaic_lineedit_add_history(mosaic_lineedit *_Nonnull editor, const char *_Nonnull line);

/// Restores the terminal and frees the editor.
void mosaic_lineedit_close(mosaic_lineedit *_Nonnull editor);

/// Reads one line of stdin (C stdio) into `*buf` (grown with realloc as getline does).
/// Returns its length including the newline, or -1 at end of input or on error.
ssize_t mosaic_stdin_getline(char *_Nullable *_Nonnull buf, size_t *_Nonnull cap);

#endif
