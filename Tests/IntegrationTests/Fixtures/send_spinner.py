"""A program that reads (and discards) its input while redrawing its cursor line every
50 ms, for `agent send --verify` tests: nothing ever settles, so verification times out.

usage: send_spinner.py
"""
import os
import select
import sys
import tty

tty.setraw(0)
i = 0
while True:
    ready, _, _ = select.select([0], [], [], 0.05)
    if ready:
        os.read(0, 65536)
    i += 1
    os.write(1, b"\rworking %d " % i)
