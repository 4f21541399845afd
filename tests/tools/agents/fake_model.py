#!/usr/bin/env python3
"""A scripted fake model server for driving the real AI coding CLIs offline.

Usage: fake_model.py --script FILE --log FILE [--port 0] [--port-file FILE]

Listens on 127.0.0.1 (port 0: any free port; the port is printed on stdout and, with
--port-file, written to that file once the server accepts connections) and answers the one
endpoint each CLI needs (../shared/AGENT-CLIS.md):

  aider   POST /v1/chat/completions          OpenAI chat, streaming SSE or one JSON
  codex   POST /v1/responses                 OpenAI Responses, SSE ending in response.completed
  claude  HEAD /  and  POST /v1/messages     Anthropic Messages, SSE
  gemini  POST /v1beta/models/M:streamGenerateContent   Gemini SSE (and :generateContent)

The script (JSON) is a list of steps; each request to a model endpoint takes the next
response, and when they run out, `then` (default: a text "Done."):

  {"root": "/abs/workdir",                       # where relative edit paths live
   "steps": [
     {"edit": {"path": "calc.py", "old": "a - b", "new": "a + b"}},
     {"text": "Done."},
     {"error": 429, "retry_after": 1, "message": "slow down"},
   ],
   "then": {"error": 400},                        # optional; repeated forever
   "usage": {"input_tokens": 1200, "output_tokens": 34}}   # optional; per response (10/10)

An `edit` is answered in the asking CLI's own format: aider gets SEARCH/REPLACE blocks
(or, when its system prompt asks for whole files, the whole new file, read from `root`),
codex an `exec_command` call running `apply_patch`, claude a `Read` call then an `Edit`
call (two requests), gemini a `replace` call. `error` answers that HTTP status with the
provider's error body (and `Retry-After` when given). Any step may carry
`"also_write": {"path": "/abs/file", "text": "..."}`: the server writes that file when the
step is taken, before answering (a person editing the checkout while the agent works).
Every response reports `usage` (the same numbers each time, in each API's own fields), so
a test can check what the CLI says it used against the number of requests.

Every request is logged to --log as one JSON object per line: seq, method, path, the
endpoint's name, the parsed body, and what was answered. SIGTERM ends the server.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SYSTEM_WHOLE_HINT = "file listing"


class Script:
    """The scripted responses, consumed one per model request, shared by all threads."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.root = doc.get("root") or os.getcwd()
        self.then = doc.get("then") or {"text": "Done."}
        usage = doc.get("usage") or {}
        self.input_tokens = int(usage.get("input_tokens", 10))
        self.output_tokens = int(usage.get("output_tokens", 10))
        self.queue = []
        self.lock = threading.Lock()
        # Claude reads a file before it may edit it: one scripted edit is two responses.
        self.steps = list(doc.get("steps", []))

    def next(self, endpoint):
        with self.lock:
            if self.queue:
                return self.queue.pop(0)
            step = self.steps.pop(0) if self.steps else self.then
            side = step.get("also_write")
            if side:
                with open(side["path"], "w", encoding="utf-8") as f:
                    f.write(side["text"])
            if endpoint == "claude" and "edit" in step:
                self.queue.append({"claude_edit": step["edit"]})
                return {"claude_read": step["edit"]}
            return step

    def abs_path(self, path):
        return path if os.path.isabs(path) else os.path.join(self.root, path)


class Log:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()
        self.seq = 0

    def write(self, record):
        with self.lock:
            self.seq += 1
            record = {"seq": self.seq, **record}
            self.f.write(json.dumps(record) + "\n")
            self.f.flush()


def endpoint_of(method, path):
    bare = path.split("?", 1)[0]
    if method == "POST" and bare.endswith("/chat/completions"):
        return "aider"
    if method == "POST" and bare.endswith("/responses"):
        return "codex"
    if method == "POST" and bare.endswith("/messages"):
        return "claude"
    if method == "POST" and (":streamGenerateContent" in bare or ":generateContent" in bare):
        return "gemini"
    return None


def sse(event, data):
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def error_body(endpoint, status, message):
    if endpoint == "claude":
        kinds = {400: "invalid_request_error", 401: "authentication_error",
                 403: "permission_error", 429: "rate_limit_error", 529: "overloaded_error"}
        return {"type": "error",
                "error": {"type": kinds.get(status, "api_error"), "message": message}}
    if endpoint == "gemini":
        names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 429: "RESOURCE_EXHAUSTED"}
        return {"error": {"code": status, "message": message,
                          "status": names.get(status, "INTERNAL")}}
    codes = {400: "invalid_request_error", 401: "invalid_api_key",
             429: "rate_limit_exceeded"}
    return {"error": {"message": message, "type": codes.get(status, "server_error"),
                      "param": None, "code": codes.get(status)}}


def default_message(status):
    return {400: "Bad request (scripted by the fake model server)",
            401: "Incorrect API key provided (scripted)",
            403: "Forbidden (scripted)",
            429: "Rate limit reached (scripted)",
            529: "Overloaded (scripted)"}.get(status, f"HTTP {status} (scripted)")


# ---- aider: OpenAI chat completions ----

def aider_text(step, script, body):
    if "text" in step:
        return step["text"]
    edit = step["edit"]
    system = " ".join(m.get("content", "") for m in body.get("messages", [])
                      if m.get("role") == "system" and isinstance(m.get("content"), str))
    if "SEARCH/REPLACE" not in system and SYSTEM_WHOLE_HINT in system:
        with open(script.abs_path(edit["path"]), encoding="utf-8") as f:
            content = f.read().replace(edit["old"], edit["new"], 1)
        if not content.endswith("\n"):
            content += "\n"
        return f"{edit['path']}\n```\n{content}```\n"
    return (f"{edit['path']}\n```\n<<<<<<< SEARCH\n{edit['old'].rstrip(chr(10))}\n=======\n"
            f"{edit['new'].rstrip(chr(10))}\n>>>>>>> REPLACE\n```\n")


def answer_aider(h, step, script, body):
    text = aider_text(step, script, body)
    model = body.get("model", "fake")
    created = int(time.time())
    usage = {"prompt_tokens": script.input_tokens, "completion_tokens": script.output_tokens,
             "total_tokens": script.input_tokens + script.output_tokens}
    if not body.get("stream"):
        return h.send_json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": created,
            "model": model, "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}]})
    chunks = []
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
            "model": model}
    chunks.append(sse(None, {**base, "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]}))
    chunks.append(sse(None, {**base, "usage": usage, "choices": [
        {"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    chunks.append(b"data: [DONE]\n\n")
    h.send_stream(chunks)


# ---- codex: OpenAI Responses ----

def apply_patch_command(edit):
    old = [f"-{line}" for line in edit["old"].rstrip("\n").split("\n")]
    new = [f"+{line}" for line in edit["new"].rstrip("\n").split("\n")]
    patch = "\n".join(["*** Begin Patch", f"*** Update File: {edit['path']}", "@@",
                       *old, *new, "*** End Patch"])
    return f"apply_patch <<'PATCH'\n{patch}\nPATCH"


def answer_codex(h, step, script, body, seq):
    rid = f"resp_{seq}"
    if "text" in step:
        item = {"type": "message", "role": "assistant", "id": f"msg_{seq}", "status": "completed",
                "content": [{"type": "output_text", "text": step["text"], "annotations": []}]}
    else:
        args = {"cmd": apply_patch_command(step["edit"]), "workdir": script.root}
        item = {"type": "function_call", "id": f"fc_{seq}", "call_id": f"call_{seq}",
                "name": "exec_command", "arguments": json.dumps(args), "status": "completed"}
    usage = {"input_tokens": script.input_tokens, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": script.output_tokens,
             "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": script.input_tokens + script.output_tokens}
    h.send_stream([
        sse("response.created", {"type": "response.created",
                                 "response": {"id": rid, "status": "in_progress", "output": []}}),
        sse("response.output_item.done", {"type": "response.output_item.done",
                                           "output_index": 0, "item": item}),
        sse("response.completed", {"type": "response.completed",
                                   "response": {"id": rid, "status": "completed",
                                                "output": [item], "usage": usage}}),
    ])


# ---- claude: Anthropic Messages ----

def answer_claude(h, step, script, body, seq):
    model = body.get("model", "claude-fake")
    if "text" in step:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": step["text"]}
        stop = "end_turn"
    else:
        if "claude_read" in step:
            name, args = "Read", {"file_path": script.abs_path(step["claude_read"]["path"])}
        else:
            e = step.get("claude_edit") or step["edit"]
            name, args = "Edit", {"file_path": script.abs_path(e["path"]),
                                  "old_string": e["old"], "new_string": e["new"]}
        block = {"type": "tool_use", "id": f"toolu_{seq}", "name": name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(args)}
        stop = "tool_use"
    usage = {"input_tokens": script.input_tokens, "output_tokens": script.output_tokens}
    h.send_stream([
        sse("message_start", {"type": "message_start", "message": {
            "id": f"msg_{seq}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": block}),
        sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta",
                              "delta": {"stop_reason": stop, "stop_sequence": None},
                              "usage": {"output_tokens": script.output_tokens}}),
        sse("message_stop", {"type": "message_stop"}),
    ])


# ---- gemini: streamGenerateContent ----

def answer_gemini(h, step, script, body, path):
    if "text" in step:
        part = {"text": step["text"]}
    else:
        e = step["edit"]
        part = {"functionCall": {"name": "replace", "args": {
            "file_path": script.abs_path(e["path"]), "old_string": e["old"],
            "new_string": e["new"], "instruction": "scripted edit"}}}
    chunk = {"candidates": [{"content": {"role": "model", "parts": [part]},
                             "finishReason": "STOP", "index": 0}],
             "usageMetadata": {"promptTokenCount": script.input_tokens,
                               "candidatesTokenCount": script.output_tokens,
                               "totalTokenCount": script.input_tokens + script.output_tokens}}
    if ":streamGenerateContent" in path:
        h.send_stream([sse(None, chunk)])
    else:
        h.send_json(200, chunk)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-model/1"

    def log_message(self, fmt, *args):  # the JSONL log says it all
        pass

    def send_json(self, status, doc, headers=()):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, chunks):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for c in chunks:
            self.wfile.write(c)
            self.wfile.flush()
        self.close_connection = True

    def do_HEAD(self):
        self.server.log.write({"method": "HEAD", "path": self.path, "endpoint": None})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.not_scripted("GET", None)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        endpoint = endpoint_of("POST", self.path)
        if endpoint is None:
            return self.not_scripted("POST", body)
        script = self.server.script
        step = script.next(endpoint)
        record = {"method": "POST", "path": self.path, "endpoint": endpoint, "body": body,
                  "answer": step}
        self.server.log.write(record)
        if "error" in step:
            status = int(step["error"])
            message = step.get("message") or default_message(status)
            headers = []
            if "retry_after" in step:
                headers.append(("Retry-After", str(step["retry_after"])))
            return self.send_json(status, error_body(endpoint, status, message), headers)
        seq = self.server.log.seq
        if endpoint == "aider":
            answer_aider(self, step, script, body)
        elif endpoint == "codex":
            answer_codex(self, step, script, body, seq)
        elif endpoint == "claude":
            answer_claude(self, step, script, body, seq)
        else:
            answer_gemini(self, step, script, body, self.path)

    def not_scripted(self, method, body):
        self.server.log.write({"method": method, "path": self.path, "endpoint": None,
                               "body": body, "answer": {"error": 404}})
        self.send_json(404, {"error": {"message": f"fake model: no endpoint {self.path}"}})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A CLI dropping its connection (after a probe, on exit) is no error of the script.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--script", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    a = p.parse_args()
    server = Server(("127.0.0.1", a.port), Handler)
    server.script = Script(a.script)
    server.log = Log(a.log)
    port = server.server_address[1]

    def stop(*_):
        # shutdown() waits for serve_forever, which runs in this thread: do it elsewhere.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)  # readers never see a half-written port
    print(port, flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
