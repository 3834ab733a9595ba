"""A line reader that stops itself when input arrives, for `agent send` tests.

usage: sh -c 'python3 send_stopper.py LOG; :'   (so it is a grandchild of tmux, which
continues a pane's direct child when it stops)
Shows a prompt, waits for the first byte of input in cbreak mode (echo stays on, so the
draft shows), logs it, then sends itself SIGSTOP: the rest stays unread.
"""
import os
import signal
import sys
import tty

LOG = sys.argv[1]
tty.setcbreak(0)
os.write(1, b"stopper> ")
first = os.read(0, 1)
with open(LOG, "ab") as f:
    f.write(first)
os.kill(os.getpid(), signal.SIGSTOP)
