"""A program for an agent's pane that notices any input reaching it.

It puts its terminal in raw mode (every byte arrives at once, Ctrl-C included), turns
on focus reporting (`ESC[?1004h`), mouse reporting and bracketed paste, so that a
focus change, a click or a paste would reach it, and logs every byte it reads
(`INPUT <hex>`) and every SIGWINCH (`WINCH <cols>x<rows>`) to a file, after a first
line `START <cols>x<rows>`. It prints a marker line, some coloured text, numbered lines and
`last line: <marker>` (where the cursor stays, row 48 of 50); in `tick`
mode it also rewrites a counter line every 0.2 s, in `static` mode the screen stays
still; in `busy` mode it redraws the whole screen with new colours 20 times a second.

Usage: watch_target.py LOG MARKER (tick|static|busy)
"""
import os, select, signal, sys, tty

log_path, marker, mode = sys.argv[1], sys.argv[2], sys.argv[3]
log = open(log_path, "ab", buffering=0)

def size():
    s = os.get_terminal_size(1)
    return "%dx%d" % (s.columns, s.lines)

def on_winch(signo, frame):
    log.write(("WINCH %s\n" % size()).encode())

signal.signal(signal.SIGWINCH, on_winch)
tty.setraw(0)

def out(s):
    os.write(1, s.encode())

# Ask for everything a client could deliver: focus events, mouse, bracketed paste.
out("\x1b[?1004h\x1b[?1000h\x1b[?1006h\x1b[?2004h")
out("\x1b[H\x1b[2J")
out(marker + "\r\n")
out("\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[0m \x1b[44m blue background \x1b[0m\r\n")
out("\x1b[38;5;208morange 256\x1b[0m \x1b[38;2;10;200;30mtruecolor\x1b[0m wide: \u5bbd\u5b57\r\n")
for i in range(3, 48):
    out("line %02d %s\r\n" % (i, "." * (i % 50)))
out("last line: " + marker)
log.write(("START %s\n" % size()).encode())

n = 0
rows = 50
while True:
    timeout = 0.05 if mode == "busy" else 0.2
    r, _, _ = select.select([0], [], [], timeout)
    if r:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            break
        log.write(b"INPUT " + data.hex().encode() + b"\n")
    n += 1
    if mode == "tick":
        out("\x1b7\x1b[2;60Htick %06d\x1b8" % n)
    elif mode == "busy":
        cols, rows = os.get_terminal_size(1)
        frame = ["\x1b[H"]
        for y in range(rows - 1):
            c = (n + y) % 216 + 16
            frame.append("\x1b[38;5;%dm%s\x1b[0m\r\n" % (c, (("%06d " % (n + y)) * cols)[:cols]))
        frame.append(marker)
        out("".join(frame))
