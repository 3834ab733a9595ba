#!/bin/sh
# Stop every process that belongs to the given agent homes (tests' cleanup).
#
#   reap.sh DIR...
#
# A process belongs to DIR when its executable lies under DIR (Codex's app-server daemon
# runs from CODEX_HOME/packages/app-server-daemon/...) or its environment has
# CODEX_HOME=DIR or HOME=DIR (the agents launch.sh started, and their tools and hooks).
# Such processes outlive their tmux pane and server. Sends SIGTERM, waits up to 5 s, then
# SIGKILL. Only the calling user's processes are looked at; prints what it stopped on
# stderr.
exec python3 - "$@" <<'PY'
import os, signal, sys, time

def die(msg):
    print("reap.sh: " + msg, file=sys.stderr)
    sys.exit(2)

if len(sys.argv) < 2:
    die("usage: reap.sh DIR...")
broad = {"/", "/tmp", "/home", "/root", os.path.realpath(os.path.expanduser("~"))}
dirs = []
for d in sys.argv[1:]:
    if not os.path.isdir(d):
        continue
    d = os.path.realpath(d)
    if d in broad:
        die("%s: refusing so broad a directory" % d)
    dirs.append(d)
if not dirs:
    sys.exit(0)
marks = {("CODEX_HOME=" + d).encode() for d in dirs} | {("HOME=" + d).encode() for d in dirs}
me, uid = os.getpid(), os.getuid()

def matching():
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (me, os.getppid()):
            continue
        p = "/proc/" + name
        try:
            if os.stat(p).st_uid != uid:
                continue
            try:
                exe = os.readlink(p + "/exe")
            except OSError:
                exe = ""
            if any(exe.startswith(d + "/") for d in dirs):
                out.append(int(name))
                continue
            with open(p + "/environ", "rb") as f:
                env = f.read().split(b"\0")
            if marks.intersection(env):
                out.append(int(name))
        except OSError:
            continue
    return out

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

pids = matching()
for pid in pids:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
deadline = time.monotonic() + 5
while time.monotonic() < deadline and any(alive(p) for p in pids):
    time.sleep(0.05)
left = [p for p in pids if alive(p)]
for pid in left:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
if pids:
    print("reap.sh: stopped %d process(es)%s" % (len(pids), " (%d killed)" % len(left) if left else ""), file=sys.stderr)
PY
