"""A real HTTP server on 127.0.0.1 that speaks the parts of the OpenAI API the annotator uses.

``/v1/chat/completions``, ``/v1/files`` (upload, content) and ``/v1/batches`` (create,
retrieve). Each test scripts it with ``server.script = fn(request) -> Reply | None``; ``None``
falls back to :func:`default_answer`, a deterministic, valid answer read off the prompt (the
numbered ``[i]`` passages and the requested JSON shape). The server counts requests per
request-body hash (``server.key_counts``) so that tests can prove no request was repeated.

Used by tests/llm/* and benchmarks/bench_annotator.py; import it by path (no package).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ID_LINE = re.compile(r"^\[(\d+)\]", re.M)


@dataclass
class Request:
    path: str
    body: dict
    headers: dict
    n: int  # 1-based index of this request at the server
    key_count: int  # how many times this exact body has been seen, this one included

    @property
    def user(self) -> str:
        return next((m["content"] for m in reversed(self.body.get("messages", [])) if m["role"] == "user"), "")

    @property
    def prompt(self) -> str:
        return "\n".join(m["content"] for m in self.body.get("messages", []))

    @property
    def n_ids(self) -> int:
        msgs = self.body.get("messages", [])
        first_user = next((m["content"] for m in msgs if m["role"] == "user"), "")
        return len(_ID_LINE.findall(first_user))

    @property
    def kind(self) -> str:
        rf = self.body.get("response_format") or {}
        props = ((rf.get("json_schema") or {}).get("schema") or {}).get("properties") or {}
        text = json.dumps(props) if props else self.prompt
        for k in ("ranking", "relevant", "labels"):
            if f'"{k}"' in text:
                return k
        return "label"


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # assistant message content (200 only)
    finish_reason: str = "stop"
    body: dict | None = None  # full JSON body overriding everything
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    logprobs: list | None = None


def error(status: int, message: str = "error", code: str | None = None, etype: str = "invalid_request_error", headers=None) -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": etype, "code": code, "param": None}}, headers=headers or {})


def default_content(req: Request) -> str:
    n = req.n_ids
    kind = req.kind
    if kind == "ranking":
        return json.dumps({"ranking": list(range(n, 0, -1))})  # reverse of shown order
    if kind == "relevant":
        return json.dumps({"relevant": [i for i in range(1, n + 1) if i % 2 == 1]})
    if kind == "labels":
        return json.dumps({"labels": [{"id": i, "label": i % 5} for i in range(1, n + 1)]})
    return json.dumps({"label": 2})


def label_logprobs() -> list:
    top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in (("2", -0.4), ("3", -2.0), ("1", -3.0), ("x", -2.5))]
    return [
        {"token": '{"', "logprob": -0.01, "bytes": None, "top_logprobs": []},
        {"token": "label", "logprob": -0.01, "bytes": None, "top_logprobs": []},
        {"token": '":', "logprob": -0.01, "bytes": None, "top_logprobs": []},
        {"token": " ", "logprob": -0.01, "bytes": None, "top_logprobs": []},
        {"token": "2", "logprob": -0.4, "bytes": None, "top_logprobs": top},
        {"token": "}", "logprob": -0.01, "bytes": None, "top_logprobs": []},
    ]


def completion(body: dict, content: str, finish_reason: str = "stop", logprobs=None) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    elif body.get("logprobs") and content == '{"label": 2}':
        choice["logprobs"] = {"content": label_logprobs()}
    p = sum(len(m.get("content", "")) for m in body.get("messages", [])) // 4
    c = max(1, len(content) // 4)
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "fake"), "choices": [choice],
        "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                  "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
    }


def body_key(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class FakeOpenAI:
    """``with FakeOpenAI() as srv: srv.base_url`` -> ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, latency: float = 0.0, batch_polls: int = 1):
        self.latency = latency
        # llama.cpp's probes: with ``context`` set, GET /props reports it as the slot context
        # and POST /tokenize counts one token per ``chars_per_token`` characters
        self.context: int | None = None
        self.chars_per_token = 2
        self.script = None
        self.requests: list[Request] = []
        self.key_counts: Counter = Counter()
        self.answered: Counter = Counter()  # keys whose 200 answer was fully written to the client
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_polls = batch_polls
        self._lock = threading.Lock()
        self._httpd = None

    # lifecycle
    def start(self) -> "FakeOpenAI":
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: avoid the 40 ms delayed-ACK stall

            def log_message(self, *a):
                pass

            def _send(self, status, payload, headers=None, raw=False):
                data = payload if raw else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                srv._get(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                srv._post(self, raw)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # many concurrent clients connect at once (benchmark)

            def handle_error(self, request, client_address):  # clients that hang up (401 tests, kills)
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # chat
    def answer_chat(self, body: dict, req: Request) -> tuple[int, dict, dict, float]:
        reply = self.script(req) if self.script else None
        if reply is None:
            reply = Reply(content=default_content(req))
        if reply.body is not None:
            return reply.status, reply.body, reply.headers, reply.delay
        return reply.status, completion(body, reply.content if reply.content is not None else default_content(req), reply.finish_reason, reply.logprobs), reply.headers, reply.delay

    def _post(self, h, raw: bytes):
        path = h.path.split("?")[0]
        if path.endswith("/chat/completions"):
            body = json.loads(raw or b"{}")
            with self._lock:
                key = body_key(body)
                self.key_counts[key] += 1
                req = Request(path, body, dict(h.headers), len(self.requests) + 1, self.key_counts[key])
                self.requests.append(req)
            status, payload, headers, delay = self.answer_chat(body, req)
            if self.latency or delay:
                time.sleep(self.latency + delay)
            h._send(status, payload, headers)
            if status == 200:
                with self._lock:
                    self.answered[key] += 1
            return None
        with self._lock:
            self.requests.append(Request(path, {}, dict(h.headers), len(self.requests) + 1, 1))
        if path == "/tokenize" and self.context is not None:
            body = json.loads(raw or b"{}")
            return h._send(200, {"tokens": list(range(len(body.get("content", "")) // self.chars_per_token))})
        if path.endswith("/files"):
            content = _multipart_file(h.headers.get("Content-Type", ""), raw)
            fid = "file-" + uuid.uuid4().hex[:10]
            self.files[fid] = content
            return h._send(200, {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()), "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})
        if path.endswith("/batches"):
            body = json.loads(raw or b"{}")
            bid = "batch_" + uuid.uuid4().hex[:10]
            self.batches[bid] = {"id": bid, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"], "completion_window": body["completion_window"], "status": "validating", "created_at": int(time.time()), "_polls": 0}
            return h._send(200, self._batch_view(bid))
        h._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error", "code": None, "param": None}})

    def _batch_view(self, bid):
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def _run_batch(self, bid):
        b = self.batches[bid]
        out, err = [], []
        for line in self.files[b["input_file_id"]].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            body = item["body"]
            with self._lock:
                key = body_key(body)
                self.key_counts[key] += 1
                req = Request(item["url"], body, {}, len(self.requests) + 1, self.key_counts[key])
                self.requests.append(req)
            status, payload, _, _ = self.answer_chat(body, req)
            if status == 200:
                out.append({"id": "br_" + uuid.uuid4().hex[:8], "custom_id": item["custom_id"], "response": {"status_code": 200, "request_id": "r", "body": payload}, "error": None})
            else:
                err.append({"id": "br_" + uuid.uuid4().hex[:8], "custom_id": item["custom_id"], "response": {"status_code": status, "request_id": "r", "body": payload}, "error": None})
        ofid, efid = "file-" + uuid.uuid4().hex[:10], "file-" + uuid.uuid4().hex[:10]
        self.files[ofid] = "".join(json.dumps(x) + "\n" for x in out).encode()
        self.files[efid] = "".join(json.dumps(x) + "\n" for x in err).encode()
        b.update(status="completed", output_file_id=ofid, error_file_id=efid if err else None,
                 request_counts={"total": len(out) + len(err), "completed": len(out), "failed": len(err)})

    def _get(self, h):
        path = h.path.split("?")[0]
        with self._lock:
            self.requests.append(Request(path, {}, dict(h.headers), len(self.requests) + 1, 1))
        if path == "/props" and self.context is not None:
            return h._send(200, {"default_generation_settings": {"n_ctx": self.context}, "total_slots": 1})
        m = re.search(r"/files/([^/]+)/content$", path)
        if m:
            return h._send(200, self.files[m.group(1)], raw=True)
        m = re.search(r"/batches/([^/]+)$", path)
        if m and m.group(1) in self.batches:
            b = self.batches[m.group(1)]
            b["_polls"] += 1
            if b["status"] != "completed":
                if b["_polls"] >= self.batch_polls:
                    self._run_batch(m.group(1))
                else:
                    b["status"] = "in_progress"
            return h._send(200, self._batch_view(m.group(1)))
        h._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error", "code": None, "param": None}})


def _multipart_file(content_type: str, raw: bytes) -> bytes:
    m = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not m:
        return raw
    boundary = b"--" + m.group(1).encode()
    for part in raw.split(boundary):
        if b'name="file"' in part:
            head, _, data = part.partition(b"\r\n\r\n")
            return data[:-2] if data.endswith(b"\r\n") else data
    return b""


if __name__ == "__main__":  # a server in its own process (the benchmark): prints its base URL
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.0)
    a = ap.parse_args()
    srv = FakeOpenAI(latency=a.latency).start()
    print(srv.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()


def annotate_exit(args) -> int:
    """Run ``gbltr annotate ARGS`` in this process (against the fake server); return its exit status."""
    from gbltr.cli import main

    try:
        main(["annotate", *args])
    except SystemExit as exc:
        return exc.code or 0
    return 0
