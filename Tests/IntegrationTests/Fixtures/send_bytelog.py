"""Records every byte it reads, exactly, for `agent send` tests.

usage: send_bytelog.py OUT
Puts its terminal in raw mode (no echo, no line editing, no signals, no CR/LF
translation), appends every byte read to OUT, and shows a running count so the screen
changes when input arrives.
"""
import os
import sys
import tty

OUT = sys.argv[1]
tty.setraw(0)
total = 0
os.write(1, b"bytelog ready\r\n")
with open(OUT, "ab", buffering=0) as f:
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        f.write(data)
        total += len(data)
        os.write(1, b"\rreceived %d bytes" % total)
