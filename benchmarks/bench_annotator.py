"""Annotator speed against a local OpenAI-compatible server (tests/llm/lean_openai.py) with fixed latency.

The server is a real HTTP/1.1 server on 127.0.0.1 in its own process, answering like
tests/llm/fake_openai.py, but on asyncio with one write per reply: it shares the machine's cores
with the client being measured, so its own CPU time per request is kept small.

Figures:
* fresh calls: PointAnn requests per second at ``--concurrency`` against a server that answers
  each request after ``--latency`` seconds; the bound is concurrency / latency (requests in
  flight divided by the time each takes). Target: >= 80% of the bound.
* cache hits: labels per second when every answer is in the SQLite cache (PointAnn: one
  answer per label; ListAnn: one answer per ``window`` labels). Target: >= 20,000 labels/s.

Run: ``python benchmarks/bench_annotator.py [--requests 1280 --concurrency 32 --latency 0.05]``.
The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "llm"))

from gbltr.labels.llm.annotate import annotate  # noqa: E402
from gbltr.labels.llm.client import ClientConfig  # noqa: E402
from gbltr.labels.llm.strategies import StrategyConfig  # noqa: E402


def make_pairs(n: int, docs_per_query: int = 20) -> pl.DataFrame:
    rows = [(f"q{i // docs_per_query}", f"query {i // docs_per_query}", f"d{i}", f"document text {i} " * 8) for i in range(n)]
    return pl.DataFrame(rows, schema={"query_id": pl.String, "query": pl.String, "doc_id": pl.String, "text": pl.String}, orient="row").with_columns(
        pl.int_range(1, pl.len() + 1).over("query_id").cast(pl.Int32).alias("rank")
    )


@contextlib.contextmanager
def fake_server(latency: float):
    """The lean server in its own process, so that it does not share the client's GIL."""
    script = Path(__file__).resolve().parents[1] / "tests" / "llm" / "lean_openai.py"
    proc = subprocess.Popen([sys.executable, str(script), "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1280)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--cached-labels", type=int, default=20000)
    args = ap.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    result: dict = {"concurrency": args.concurrency, "latency_s": args.latency, "cpus": os.cpu_count()}
    with fake_server(args.latency) as base_url, tempfile.TemporaryDirectory() as tmp:
        client = ClientConfig(model="bench", base_url=base_url, concurrency=args.concurrency, timeout=30, sdk_retries=0, outer_retries=0)
        point = StrategyConfig(strategy="point", logprobs=False)
        # warm-up (connections, imports)
        annotate(make_pairs(args.concurrency), point, client, cache_path=None, progress=False)
        pairs = make_pairs(args.requests).with_columns(pl.col("text") + " fresh")
        cache = Path(tmp) / "bench.sqlite"
        t0 = time.perf_counter()
        res = annotate(pairs, point, client, cache_path=cache, progress=False)
        dt = time.perf_counter() - t0
        assert res.labels["label"].null_count() == 0, res.labels["parse_status"].value_counts()
        bound = args.concurrency / args.latency
        result["fresh_req_per_s"] = round(args.requests / dt, 1)
        result["bound_req_per_s"] = round(bound, 1)
        result["fresh_fraction_of_bound"] = round(args.requests / dt / bound, 3)
        print(f"fresh PointAnn: {args.requests} requests in {dt:.2f}s = {args.requests / dt:.0f} req/s; bound {bound:.0f} req/s -> {args.requests / dt / bound:.0%}")

        # cache hits: PointAnn (1 answer per label) and ListAnn (window answers per call)
        big = make_pairs(args.cached_labels)
        big_cache = Path(tmp) / "big.sqlite"
        annotate(big, point, ClientConfig(model="bench", base_url=base_url, concurrency=64, sdk_retries=0, outer_retries=0), cache_path=big_cache, progress=False)
        t0 = time.perf_counter()
        res = annotate(big, point, client, cache_path=big_cache, progress=False)
        dt = time.perf_counter() - t0
        assert res.usage.calls == 0 and res.labels["label"].null_count() == 0
        result["cached_point_labels_per_s"] = round(big.height / dt)
        print(f"cached PointAnn: {big.height} labels in {dt:.2f}s = {big.height / dt:,.0f} labels/s")
        lst = StrategyConfig(strategy="list", window=20)
        annotate(big, lst, client, cache_path=big_cache, progress=False)
        t0 = time.perf_counter()
        res = annotate(big, lst, client, cache_path=big_cache, progress=False)
        dt = time.perf_counter() - t0
        assert res.usage.calls == 0
        result["cached_list_labels_per_s"] = round(big.height / dt)
        print(f"cached ListAnn (window 20): {big.height} labels in {dt:.2f}s = {big.height / dt:,.0f} labels/s")
    result["fresh_target_met"] = result["fresh_fraction_of_bound"] >= 0.8
    result["cache_target_met"] = result["cached_point_labels_per_s"] >= 20000
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
