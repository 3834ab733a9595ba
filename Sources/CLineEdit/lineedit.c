// See CLineEdit.h. libedit's state and its callbacks stay in this file.
#define _GNU_SOURCE  // ppoll
#include "CLineEdit.h"

#include <errno.h>
#include <histedit.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

struct mosaic_lineedit {
  EditLine *el;
  History *history;
  char *history_path;
  FILE *out;
  int in_fd;
  char *prompt;
  mosaic_complete_fn complete;
  void *context;
  int interrupted;      // Ctrl-C during this read: the line is discarded
  int pending_newline;  // the next character read ends the line
  int saw_eof;          // the input itself ended
  struct sigaction old_int;
};

// MARK: signals while reading

// Set by the handler, read by read_char with the signals blocked (see there).
static volatile sig_atomic_t got_sigint = 0;
static volatile sig_atomic_t got_sigwinch = 0;
static volatile sig_atomic_t got_sigtstp = 0;

static void on_signal(int sig) {
  switch (sig) {
    case SIGINT:
      got_sigint = 1;
      break;
    case SIGWINCH:
      got_sigwinch = 1;
      break;
    case SIGTSTP:
      got_sigtstp = 1;
      break;
    default:
      break;
  }
}

static void catch_signal(int sig, struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked ppoll returns EINTR
  sigaction(sig, &sa, old);
}

static void editing_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGWINCH);
  sigaddset(set, SIGTSTP);
}

static mosaic_lineedit *client(EditLine *el) {
  void *data = NULL;
  el_get(el, EL_CLIENTDATA, &data);
  return (mosaic_lineedit *)data;
}

/// Ctrl-Z: give the terminal back in its normal mode, stop, and redraw on return.
/// Called with the editing signals blocked; `unblocked` is the mask to stop under.
static void suspend(EditLine *el, const sigset_t *unblocked) {
  struct sigaction dfl, mine;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  el_set(el, EL_PREP_TERM, 0);
  sigaction(SIGTSTP, &dfl, &mine);
  raise(SIGTSTP);  // pending until unblocked just below; the process stops there
  sigset_t blocked;
  sigprocmask(SIG_SETMASK, unblocked, &blocked);
  sigprocmask(SIG_SETMASK, &blocked, NULL);
  sigaction(SIGTSTP, &mine, NULL);
  el_set(el, EL_PREP_TERM, 1);
  el_set(el, EL_REFRESH);
}

/// libedit's character source. Signals are checked with themselves blocked and waited
/// for in ppoll, which unblocks them atomically, so none is missed between the check and
/// the wait. Ctrl-C becomes the character ^C, bound to on_interrupt.
static int read_char(EditLine *el, wchar_t *wc) {
  mosaic_lineedit *le = client(el);
  if (le->pending_newline) {
    le->pending_newline = 0;
    *wc = L'\n';
    return 1;
  }
  char bytes[MB_LEN_MAX];
  size_t n = 0;
  sigset_t editing, unblocked;
  editing_signals(&editing);
  for (;;) {
    sigprocmask(SIG_BLOCK, &editing, &unblocked);
    if (got_sigint) {
      got_sigint = 0;
      sigprocmask(SIG_SETMASK, &unblocked, NULL);
      *wc = 3;  // ^C
      return 1;
    }
    if (got_sigtstp) {
      got_sigtstp = 0;
      suspend(el, &unblocked);
      sigprocmask(SIG_SETMASK, &unblocked, NULL);
      continue;
    }
    if (got_sigwinch) {
      got_sigwinch = 0;
      sigprocmask(SIG_SETMASK, &unblocked, NULL);
      el_resize(el);
      continue;
    }
    struct pollfd pfd = {.fd = le->in_fd, .events = POLLIN, .revents = 0};
    int ready = ppoll(&pfd, 1, NULL, &unblocked);
    int err = errno;
    sigprocmask(SIG_SETMASK, &unblocked, NULL);
    if (ready < 0) {
      if (err == EINTR || err == EAGAIN) continue;
      errno = err;
      return -1;
    }
    ssize_t got = read(le->in_fd, bytes + n, 1);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    if (got == 0) {
      le->saw_eof = 1;
      *wc = L'\0';
      return 0;
    }
    n++;
    mbstate_t state;
    memset(&state, 0, sizeof state);
    size_t r = mbrtowc(wc, bytes, n, &state);
    if (r == (size_t)-2) {  // incomplete sequence: read on
      if (n >= MB_LEN_MAX) n = 0;
      continue;
    }
    if (r == (size_t)-1) {  // invalid: drop it
      n = 0;
      continue;
    }
    return 1;
  }
}

// MARK: key bindings

/// ^C: show "^C" at the end of the line, then end the line; read reports it discarded.
static unsigned char on_interrupt(EditLine *el, int ch) {
  (void)ch;
  mosaic_lineedit *le = client(el);
  const LineInfoW *line = el_wline(el);
  el_cursor(el, (int)(line->lastchar - line->cursor));
  el_insertstr(el, "^C");
  le->interrupted = 1;
  le->pending_newline = 1;
  return CC_REFRESH;
}

static size_t terminal_columns(mosaic_lineedit *le) {
  struct winsize ws;
  if (ioctl(fileno(le->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

/// Prints the candidates in columns, sorted down each column, below the line.
static void list_candidates(mosaic_lineedit *le, char **items, size_t count) {
  size_t widest = 0;
  for (size_t i = 0; i < count; i++) {
    size_t w = strlen(items[i]);
    if (w > widest) widest = w;
  }
  size_t cell = widest + 2;
  size_t per_row = terminal_columns(le) / cell;
  if (per_row == 0) per_row = 1;
  size_t rows = (count + per_row - 1) / per_row;
  fputs("\n", le->out);
  for (size_t r = 0; r < rows; r++) {
    for (size_t c = 0; c < per_row; c++) {
      size_t i = c * rows + r;
      if (i >= count) break;
      int last = (c + 1 == per_row) || (i + rows >= count);
      if (last)
        fputs(items[i], le->out);
      else
        fprintf(le->out, "%-*s", (int)cell, items[i]);
    }
    fputs("\n", le->out);
  }
  fflush(le->out);
}

/// Tab: completes the name before the cursor as far as the candidates agree, lists them
/// when they do not; indents on a blank line.
static unsigned char on_complete(EditLine *el, int ch) {
  (void)ch;
  mosaic_lineedit *le = client(el);
  const LineInfo *line = el_line(el);
  size_t len = (size_t)(line->cursor - line->buffer);
  if (strspn(line->buffer, " \t") >= len) {
    return el_insertstr(el, "  ") == 0 ? CC_REFRESH : CC_ERROR;
  }
  if (le->complete == NULL) return CC_ERROR;
  char *before = strndup(line->buffer, len);
  if (before == NULL) return CC_ERROR;
  size_t word = 0;
  char *found = le->complete(le->context, before, len, &word);
  free(before);
  if (found == NULL) return CC_ERROR;

  size_t count = 0;
  for (char *p = found; *p; p++)
    if (*p == '\n') count++;
  char **items = count ? calloc(count, sizeof *items) : NULL;
  if (items == NULL) {
    free(found);
    return CC_ERROR;
  }
  size_t n = 0;
  for (char *p = found, *nl; n < count && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    *nl = '\0';
    items[n++] = p;
  }
  // The longest prefix all candidates share.
  size_t common = strlen(items[0]);
  for (size_t i = 1; i < n; i++) {
    size_t k = 0;
    while (k < common && items[i][k] == items[0][k]) k++;
    common = k;
  }
  unsigned char result = CC_NORM;
  if (word > common) word = common;
  if (common > word) {
    char *extra = strndup(items[0] + word, common - word);
    result = (extra != NULL && el_insertstr(el, extra) == 0) ? CC_REFRESH : CC_ERROR;
    free(extra);
  } else if (n > 1) {
    list_candidates(le, items, n);
    result = CC_REDISPLAY;
  }
  free(items);
  free(found);
  return result;
}

static char *prompt_text(EditLine *el) { return client(el)->prompt; }

// MARK: the editor

/// libedit needs a multibyte locale for anything beyond ASCII; Lua text is UTF-8.
static void ensure_utf8_ctype(void) {
  setlocale(LC_CTYPE, "");
  const char *codeset = nl_langinfo(CODESET);
  if (codeset == NULL || strcmp(codeset, "UTF-8") != 0) setlocale(LC_CTYPE, "C.UTF-8");
}

mosaic_lineedit *mosaic_lineedit_open(const char *prog, const char *history_path,
                                      int history_size, mosaic_complete_fn complete,
                                      void *context) {
  mosaic_lineedit *le = calloc(1, sizeof *le);
  if (le == NULL) return NULL;
  ensure_utf8_ctype();
  le->out = isatty(STDOUT_FILENO) || !isatty(STDERR_FILENO) ? stdout : stderr;
  le->in_fd = STDIN_FILENO;
  le->complete = complete;
  le->context = context;
  le->prompt = strdup("> ");
  le->history_path = history_path ? strdup(history_path) : NULL;
  le->el = el_init(prog, stdin, le->out, stderr);
  le->history = history_init();
  if (le->el == NULL || le->history == NULL || le->prompt == NULL ||
      (history_path != NULL && le->history_path == NULL)) {
    if (le->el) el_end(le->el);
    if (le->history) history_end(le->history);
    free(le->prompt);
    free(le->history_path);
    free(le);
    return NULL;
  }
  HistEvent ev;
  history(le->history, &ev, H_SETSIZE, history_size > 0 ? history_size : 1000);
  history(le->history, &ev, H_SETUNIQUE, 1);
  if (le->history_path) history(le->history, &ev, H_LOAD, le->history_path);

  EditLine *el = le->el;
  el_set(el, EL_CLIENTDATA, (void *)le);
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_SIGNAL, 0);
  el_set(el, EL_PROMPT, prompt_text);
  el_set(el, EL_GETCFN, read_char);
  el_set(el, EL_HIST, history, le->history);
  el_set(el, EL_ADDFN, "mosaic-complete", "complete a Lua name", on_complete);
  el_set(el, EL_ADDFN, "mosaic-interrupt", "discard the line", on_interrupt);
  el_set(el, EL_BIND, "^I", "mosaic-complete", NULL);
  el_set(el, EL_BIND, "^C", "mosaic-interrupt", NULL);
  el_set(el, EL_BIND, "^R", "em-inc-search-prev", NULL);
  el_set(el, EL_BIND, "^W", "ed-delete-prev-word", NULL);
  el_set(el, EL_BIND, "\\e[1;5C", "em-next-word", NULL);
  el_set(el, EL_BIND, "\\e[1;5D", "ed-prev-word", NULL);
  el_source(el, NULL);  // ~/.editrc may rebind keys

  sigaction(SIGINT, NULL, &le->old_int);
  return le;
}

int mosaic_lineedit_read(mosaic_lineedit *le, const char *prompt, const char **line,
                         size_t *len) {
  *line = NULL;
  *len = 0;
  char *copy = strdup(prompt);
  if (copy != NULL) {
    free(le->prompt);
    le->prompt = copy;
  }
  le->interrupted = 0;
  le->pending_newline = 0;
  le->saw_eof = 0;
  got_sigint = 0;
  got_sigwinch = 0;
  got_sigtstp = 0;
  struct sigaction old_winch, old_tstp;
  catch_signal(SIGINT, NULL);
  catch_signal(SIGWINCH, &old_winch);
  catch_signal(SIGTSTP, &old_tstp);

  int count = 0;
  errno = 0;
  const char *text = el_gets(le->el, &count);
  int err = errno;

  // SIGINT stays caught (a Ctrl-C between lines must not end the shell); the host
  // replaces the handler while code runs.
  sigaction(SIGWINCH, &old_winch, NULL);
  sigaction(SIGTSTP, &old_tstp, NULL);

  if (le->interrupted) return MOSAIC_LINE_INTERRUPTED;
  if (text == NULL) {
    if (count < 0 && !le->saw_eof && err != 0) {
      errno = err;
      return MOSAIC_LINE_ERROR;
    }
    fputs("\n", le->out);  // leave the cursor on a fresh line (after "^D")
    fflush(le->out);
    return MOSAIC_LINE_EOF;
  }
  size_t n = strlen(text);
  if (n > 0 && text[n - 1] == '\n') n--;
  *line = text;
  *len = n;
  return MOSAIC_LINE_OK;
}

int mosaic_lineedit_add_history(mosaic_lineedit *le, const char *line) {
  if (line[strspn(line, " \t\r\n")] == '\0') return 0;
  HistEvent ev;
  history(le->history, &ev, H_ENTER, line);
  if (le->history_path == NULL) return 0;
  return history(le->history, &ev, H_SAVE, le->history_path) < 0 ? -1 : 0;
}

void mosaic_lineedit_close(mosaic_lineedit *le) {
  el_end(le->el);
  history_end(le->history);
  sigaction(SIGINT, &le->old_int, NULL);
  free(le->prompt);
  free(le->history_path);
  free(le);
}

ssize_t mosaic_stdin_getline(char **buf, size_t *cap) { return getline(buf, cap, stdin); }
