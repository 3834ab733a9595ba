"""A small curses input box for `agent send --verify` tests.

usage: send_inputbox.py MODE LOG
  MODE accept:  Enter submits the text (logged to LOG) and clears the box
  MODE ignore:  Enter does nothing; the text stays in the box
  MODE newline: Enter inserts a new line in the box (the text is never submitted)
Every byte read is appended to LOG as a Python repr line, so tests can see what arrived.
"""
import curses
import sys

MODE, LOG = sys.argv[1], sys.argv[2]


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


def main(scr):
    curses.raw()
    curses.noecho()
    scr.keypad(False)
    lines = [""]
    submitted = []
    while True:
        scr.erase()
        height, width = scr.getmaxyx()
        for i, s in enumerate(submitted[-(height - 8):]):
            scr.addstr(i, 0, ("sent: " + s)[: width - 1])
        top = max(len(submitted[-(height - 8):]), 0) + 1
        box_w = min(width - 2, 60)
        box_h = len(lines) + 2
        scr.addstr(top, 0, "+" + "-" * (box_w - 2) + "+")
        for i, s in enumerate(lines):
            prefix = "> " if i == 0 else "  "
            body = (prefix + s)[: box_w - 4]
            scr.addstr(top + 1 + i, 0, "| " + body.ljust(box_w - 4) + " |")
        scr.addstr(top + box_h - 1, 0, "+" + "-" * (box_w - 2) + "+")
        cy = top + len(lines)
        cx = 2 + 2 + len(lines[-1])
        scr.move(cy, min(cx, box_w - 2))
        scr.refresh()
        ch = scr.getch()
        log(repr(ch))
        if ch in (10, 13, curses.KEY_ENTER):
            if MODE == "accept":
                submitted.append("\\n".join(lines))
                log("SUBMIT " + repr("\n".join(lines)))
                lines = [""]
            elif MODE == "newline":
                lines.append("")
        elif ch in (127, 8, curses.KEY_BACKSPACE):
            lines[-1] = lines[-1][:-1]
        elif ch == 3:
            return
        elif 32 <= ch < 127:
            lines[-1] += chr(ch)


curses.wrapper(main)
