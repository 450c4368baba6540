"""A lean OpenAI-compatible chat server for the benchmark: asyncio, HTTP/1.1 keep-alive, one write per reply.

Same answers as :mod:`fake_openai` (:func:`fake_openai.default_content` /
:func:`fake_openai.completion`), a real HTTP server on 127.0.0.1, but only
``POST /v1/chat/completions`` and no scripting or request log: it exists so that the server's own
CPU time (it shares the machine with the client being measured) is as small as possible. A
thread-per-connection ``http.server`` costs several times more per request and its replies leave
in two writes (headers, body).

Run: ``python tests/llm/lean_openai.py --latency 0.05``; prints its base URL, serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from fake_openai import Request, completion, default_content

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


def _reply(status: int, payload: dict) -> bytes:
    data = json.dumps(payload).encode()
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (status, _REASONS[status], len(data))
    return head + data


def answer(path: str, raw: bytes) -> bytes:
    """The full HTTP response to one request (status line, headers and body)."""
    if not path.split("?")[0].endswith("/chat/completions"):
        return _reply(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error", "code": None, "param": None}})
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return _reply(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error", "code": None, "param": None}})
    req = Request(path, body, {}, 0, 1)
    return _reply(200, completion(body, default_content(req)))


async def serve(latency: float) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                raw = await reader.readexactly(length) if length else b""
                if latency:
                    await asyncio.sleep(latency)
                writer.write(answer(path, raw))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=256)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.0)
    asyncio.run(serve(ap.parse_args().latency))
