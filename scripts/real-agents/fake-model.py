#!/usr/bin/env python3
"""A scriptable fake model server for real Claude Code and Codex agents (tests only).

One HTTP server on 127.0.0.1 speaks
  - Anthropic Messages:  POST /v1/messages   (Claude Code; SSE when "stream": true)
  - OpenAI Responses:    POST /v1/responses  (Codex; SSE)
and answers every other path with 200 {}.

Steering (JSON over HTTP on the same port):
  POST /_control/enqueue   body: a list of turns (or one turn object). Each turn is used
                           for the next model request that carries a new user message:
      {"text": "...",            reply text (default "ok", or "ACK <nonce>" for [m:<nonce>])
       "delay_s": 0,             hold the reply this long after a first chunk (agent shows busy)
       "chunk_delay_s": 0,       pause between streamed chunks of the text
       "tool": {"command": "touch /tmp/x", "needs_approval": true},
       "final": "done"}          text of the reply to the request carrying the tool's result
  GET  /_control/requests  the request log as a JSON list
  GET  /_control/queue     the turns not yet used
  POST /_control/reset     clear queue and log
With `tool`, Claude gets a `tool_use` of tool Bash {"command": ...} (a permission prompt
in default permission mode, whatever needs_approval says), or of the tool `name` with
`input` for {"name": ..., "input": {...}} (e.g. AskUserQuestion); Codex gets an exec_command
function_call, with sandbox_permissions "require_escalated" and a justification when
needs_approval is true (the default: an approval prompt), else a plain sandboxed call.
`delay_s` holds the reply: Claude gets its first text chunk first (it shows its spinner
and "esc to interrupt"); Codex gets only response.created first, because Codex 0.163
shows "Working (… esc to interrupt)" only until output text arrives.
With no turn queued the reply is "ok", or "ACK <nonce>" (one line per nonce) for every
[m:<nonce>] in the new user text.

Requests that do not carry a new user message (tool results, Codex's thread-title
request, Claude's side requests) never consume a scripted turn.

Options: --port N (0 picks a free port), --port-file F (the chosen port, written
atomically), --log F (one JSON line per model request), --log-bodies (add each request's
body to the log; large). Stops cleanly on SIGTERM or SIGINT. Python 3 standard library only.
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024 * 1024  # refuse larger request bodies
MAX_DELAY = 600.0  # cap on any delay a turn asks for, in seconds
MAX_QUEUE = 10000  # cap on queued turns
MAX_LOG = 100000  # cap on log entries kept in memory
NONCE = re.compile(r"\[m:([^\]\s]{1,200})\]")
REMINDER = re.compile(r"^\s*<system-reminder>", re.S)

STOP = threading.Event()  # set on shutdown: cuts every delay short


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def clamp_delay(value):
    try:
        v = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    if v != v or v < 0:  # NaN or negative
        return 0.0
    return min(v, MAX_DELAY)


def chunks(text, size=12):
    """Split text into pieces of about `size` characters, on spaces when possible."""
    out, cur = [], ""
    for word in re.findall(r"\S+\s*|\s+", text):
        if cur and len(cur) + len(word) > size:
            out.append(cur)
            cur = ""
        cur += word
    if cur or not out:
        out.append(cur)
    return out


class State:
    def __init__(self, log_path, log_bodies):
        self.lock = threading.Lock()
        self.queue = []
        self.log = []
        self.log_path = log_path
        self.log_bodies = log_bodies
        self.seq = 0
        self.pending_final = {}  # tool call id -> final text for the follow-up

    def next_id(self, prefix):
        with self.lock:
            self.seq += 1
            return "%s_%06d" % (prefix, self.seq)

    def enqueue(self, turns):
        with self.lock:
            if len(self.queue) + len(turns) > MAX_QUEUE:
                raise ValueError("queue full (at most %d turns)" % MAX_QUEUE)
            self.queue.extend(turns)
            return len(self.queue)

    def take_turn(self):
        with self.lock:
            return self.queue.pop(0) if self.queue else None

    def reset(self):
        with self.lock:
            self.queue.clear()
            self.log.clear()
            self.pending_final.clear()

    def record(self, entry):
        line = json.dumps(entry, ensure_ascii=False)
        with self.lock:
            if len(self.log) >= MAX_LOG:
                del self.log[: MAX_LOG // 10]
            self.log.append(entry)
            if self.log_path:
                # One write per line, O_APPEND: concurrent writers never interleave.
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, (line + "\n").encode("utf-8"))
                finally:
                    os.close(fd)


def validate_turn(t):
    if not isinstance(t, dict):
        raise ValueError("each turn must be a JSON object")
    known = {"text", "delay_s", "chunk_delay_s", "tool", "final"}
    extra = set(t) - known
    if extra:
        raise ValueError("unknown turn field(s): %s" % ", ".join(sorted(extra)))
    if "text" in t and not isinstance(t["text"], str):
        raise ValueError("turn.text must be a string")
    if "final" in t and not isinstance(t["final"], str):
        raise ValueError("turn.final must be a string")
    for k in ("delay_s", "chunk_delay_s"):
        if k in t and (not isinstance(t[k], (int, float)) or isinstance(t[k], bool) or t[k] < 0):
            raise ValueError("turn.%s must be a non-negative number" % k)
    tool = t.get("tool")
    if tool is not None:
        named = isinstance(tool, dict) and isinstance(tool.get("name"), str) and isinstance(tool.get("input"), dict)
        if not (isinstance(tool, dict) and (isinstance(tool.get("command"), str) or named)):
            raise ValueError('turn.tool must be {"command": "...", "needs_approval": bool}'
                             ' or (Claude) {"name": "<tool>", "input": {...}}')
    return t


def claude_tool(tool):
    """(name, input) of the tool_use Claude gets: Bash with the command, or the named tool."""
    if isinstance(tool.get("name"), str):
        return tool["name"], tool["input"]
    return "Bash", {"command": tool["command"], "description": "Run a command"}


# ---------------------------------------------------------------- request parsing

def texts_of(content):
    """Text pieces of a message content (string or list of blocks)."""
    if isinstance(content, str):
        return [content]
    out = []
    if isinstance(content, list):
        for b in content:
            if isinstance(b, dict) and b.get("type") in ("text", "input_text") and isinstance(b.get("text"), str):
                out.append(b["text"])
    return out


def anthropic_view(body):
    """(new_user_texts, is_tool_result, tool_use_ids) for a Messages request."""
    msgs = body.get("messages") if isinstance(body.get("messages"), list) else []
    # The messages after the last assistant one; Claude Code 2.1 puts a "system" role
    # message (its environment) after the user's.
    trailing = []
    for m in reversed(msgs):
        if not isinstance(m, dict) or m.get("role") == "assistant":
            break
        trailing.insert(0, m)
    # A tool result followed by a new prompt (a turn interrupted at a permission prompt,
    # then a new message) is a new user message: only what follows the last tool result
    # counts.
    texts, tool_result, ids = [], False, []
    for m in trailing:
        if m.get("role") != "user":
            continue
        c = m.get("content")
        blocks = c if isinstance(c, list) else [{"type": "text", "text": c}]
        for b in blocks:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "tool_result":
                tool_result = True
                ids.append(b.get("tool_use_id"))
                texts = []
            elif b.get("type") == "text" and isinstance(b.get("text"), str):
                texts.append(b["text"])
    if tool_result and prompt_texts(texts):
        tool_result, ids = False, []
    return texts, tool_result, ids


def openai_view(body):
    """(new_user_texts, is_tool_result, call_ids) for a Responses request."""
    items = body.get("input")
    if isinstance(items, str):
        return [items], False, []
    items = items if isinstance(items, list) else []
    trailing = []
    for it in reversed(items):
        if not isinstance(it, dict):
            continue
        typ = it.get("type", "message")
        if typ == "message" and it.get("role") == "assistant":
            break
        if typ in ("function_call", "reasoning", "local_shell_call", "custom_tool_call"):
            break
        trailing.insert(0, it)
    # As for Claude: a prompt after the last tool output (a cancelled approval, then a new
    # message) makes this a new user message.
    texts, tool_result, ids = [], False, []
    for it in trailing:
        typ = it.get("type", "message")
        if typ.endswith("_output"):
            tool_result = True
            ids.append(it.get("call_id"))
            texts = []
        elif typ == "message" and it.get("role") == "user":
            texts.extend(texts_of(it.get("content")))
    if tool_result and prompt_texts(texts):
        tool_result, ids = False, []
    return texts, tool_result, ids


def prompt_texts(texts):
    """Drop Claude's <system-reminder> blocks and Codex's environment context."""
    skip = ("<environment_context>", "<user_instructions>", "# AGENTS.md", "[Request interrupted by user")
    return [t for t in texts if not REMINDER.match(t) and not t.lstrip().startswith(skip)]


def codex_meta(body):
    """Codex's per-request metadata (thread, turn, what the request is for), or {}."""
    cm = body.get("client_metadata")
    if not isinstance(cm, dict):
        return {}
    meta = {}
    raw = cm.get("x-codex-turn-metadata")
    if isinstance(raw, str):
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = {}
    if not isinstance(meta, dict):
        meta = {}
    for k in ("thread_id", "turn_id", "session_id"):
        if k not in meta and isinstance(cm.get(k), str):
            meta[k] = cm[k]
    return meta


def is_codex_title(body):
    """Codex 0.163 asks for a thread title in a side request: thread_source
    "thread_title", a JSON schema output {"title": ...}, no tools."""
    if codex_meta(body).get("thread_source") == "thread_title":
        return True
    fmt = body.get("text", {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict):
        props = fmt.get("schema", {}).get("properties") if isinstance(fmt.get("schema"), dict) else None
        if isinstance(props, dict) and "title" in props:
            return True
    texts, _, _ = openai_view(body)
    return not body.get("tools") and any("task title" in t for t in texts)


def is_claude_side(body):
    """Claude's side requests (topic/title detection, quota probes): no tools offered."""
    return not body.get("tools")


def default_reply(texts):
    nonces = []
    for t in texts:
        for n in NONCE.findall(t):
            if n not in nonces:
                nonces.append(n)
    if nonces:
        return "\n".join("ACK " + n for n in nonces)
    return "ok"


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mosaic-fake-model/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- helpers
    def read_body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline(1024)
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                data.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(data)
        n = int(n or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, code, obj):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def event(self, name, obj):
        self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(obj))).encode("utf-8"))
        self.wfile.flush()

    # -- routing
    def do_GET(self):
        st = self.server.state
        path = self.path.split("?", 1)[0]
        if path == "/_control/requests":
            with st.lock:
                self.send_json(200, list(st.log))
        elif path == "/_control/queue":
            with st.lock:
                self.send_json(200, list(st.queue))
        else:
            self.send_json(200, {})

    def do_POST(self):
        st = self.server.state
        path = self.path.split("?", 1)[0]
        try:
            raw = self.read_body()
        except (ValueError, OSError) as e:
            self.send_json(413, {"error": str(e)})
            self.close_connection = True
            return
        if path == "/_control/enqueue":
            try:
                turns = json.loads(raw.decode("utf-8") or "null")
                if isinstance(turns, dict):
                    turns = [turns]
                if not isinstance(turns, list):
                    raise ValueError("body must be a JSON list of turns")
                n = st.enqueue([validate_turn(t) for t in turns])
            except (ValueError, UnicodeDecodeError) as e:
                self.send_json(400, {"error": str(e)})
                return
            self.send_json(200, {"queued": n})
            return
        if path == "/_control/reset":
            st.reset()
            self.send_json(200, {"ok": True})
            return
        if path not in ("/v1/messages", "/v1/responses"):
            self.send_json(200, {})
            return
        try:
            body = json.loads(raw.decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            self.send_json(400, {"error": {"type": "invalid_request_error", "message": "bad JSON"}})
            return
        try:
            if path == "/v1/messages":
                self.anthropic(body)
            else:
                self.openai(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent hung up (interrupted turn)

    # -- choosing the reply
    def plan(self, api, body, texts, tool_result, ids, side):
        """Return (turn dict, kind) and log the request."""
        st = self.server.state
        prompts = prompt_texts(texts)
        last = prompts[-1] if prompts else (texts[-1] if texts else "")
        if side:
            turn, kind = {"text": '{"title":"Fake title"}' if api == "openai" else "ok"}, "side"
        elif tool_result:
            with st.lock:
                final = next((st.pending_final.pop(i) for i in ids if i in st.pending_final), None)
            turn, kind = {"text": final if final is not None else "done"}, "tool_result"
        elif texts:
            turn = st.take_turn()
            kind = "scripted"
            if turn is None:
                turn, kind = {"text": default_reply(prompts or texts)}, "default"
        else:
            turn, kind = {"text": "ok"}, "other"
        entry = {
            "time": now_iso(),
            "api": api,
            "path": self.path,
            "last_user_text": last,
            "title": bool(side and api == "openai"),
            "side": bool(side),
            "kind": kind,
            "stream": bool(body.get("stream")),
            "model": body.get("model"),
        }
        if api == "openai":
            meta = codex_meta(body)
            for k in ("thread_id", "turn_id", "thread_source"):
                if meta.get(k):
                    entry[k] = meta[k]
        if "text" in turn:
            entry["reply"] = turn.get("text")
        if turn.get("tool"):
            entry["tool"] = turn["tool"]
        if st.log_bodies:
            entry["body"] = body
        st.record(entry)
        return turn

    # -- Anthropic Messages
    def anthropic(self, body):
        st = self.server.state
        texts, tool_result, ids = anthropic_view(body)
        turn = self.plan("anthropic", body, texts, tool_result, ids, is_claude_side(body) and not tool_result)
        text = turn.get("text", "ok" if not turn.get("tool") else "")
        tool = turn.get("tool")
        delay = clamp_delay(turn.get("delay_s"))
        cdelay = clamp_delay(turn.get("chunk_delay_s"))
        model = body.get("model") or "claude-fake"
        mid = st.next_id("msg")
        tid = st.next_id("toolu") if tool else None
        if tool:
            with st.lock:
                st.pending_final[tid] = turn.get("final", "done")
        if not body.get("stream"):
            if delay:
                STOP.wait(delay)
            content = []
            if text:
                content.append({"type": "text", "text": text})
            if tool:
                name, args = claude_tool(tool)
                content.append({"type": "tool_use", "id": tid, "name": name, "input": args})
            self.send_json(200, {
                "id": mid, "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5}})
            return
        self.start_sse()
        self.event("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}})
        index = 0
        pieces = chunks(text) if text else []
        if pieces:
            self.event("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}})
        for i, p in enumerate(pieces):
            self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": p}})
            if i == 0 and delay:
                self.hold(delay, "anthropic")
            elif cdelay:
                STOP.wait(cdelay)
        if pieces:
            self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        if tool:
            if not pieces and delay:
                self.hold(delay, "anthropic")
            name, args = claude_tool(tool)
            self.event("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": {"type": "tool_use", "id": tid, "name": name,
                                                                 "input": {}}})
            args = json.dumps(args)
            self.event("content_block_delta", {"type": "content_block_delta", "index": index,
                                               "delta": {"type": "input_json_delta", "partial_json": args}})
            self.event("content_block_stop", {"type": "content_block_stop", "index": index})
        self.event("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": "tool_use" if tool else "end_turn",
                                               "stop_sequence": None},
                                     "usage": {"output_tokens": 5}})
        self.event("message_stop", {"type": "message_stop"})

    def hold(self, delay, api):
        """Wait `delay` seconds, sending keep-alives so the agent does not time out."""
        end = time.monotonic() + delay
        while not STOP.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            STOP.wait(min(left, 5.0))
            if time.monotonic() < end and not STOP.is_set():
                if api == "anthropic":
                    self.event("ping", {"type": "ping"})
                else:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()

    # -- OpenAI Responses
    def openai(self, body):
        st = self.server.state
        texts, tool_result, ids = openai_view(body)
        side = is_codex_title(body) and not tool_result
        turn = self.plan("openai", body, texts, tool_result, ids, side)
        text = turn.get("text", "ok" if not turn.get("tool") else "")
        tool = turn.get("tool")
        delay = clamp_delay(turn.get("delay_s"))
        cdelay = clamp_delay(turn.get("chunk_delay_s"))
        rid = st.next_id("resp")
        self.start_sse()
        self.event("response.created", {"type": "response.created", "response": {"id": rid}})
        # Codex 0.163 shows "Working (Ns • esc to interrupt)" only until the first output
        # text arrives, so the hold comes before any output item.
        if delay:
            self.hold(delay, "openai")
        out = 0
        pieces = chunks(text) if text else []
        if pieces:
            mid = st.next_id("msg")
            item = {"type": "message", "role": "assistant", "id": mid, "content": []}
            self.event("response.output_item.added", {"type": "response.output_item.added",
                                                      "output_index": out, "item": item})
            for i, p in enumerate(pieces):
                self.event("response.output_text.delta", {"type": "response.output_text.delta", "item_id": mid,
                                                          "output_index": out, "content_index": 0, "delta": p})
                if cdelay:
                    STOP.wait(cdelay)
            done = dict(item, content=[{"type": "output_text", "text": text, "annotations": []}])
            self.event("response.output_item.done", {"type": "response.output_item.done",
                                                     "output_index": out, "item": done})
            out += 1
        if tool:
            cid = st.next_id("call")
            with st.lock:
                st.pending_final[cid] = turn.get("final", "done")
            # A named tool is Claude's; Codex gets its shell with `command` (or `true`).
            args = {"cmd": tool.get("command", "true")}
            if tool.get("needs_approval", True):
                args["sandbox_permissions"] = "require_escalated"
                args["justification"] = "The test asks to run this command outside the sandbox."
            item = {"type": "function_call", "id": st.next_id("fc"), "call_id": cid, "name": "exec_command",
                    "arguments": json.dumps(args), "status": "completed"}
            self.event("response.output_item.added", {"type": "response.output_item.added",
                                                      "output_index": out, "item": dict(item, arguments="")})
            self.event("response.output_item.done", {"type": "response.output_item.done",
                                                     "output_index": out, "item": item})
        self.event("response.completed", {"type": "response.completed", "response": {
            "id": rid, "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                                 "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                                 "total_tokens": 15}}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description="Fake Anthropic Messages + OpenAI Responses server (loopback only).")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--port-file", help="write the chosen port here (atomically)")
    ap.add_argument("--log", help="append one JSON line per model request to this file")
    ap.add_argument("--log-bodies", action="store_true", help="include each request body in the log")
    a = ap.parse_args()
    if not 0 <= a.port <= 65535:
        print("fake-model: --port: must be 0..65535", file=sys.stderr)
        return 2
    try:
        srv = Server(("127.0.0.1", a.port), Handler)
    except OSError as e:
        print("fake-model: cannot listen on 127.0.0.1:%d: %s" % (a.port, e.strerror), file=sys.stderr)
        return 1
    srv.state = State(a.log, a.log_bodies)
    port = srv.server_address[1]
    if a.port_file:
        tmp = "%s.%d.tmp" % (a.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)

    def stop(signum, frame):
        STOP.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("fake-model: listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
