"""Time and peak memory of ``gbltr simulate`` as the world grows, and a content hash per table.

Each size runs in a fresh process (peak RSS = that process's ``ru_maxrss``): ``simulate_world``
+ ``write_world`` into a temporary folder, as ``gbltr simulate --queries Q --sessions S`` does.
Sizes are multiples of the default world (3,000 queries, 150,000 sessions, ~1.5M impressions):
``--scales 1,10`` gives x1 and x10 (15M impressions); ``--scales 1,10,66`` adds a ~100M-impression
world (several minutes and GBs on 2 cores).

``--baseline DIR`` runs a second source tree (e.g. ``git archive <commit> | tar -x -C DIR``)
beside the current one for every size and prints the ratios; the per-table content hashes
(``DataFrame.hash_rows`` summed, plus row counts, and the ``dataset.json`` manifest) tell whether
both trees wrote the same world. ``--repeats N`` alternates new and old N times per size and
reports medians (the box is shared: ratios measured side by side are what to trust).

The goal (issue 13) is checked at x10: peak RSS under 2 GB (``goal_rss_mb``).

    python benchmarks/bench_simulate.py --scales 1,10 --baseline /tmp/simbase --repeats 2

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.abspath(__file__)

_WORKER = r"""
import hashlib, json, resource, sys, tempfile, time
from gbltr.data.simulate import WorldParams, write_world
import gbltr.data.simulate as sim
import polars as pl
q, s, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
p = WorldParams(seed=seed, queries=q, sessions=s)
with tempfile.TemporaryDirectory() as tmp:
    t0 = time.perf_counter()
    out = write_world(p, tmp + "/world")
    t = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hashes, rows = {}, {}
    for f in sorted((out).rglob("*.parquet")):
        df = pl.read_parquet(f)
        key = str(f.relative_to(out))
        hashes[key] = int(df.hash_rows(seed=0).sum()) & 0xFFFFFFFFFFFFFFFF if df.height else 0
        rows[key] = df.height
    hashes["dataset.json"] = hashlib.sha256((out / "dataset.json").read_bytes()).hexdigest()[:16]
print(json.dumps({"seconds": t, "peak_rss_mb": rss, "hashes": hashes, "rows": rows,
                  "src": sim.__file__}))
"""


def run(src: str | None, queries: int, sessions: int, seed: int) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("GBLTR_LOG", "WARNING")
    env["GBLTR_PROGRESS"] = "0"
    out = subprocess.run([sys.executable, "-c", _WORKER, str(queries), str(sessions), str(seed)],
                         env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


GOAL_RSS_MB = 2048  # issue 13: the x10 world (15M impressions) peaks under 2 GB


def _median_run(runs: list[dict]) -> dict:
    """The runs' medians of time and peak RSS (hashes of the first run; every run is checked)."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    out = dict(ok[0])
    out["seconds"] = statistics.median(r["seconds"] for r in ok)
    out["peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in ok)
    out["all_seconds"] = [round(r["seconds"], 2) for r in ok]
    out["all_peak_rss_mb"] = [round(r["peak_rss_mb"]) for r in ok]
    out["repeatable"] = all(r["hashes"] == ok[0]["hashes"] for r in ok)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,10", help="comma-separated multiples of the default world")
    ap.add_argument("--baseline", default=None, help="another source tree to run side by side")
    ap.add_argument("--baseline-max-scale", type=float, default=10,
                    help="run the baseline only up to this scale (main before issue 13 needed ~2.3 GB at x10)")
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs per size (medians reported)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    scales = [float(x) for x in args.scales.split(",")]
    result: dict = {"seed": args.seed, "repeats": args.repeats, "goal_rss_mb": GOAL_RSS_MB, "runs": []}
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for scale in scales:
        q, s = int(round(3000 * scale)), int(round(150_000 * scale))
        row = {"scale": scale, "queries": q, "sessions": s, "load": [round(os.getloadavg()[0], 2)]}
        with_old = bool(args.baseline) and scale <= args.baseline_max_scale
        news, olds = [], []
        for _ in range(max(1, args.repeats)):  # alternate: both see the same load, on average
            news.append(run(None, q, s, args.seed))
            if with_old:
                olds.append(run(args.baseline, q, s, args.seed))
            row["load"].append(round(os.getloadavg()[0], 2))
        new = row["new"] = _median_run(news)
        msg = f"x{scale:g} ({q} queries, {s} sessions): "
        if "error" in new:
            msg += f"new failed: {new['error']}"
        else:
            row["impressions"] = new["rows"].get("impressions.parquet")
            msg += (f"{row['impressions']} impressions; new {new['seconds']:.1f} s, "
                    f"{new['peak_rss_mb']:.0f} MB")
            if scale == 10:
                result["goal_met"] = new["peak_rss_mb"] < GOAL_RSS_MB
        if with_old:
            old = row["old"] = _median_run(olds)
            if "error" in old or "error" in new:
                msg += f"; old {old.get('error', 'ok')}"
            else:
                row["time_ratio"] = new["seconds"] / old["seconds"]
                row["rss_ratio"] = new["peak_rss_mb"] / old["peak_rss_mb"]
                same = {k: old["hashes"].get(k) == v for k, v in new["hashes"].items()}
                row["same_tables"] = same
                msg += (f"; old {old['seconds']:.1f} s, {old['peak_rss_mb']:.0f} MB; "
                        f"time new/old {row['time_ratio']:.2f}x, peak RSS new/old "
                        f"{row['rss_ratio']:.2f}x; identical tables: "
                        f"{sum(same.values())}/{len(same)}"
                        + ("" if all(same.values()) else
                           f" (differ: {[k for k, v in same.items() if not v]})"))
        if args.repeats > 1 and "error" not in new:
            msg += (f"; runs new {new['all_seconds']} s {new['all_peak_rss_mb']} MB"
                    + (f", old {row['old']['all_seconds']} s {row['old']['all_peak_rss_mb']} MB"
                       if with_old and "error" not in row["old"] else "")
                    + f"; same world every run: {new['repeatable']}")
        msg += f"; load {row['load']}"
        print(msg, flush=True)
        result["runs"].append(row)
    if "goal_met" in result:
        print(f"x10 peak RSS goal < {GOAL_RSS_MB} MB: {'met' if result['goal_met'] else 'NOT met'}")
    load = os.getloadavg()
    result["load_after"] = round(load[0], 2)
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
