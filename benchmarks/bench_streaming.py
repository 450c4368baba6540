"""Streaming vs in-memory query-frequency features over a large simulated log.

The log-derived feature input (query frequency = distinct sessions per query,
:mod:`gbltr.data.frequency`) computed two ways from the same impressions Parquet file, each in a
fresh subprocess so that peak RSS is its own:

- in-memory: ``query_frequency(pl.read_parquet(path), ids)`` (the pipeline's path);
- streaming: ``query_frequency_scan(path, ids)`` (Polars' streaming engine, two columns, batches).

Both results are checked equal. Prints peak RSS, seconds and impressions/s for each, the ratios,
and a last line ``RESULT {json}``. Usage::

    python benchmarks/bench_streaming.py [--impressions 10000000] [--queries 200000]
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
import json, resource, sys, time
import polars as pl
from gbltr.data.frequency import query_frequency, query_frequency_scan
path, ids_path, mode, out = sys.argv[1:5]
ids = pl.read_parquet(ids_path)["query_id"]
t = time.perf_counter()
if mode == "memory":
    freq = query_frequency(pl.read_parquet(path), ids)
else:
    freq = query_frequency_scan(path, ids)
seconds = time.perf_counter() - t
freq.write_parquet(out)
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def simulate_log(path: Path, n: int, n_queries: int, seed: int = 0) -> None:
    """``n`` impressions: 10 per session, sessions drawn per query with a Zipf-like popularity."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    n_sessions = n // 10
    popularity = 1.0 / np.arange(1, n_queries + 1) ** 1.1
    session_query = rng.choice(n_queries, size=n_sessions, p=popularity / popularity.sum())
    frame = pl.DataFrame({
        "session_id": pl.Series(np.repeat(np.arange(n_sessions), 10)).cast(pl.String),
        "query_id": pl.Series(np.repeat(session_query, 10)).cast(pl.String),
        "position": np.tile(np.arange(1, 11, dtype=np.int32), n_sessions),
        "doc_id": pl.Series(rng.integers(0, 1_000_000, n_sessions * 10)).cast(pl.String),
        "clicked": rng.random(n_sessions * 10) < 0.1,
    })
    frame.write_parquet(path, row_group_size=500_000)


def run(mode: str, path: Path, ids: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(ids), mode, str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--impressions", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=200_000)
    args = ap.parse_args()
    import polars as pl

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gbltr-bench-stream-") as tmp:
        tmp = Path(tmp)
        log_path = tmp / "impressions.parquet"
        t = time.perf_counter()
        simulate_log(log_path, args.impressions, args.queries)
        print(f"simulated {args.impressions:,} impressions in {time.perf_counter() - t:.1f}s "
              f"({log_path.stat().st_size / 2**20:.0f} MiB Parquet)", flush=True)
        pl.DataFrame({"query_id": pl.Series(range(args.queries)).cast(pl.String)}).write_parquet(tmp / "ids.parquet")
        results = {}
        for mode in ("memory", "streaming"):
            results[mode] = run(mode, log_path, tmp / "ids.parquet", tmp / f"{mode}.parquet")
            results[mode]["impressions_per_s"] = args.impressions / results[mode]["seconds"]
            print(f"{mode:>9}: {results[mode]['seconds']:.2f}s  peak RSS {results[mode]['peak_rss_mb']:.0f} MB  "
                  f"{results[mode]['impressions_per_s'] / 1e6:.2f}M impressions/s", flush=True)
        same = pl.read_parquet(tmp / "memory.parquet").equals(pl.read_parquet(tmp / "streaming.parquet"))
    rss_ratio = results["streaming"]["peak_rss_mb"] / results["memory"]["peak_rss_mb"]
    speed_ratio = results["streaming"]["impressions_per_s"] / results["memory"]["impressions_per_s"]
    print(f"streaming / in-memory: peak RSS x{rss_ratio:.2f}, throughput x{speed_ratio:.2f}; results equal: {same}")
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not same:
        raise SystemExit("streaming and in-memory frequencies differ")
    print("RESULT " + json.dumps({"impressions": args.impressions, "queries": args.queries,
                                  "memory": results["memory"], "streaming": results["streaming"],
                                  "rss_ratio": round(rss_ratio, 3), "throughput_ratio": round(speed_ratio, 3),
                                  "equal": same, "load_before": load[0]}))


if __name__ == "__main__":
    main()
