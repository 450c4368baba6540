"""Training beside one busy process: slowdown vs an idle machine, old vs new thread defaults.

Each measurement is a fresh Python process (OpenMP reads ``OMP_WAIT_POLICY`` when it loads), on
the same synthetic ranking data (``--queries`` x ``--docs`` rows, ``--features`` features, grades
0..4): LightGBM built-in lambdarank for ``--rounds`` rounds, then LightGBM with gbltr's FAMOL
numba objective (``parallel=True`` kernel) for ``--rounds // 2`` rounds. Timed: training only.

Contenders, side by side:
  * old default: ``train.threads = 0`` passed through as before (LightGBM ``num_threads=0`` =
    OpenMP's default = every core; numba's default = every core), OpenMP's default (active)
    wait policy (``OMP_WAIT_POLICY`` removed from the environment);
  * new default: ``gbltr.threads.use_threads(0)`` (the CPUs this process may use, given to
    LightGBM and numba alike) and ``gbltr.threads.prepare_openmp()`` (passive wait policy).

Each contender runs idle and beside one CPU-bound spinner process (``while True: pass``),
``--repeats`` times, interleaved; the slowdown is median(busy) / median(idle). The machine may be
shared: the load average is printed before and after. Aim: new default < 1.5x on 2 cores.

    python benchmarks/bench_threads.py              # ~2-4 minutes on 2 cores
    python benchmarks/bench_threads.py --quick

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.abspath(__file__)


def worker(mode: str, queries: int, docs: int, features: int, rounds: int) -> float:
    """Train and return seconds; runs in its own process."""
    if mode == "new":
        from gbltr.threads import prepare_openmp, use_threads

        prepare_openmp()
        threads = use_threads(0)
    else:
        threads = 0  # the old default, passed to LightGBM as is; numba untouched
    import lightgbm as lgb

    from gbltr.train.backends.custom import lightgbm_objective, make_famol_objective
    from gbltr.train.objectives import default_label_gain

    rng = np.random.default_rng(0)
    n = queries * docs
    X = rng.normal(size=(n, features)).astype(np.float32)
    signal = X[:, :5] @ np.array([1.0, 0.7, 0.5, 0.3, 0.2], dtype=np.float32)
    y = np.clip(np.floor(signal + rng.normal(size=n) + 1.5), 0, 4).astype(np.int32)
    llm = np.clip(np.floor(signal + rng.normal(scale=0.5, size=n) + 1.5), 0, 4).astype(np.int32)
    gp = np.arange(queries + 1, dtype=np.int64) * docs
    sizes = np.full(queries, docs)
    gain = default_label_gain()
    w = rng.uniform(size=queries)
    kernel = make_famol_objective(y, llm, gp, w, 1.0 - w, click_gain=gain, llm_gain=gain)
    kernel(rng.normal(size=n), gp)  # numba compile / cache load, not timed
    params = dict(objective="lambdarank", num_threads=threads, num_leaves=31, verbose=-1,
                  force_row_wise=True, seed=0, deterministic=True, label_gain=list(gain))
    ds = lgb.Dataset(X, y, group=sizes, params={"verbose": -1, "num_threads": threads},
                     free_raw_data=False).construct()
    t0 = time.perf_counter()
    lgb.train(params, ds, num_boost_round=rounds)
    lgb.train({**params, "objective": lightgbm_objective(kernel)}, ds,
              num_boost_round=max(1, rounds // 2))
    return time.perf_counter() - t0


def run_once(mode: str, busy: bool, args) -> float:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("OMP_NUM_THREADS", None)
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.3)
    try:
        out = subprocess.run(
            [sys.executable, HERE, "--worker", mode, "--queries", str(args.queries), "--docs",
             str(args.docs), "--features", str(args.features), "--rounds", str(args.rounds)],
            env=env, capture_output=True, text=True, check=True, timeout=args.timeout,
        ).stdout
    except subprocess.TimeoutExpired:
        return float(args.timeout)  # a lower bound: reported as such
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=["old", "new"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=300, help="per training run, seconds")
    args = ap.parse_args(argv)
    if args.worker:
        print(worker(args.worker, args.queries, args.docs, args.features, args.rounds))
        return 0
    if args.quick:
        args.queries, args.rounds = 1000, 20

    from gbltr.threads import available_cpus

    load0 = os.getloadavg()
    print(f"cpus: os.cpu_count()={os.cpu_count()}, available_cpus()={available_cpus()}; "
          f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"data: {args.queries} queries x {args.docs} docs, {args.features} features; "
          f"{args.rounds} lambdarank + {max(1, args.rounds // 2)} FAMOL rounds; "
          f"{args.repeats} repeats, interleaved")
    times = {(m, b): [] for m in ("old", "new") for b in (False, True)}
    for rep in range(args.repeats):
        for mode in ("old", "new"):
            for busy in (False, True):
                t = run_once(mode, busy, args)
                times[(mode, busy)].append(t)
                print(f"  repeat {rep + 1}: {mode:3s} {'busy' if busy else 'idle'}  {t:7.2f} s",
                      flush=True)
    load1 = os.getloadavg()
    result = {"cpus": os.cpu_count(), "queries": args.queries, "docs": args.docs,
              "features": args.features, "rounds": args.rounds, "repeats": args.repeats,
              "load_before": round(load0[0], 2), "load_after": round(load1[0], 2),
              "timeout_s": args.timeout}
    print(f"{'default':8s} {'idle s':>8s} {'busy s':>8s} {'slowdown':>9s}   (medians)")
    for mode in ("old", "new"):
        idle = float(np.median(times[(mode, False)]))
        busy = float(np.median(times[(mode, True)]))
        result[f"{mode}_idle_s"] = idle
        result[f"{mode}_busy_s"] = busy
        result[f"{mode}_slowdown"] = busy / idle
        result[f"{mode}_all_s"] = {("busy" if b else "idle"): times[(mode, b)] for b in (False, True)}
        print(f"{mode:8s} {idle:8.2f} {busy:8.2f} {busy / idle:8.2f}x")
    result["new_vs_old_busy"] = result["new_busy_s"] / result["old_busy_s"]
    result["goal_slowdown"] = 1.5
    result["goal_met"] = result["new_slowdown"] < 1.5
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
