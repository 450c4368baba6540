"""Start-up cost of ``gbltr fit --help``: wall time and heavy imports, this tree vs a baseline.

Each run is a fresh ``python -c "from gbltr.cli import main; main(['fit', '--help'])"``; runs of
the current tree and of ``--baseline DIR`` (e.g. ``git archive <commit> | tar -x -C DIR``, put
first on ``PYTHONPATH``) alternate, ``--repeats`` times; medians and minima are reported (the
minimum is the figure least disturbed by other load on a shared machine). One extra run per tree
with ``python -X importtime`` gives the cumulative import time of polars, numpy and matplotlib
and whether they were imported at all. Aim: under 0.15 s, with no polars.

    python benchmarks/bench_startup.py --baseline /tmp/perf-base

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CODE = "from gbltr.cli import main; main(['fit', '--help'])"
# run outside the repository: ``python -c`` puts the working directory first on sys.path, which
# would shadow the baseline tree given on PYTHONPATH
_CWD = tempfile.gettempdir()
HEAVY = ("polars", "numpy", "matplotlib", "lightgbm", "xgboost", "numba")


def _env(src):
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def wall(src) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CODE], env=_env(src), check=True, cwd=_CWD,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def imports(src) -> dict:
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", CODE], env=_env(src),
                         check=True, capture_output=True, text=True, cwd=_CWD).stderr
    out = {}
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in HEAVY:
            out[parts[2].strip()] = int(parts[1]) / 1e6  # cumulative seconds
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    trees = {"new": None}
    if args.baseline:
        trees["old"] = args.baseline
    load0 = os.getloadavg()
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    times = {k: [] for k in trees}
    for _ in range(args.repeats):
        for name, src in trees.items():
            times[name].append(wall(src))
    result = {"repeats": args.repeats, "load_before": round(load0[0], 2)}
    for name, src in trees.items():
        imp = imports(src)
        med, best = float(np.median(times[name])), float(min(times[name]))
        result[name] = {"median_s": med, "min_s": best, "all_s": times[name], "imports_s": imp}
        print(f"{name}: gbltr fit --help  median {med:.3f} s, min {best:.3f} s; heavy imports "
              f"(cumulative s): {json.dumps({k: round(v, 3) for k, v in imp.items()}) or 'none'}")
    if "old" in result:
        result["ratio_median"] = result["new"]["median_s"] / result["old"]["median_s"]
        result["ratio_min"] = result["new"]["min_s"] / result["old"]["min_s"]
        print(f"new/old: median {result['ratio_median']:.2f}x, min {result['ratio_min']:.2f}x")
    result["goal_s"] = 0.15
    result["goal_met"] = result["new"]["min_s"] < 0.15 and "polars" not in result["new"]["imports_s"]
    load1 = os.getloadavg()
    result["load_after"] = round(load1[0], 2)
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
