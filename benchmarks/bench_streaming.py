"""Streaming vs in-memory preparation over a large simulated log: peak RSS and throughput.

Two comparisons on one simulated world (``gbltr simulate --queries Q --sessions S``; 10 shown
documents per session, so S sessions give ~10 S impressions), each side in a fresh subprocess so
that peak RSS (``ru_maxrss``) is its own:

``log``
    Everything the pipeline takes from the log: reading the dataset, query frequency and stats,
    and PBM click labels of the training queries. In memory: ``read_dataset`` (the whole log
    loaded and checked) + :func:`gbltr.data.frequency.query_stats` +
    :func:`gbltr.labels.clicks.click_labels`. Streaming: ``read_dataset(impressions=False)`` +
    :func:`gbltr.data.stream.dataset_log` (lazy checks) + :func:`~gbltr.data.stream.query_stats_lazy`
    + :func:`gbltr.labels.clicks.stream.click_labels_scan`.
``prepare``
    The whole :func:`gbltr.pipeline.prepare` (``--labels fused``: features, click and LLM labels,
    ranking datasets) with ``train.stream`` off vs on.

Click labels use PBM (the default) or ``--click-model``.
``frequency`` (only with ``--parts frequency``)
    The earlier query-frequency-only comparison (``query_frequency(read_parquet)`` vs
    ``query_frequency_scan``) on the same log.

Results are checked equal (click labels and stats; for ``prepare`` a hash of every train/valid/test
matrix, label array and query order). Prints seconds, peak RSS and impressions/s per side, the
ratios, the load average, and a last line ``RESULT {json}``. Usage::

    python benchmarks/bench_streaming.py [--queries 6000] [--sessions 1050000] [--world DIR]
                                         [--parts log,prepare] [--click-model pbm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import hashlib, json, resource, sys, time
import numpy as np
import polars as pl
part, mode, world, click_model = sys.argv[1:5]
t = time.perf_counter()
digest = hashlib.sha1()
def add(frame):
    digest.update(np.ascontiguousarray(frame.hash_rows(seed=0).to_numpy()).tobytes())
if part == "frequency":
    from gbltr.data.frequency import query_frequency, query_frequency_scan
    ids = pl.read_parquet(world + "/queries.parquet")["query_id"]
    if mode == "memory":
        add(query_frequency(pl.read_parquet(world + "/impressions.parquet"), ids))
    else:
        add(query_frequency_scan(world + "/impressions.parquet", ids))
elif part == "log":
    from gbltr.config import load_config
    from gbltr.data.store import read_dataset
    spec = load_config(None, {}).buckets.spec()
    cfg = load_config(None, {"click": {"model": click_model}}).click
    if mode == "memory":
        from gbltr.data.frequency import query_stats
        from gbltr.labels.clicks.labels import click_labels
        ds = read_dataset(world)
        stats = query_stats(ds.impressions, ds.queries["query_id"], spec)
        train = ds.queries.filter(pl.col("split") == "train")["query_id"]
        cl = click_labels(ds.impressions, ds.candidates, train, cfg)
    else:
        from gbltr.data.stream import dataset_log, query_stats_lazy
        from gbltr.labels.clicks.stream import click_labels_scan
        ds = read_dataset(world, impressions=False)
        lazy = dataset_log(world, ds.queries, ds.documents)
        stats = query_stats_lazy(lazy, ds.queries["query_id"], spec)
        train = ds.queries.filter(pl.col("split") == "train")["query_id"]
        cl = click_labels_scan(lazy, ds.candidates, train, cfg)
    add(stats)
    add(cl.frame.drop("propensity", "ips_weight"))
else:
    from gbltr.config import load_config
    from gbltr.pipeline import prepare
    cfg = load_config(None, {"data": world, "labels": "fused", "click": {"model": click_model},
                             "train": {"stream": "on" if mode == "streaming" else "off"}})
    prep = prepare(cfg)
    add(prep.stats)
    for split in ("train", "valid", "test"):
        ds = getattr(prep, split)
        digest.update(np.ascontiguousarray(ds.X).tobytes())
        digest.update(np.asarray(ds.query_ids).astype(str).astype(bytes).tobytes())
        for k in sorted(ds.labels):
            digest.update(np.ascontiguousarray(ds.labels[k]).tobytes())
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "digest": digest.hexdigest()}))
"""


def run(part: str, mode: str, world: Path, click_model: str) -> dict:
    env = {**os.environ, "GBLTR_LOG": "WARNING", "GBLTR_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, "-c", CHILD, part, mode, str(world), click_model], capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{part}/{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def simulate(folder: Path, queries: int, sessions: int) -> None:
    args = ["simulate", "--out", str(folder), "--queries", str(queries), "--sessions", str(sessions)]
    subprocess.run([sys.executable, "-c", f"from gbltr.cli import main; main({args!r})"], check=True,
                   capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=6000)
    ap.add_argument("--sessions", type=int, default=1_050_000)
    ap.add_argument("--world", help="an existing dataset folder to use instead of simulating one")
    ap.add_argument("--parts", default="log,prepare", help="comma-separated: log, prepare, frequency")
    ap.add_argument("--click-model", default="pbm", help="a click model that streams: ctr, dctr, pbm, ubm")
    ap.add_argument("--streaming-only", action="store_true",
                    help="run only the streaming side (a log whose in-memory path would not fit this machine); "
                         "no ratio, no equality check")
    args = ap.parse_args()
    import polars as pl

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gbltr-bench-stream-") as tmp:
        world = Path(args.world) if args.world else Path(tmp) / "world"
        if not args.world:
            t = time.perf_counter()
            simulate(world, args.queries, args.sessions)
            print(f"simulated {world} in {time.perf_counter() - t:.1f}s", flush=True)
        n = pl.scan_parquet(world / "impressions.parquet").select(pl.len()).collect().item()
        print(f"log: {n:,} impressions ({(world / 'impressions.parquet').stat().st_size / 2**20:.0f} MiB Parquet), "
              f"{pl.scan_parquet(world / 'candidates.parquet').select(pl.len()).collect().item():,} candidates", flush=True)
        out: dict = {"impressions": n, "click_model": args.click_model, "world": str(args.world or f"simulate --queries {args.queries} "
                                                                    f"--sessions {args.sessions}"),
                     "load_before": load[0], "parts": {}}
        for part in args.parts.split(","):
            modes = ("streaming",) if args.streaming_only else ("memory", "streaming")
            res = {mode: run(part, mode, world, args.click_model) for mode in modes}
            for mode, r in res.items():
                r["impressions_per_s"] = n / r["seconds"]
                print(f"{part:>9} {mode:>9}: {r['seconds']:7.2f}s  peak RSS {r['peak_rss_mb']:6.0f} MB  "
                      f"{r['impressions_per_s'] / 1e6:.2f}M impressions/s", flush=True)
            if args.streaming_only:
                out["parts"][part] = res
                continue
            same = res["memory"]["digest"] == res["streaming"]["digest"]
            rss = res["streaming"]["peak_rss_mb"] / res["memory"]["peak_rss_mb"]
            speed = res["streaming"]["impressions_per_s"] / res["memory"]["impressions_per_s"]
            print(f"{part:>9} streaming / in-memory: peak RSS x{rss:.2f}, throughput x{speed:.2f}; results equal: {same}",
                  flush=True)
            out["parts"][part] = {**res, "rss_ratio": round(rss, 3), "throughput_ratio": round(speed, 3),
                                  "equal": same}
    after = os.getloadavg()
    out["load_after"] = after[0]
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; after: {' '.join(f'{x:.1f}' for x in after)}")
    if not all(p.get("equal", True) for p in out["parts"].values()):
        raise SystemExit("streaming and in-memory results differ")
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
