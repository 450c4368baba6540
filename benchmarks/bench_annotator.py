"""Annotator speed against a local OpenAI-compatible server (tests/llm/lean_openai.py) with fixed latency.

The server is a real HTTP/1.1 server on 127.0.0.1 in its own process, answering like
tests/llm/fake_openai.py, but on asyncio with one write per reply: it shares the machine's cores
with the client being measured, so its own CPU time per request is kept small.

Figures:
* fresh calls: PointAnn requests per second at ``--concurrency`` against a server that answers
  each request after ``--latency`` seconds; the bound is concurrency / latency (requests in
  flight divided by the time each takes). Target: >= 80% of the bound. Measured twice, side by
  side: in one process (``--workers 1``, the default of ``gbltr annotate``) and with
  ``--workers N`` request processes (default 2, the best setting on a 2-core machine). The
  worker processes are started and warmed up before the clock starts: the timed part is one
  ``annotate`` call (prompts, cache lookups and writes, requests, parsing, the label frame), not
  the one-off process start (about a second per run, paid once by ``gbltr annotate``).
* cache hits: labels per second when every answer is in the SQLite cache (PointAnn: one
  answer per label; ListAnn: one answer per ``window`` labels). Target: >= 20,000 labels/s.

Run: ``python benchmarks/bench_annotator.py [--requests 1280 --concurrency 32 --latency 0.05 --workers 2]``.
The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
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
from gbltr.labels.llm.workers import WorkerPool  # noqa: E402


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
    ap.add_argument("--workers", type=int, default=2, help="request processes of the multi-process figure")
    ap.add_argument("--repeat", type=int, default=3, help="timed fresh runs per setting (the median is reported)")
    args = ap.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    result: dict = {"concurrency": args.concurrency, "latency_s": args.latency, "cpus": os.cpu_count(), "workers": args.workers}
    bound = args.concurrency / args.latency
    with fake_server(args.latency) as base_url, tempfile.TemporaryDirectory() as tmp:
        point = StrategyConfig(strategy="point", logprobs=False)

        def fresh(client: ClientConfig, pool, tag: str) -> float:
            """Requests per second of one timed annotate run of fresh PointAnn requests."""
            pairs = make_pairs(args.requests).with_columns(pl.col("text") + f" fresh {tag}")
            t0 = time.perf_counter()
            res = annotate(pairs, point, client, cache_path=Path(tmp) / f"bench-{tag}.sqlite", progress=False, pool=pool)
            dt = time.perf_counter() - t0
            assert res.labels["label"].null_count() == 0, res.labels["parse_status"].value_counts()
            assert res.usage.calls == args.requests
            rate = args.requests / dt
            print(f"fresh PointAnn, {tag}: {args.requests} requests in {dt:.2f}s = {rate:.0f} req/s; bound {bound:.0f} req/s -> {rate / bound:.0%}")
            return rate

        single_cfg = ClientConfig(model="bench", base_url=base_url, concurrency=args.concurrency, timeout=30, retries=0)
        multi_cfg = ClientConfig(model="bench", base_url=base_url, concurrency=args.concurrency, timeout=30, retries=0, workers=args.workers)
        rates: dict[int, list[float]] = {1: [], args.workers: []}
        with WorkerPool(multi_cfg) as pool:  # started before the clock
            for cfg, p in ((single_cfg, None), (multi_cfg, pool)):  # warm-up (connections, imports), not timed
                annotate(make_pairs(args.concurrency * 2).with_columns(pl.col("text") + f" warm {cfg.workers}"), point, cfg, cache_path=None, progress=False, pool=p)
            for rep in range(args.repeat):  # alternate, so that a load spike from elsewhere hits both
                rates[1].append(fresh(single_cfg, None, f"1 process #{rep + 1}"))
                rates[args.workers].append(fresh(multi_cfg, pool, f"{args.workers} worker processes #{rep + 1}"))
        single, multi = statistics.median(rates[1]), statistics.median(rates[args.workers])
        print(f"fresh PointAnn, median of {args.repeat}: 1 process {single:.0f} req/s ({single / bound:.0%}) | "
              f"{args.workers} worker processes {multi:.0f} req/s ({multi / bound:.0%}); best {max(rates[1]) / bound:.0%} | {max(rates[args.workers]) / bound:.0%}")
        result["bound_req_per_s"] = round(bound, 1)
        result["fresh_req_per_s_1_process"] = round(single, 1)
        result["fresh_fraction_of_bound_1_process"] = round(single / bound, 3)
        result["fresh_req_per_s"] = round(multi, 1)
        result["fresh_fraction_of_bound"] = round(multi / bound, 3)
        result["fresh_fraction_of_bound_runs"] = {str(w): [round(r / bound, 3) for r in v] for w, v in rates.items()}
        result["fresh_timed"] = f"median of {args.repeat} annotate calls per setting; worker processes started and warmed up before the clock"
        client = single_cfg

        # cache hits: PointAnn (1 answer per label) and ListAnn (window answers per call)
        big = make_pairs(args.cached_labels)
        big_cache = Path(tmp) / "big.sqlite"
        annotate(big, point, ClientConfig(model="bench", base_url=base_url, concurrency=64, retries=0), cache_path=big_cache, progress=False)
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
