"""Client CPU per chat-completions call: the public SDK path gbltr uses against the private one it
replaced, side by side against the same local server (tests/llm/lean_openai.py, zero latency).

* ``public``: :func:`gbltr.labels.llm.client.post_chat`, i.e.
  ``sdk.chat.completions.with_raw_response.create(**body)`` (typed-parameter transform included);
* ``private``: ``sdk.post("/chat/completions", body=..., cast_to=httpx2.Response,
  options={"security": {"bearer_auth": True}})``, the SDK-internal call the annotator used
  before issue 12 (skips the transform; kept here only as the anchor of this measurement).

Both send the same PointAnn-sized body ``--requests`` times at ``--concurrency`` in one event loop,
alternating rounds (``--repeat``), and report client CPU seconds per request (``process_time``,
which excludes the server: it runs in another process). The ratio public / private is the price of
using only the public API.

Run: ``python benchmarks/bench_sdk_call.py [--requests 2000 --concurrency 32 --repeat 3]``; the last
line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gbltr.labels.llm.client import post_chat


def _body(i: int) -> dict:
    text = f"document text {i} " * 40
    return {
        "model": "bench", "temperature": 0.0, "max_tokens": 512,
        "messages": [{"role": "system", "content": "You are a search quality rater."},
                     {"role": "user", "content": f"Query: query {i}\n\nPassage:\n<passage>{text}</passage>\n\nAnswer with JSON."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "relevance", "strict": True, "schema": {
            "type": "object", "properties": {"label": {"type": "integer", "enum": [0, 1, 2, 3, 4]}}, "required": ["label"], "additionalProperties": False}}},
    }


async def _round(kind: str, base_url: str, n: int, concurrency: int) -> float:
    import httpx2
    import openai

    sdk = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0, timeout=30)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with sem:
            body = _body(i)
            if kind == "public":
                out = await post_chat(sdk, body)
                assert out[0] == "ok", out
            else:
                raw = await sdk.post("/chat/completions", body=body, cast_to=httpx2.Response, options={"security": {"bearer_auth": True}})
                assert raw.status_code == 200

    await one(-1)  # warm up the connection pool
    t0 = time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    cpu = time.process_time() - t0
    await sdk.close()
    return cpu / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    server = Path(__file__).resolve().parents[1] / "tests" / "llm" / "lean_openai.py"
    proc = subprocess.Popen([sys.executable, str(server), "--latency", "0"], stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        per = {"public": [], "private": []}
        for _ in range(args.repeat):
            for kind in ("public", "private"):
                per[kind].append(asyncio.run(_round(kind, base_url, args.requests, args.concurrency)))
    finally:
        proc.terminate()
        proc.wait(10)
    pub, priv = statistics.median(per["public"]), statistics.median(per["private"])
    print(f"client CPU per request: public API {pub * 1e3:.3f} ms, private sdk.post {priv * 1e3:.3f} ms, ratio {pub / priv:.2f}")
    print("load: " + os.popen("uptime").read().strip())
    print("RESULT " + json.dumps({"public_ms": round(pub * 1e3, 4), "private_ms": round(priv * 1e3, 4), "ratio": round(pub / priv, 3),
                                  "requests": args.requests, "concurrency": args.concurrency, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
