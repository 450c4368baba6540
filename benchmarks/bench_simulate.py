"""Time and peak memory of ``gbltr simulate`` as the world grows, and a content hash per table.

Each size runs in a fresh process (peak RSS = that process's ``ru_maxrss``): ``simulate_world``
+ ``write_world`` into a temporary folder, as ``gbltr simulate --queries Q --sessions S`` does.
Sizes are multiples of the default world (3,000 queries, 150,000 sessions, ~1.5M impressions):
``--scales 1,10`` gives x1 and x10 (15M impressions); ``--scales 1,10,66`` adds a ~100M-impression
world (several minutes and GBs on 2 cores).

``--baseline DIR`` runs a second source tree (e.g. ``git archive <commit> | tar -x -C DIR``)
beside the current one for every size and prints the ratios; the per-table content hashes
(``DataFrame.hash_rows`` summed, plus row counts) tell whether both trees wrote the same world.

    python benchmarks/bench_simulate.py --scales 1,10 --baseline /tmp/perf-base

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.abspath(__file__)

_WORKER = r"""
import json, resource, sys, tempfile, time
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,10", help="comma-separated multiples of the default world")
    ap.add_argument("--baseline", default=None, help="another source tree to run side by side")
    ap.add_argument("--baseline-max-scale", type=float, default=10,
                    help="run the baseline only up to this scale (it needs ~9 GB at x10)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    scales = [float(x) for x in args.scales.split(",")]
    result: dict = {"seed": args.seed, "runs": []}
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for scale in scales:
        q, s = int(round(3000 * scale)), int(round(150_000 * scale))
        row = {"scale": scale, "queries": q, "sessions": s, "load": round(os.getloadavg()[0], 2)}
        new = run(None, q, s, args.seed)
        row["new"] = new
        msg = f"x{scale:g} ({q} queries, {s} sessions): "
        if "error" in new:
            msg += f"new failed: {new['error']}"
        else:
            row["impressions"] = new["rows"].get("impressions.parquet")
            msg += (f"{row['impressions']} impressions; new {new['seconds']:.1f} s, "
                    f"{new['peak_rss_mb']:.0f} MB")
        if args.baseline and scale <= args.baseline_max_scale:
            old = run(args.baseline, q, s, args.seed)
            row["old"] = old
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
        print(msg, flush=True)
        result["runs"].append(row)
    load = os.getloadavg()
    result["load_after"] = round(load[0], 2)
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
