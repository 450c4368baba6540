"""Thread defaults, idle and beside one busy process: old vs passive vs gbltr's default.

Each measurement is a fresh Python process (OpenMP reads its wait settings once, when its runtime
loads). Contenders, side by side (``--contenders``, default ``old,passive,gbltr``):

  * ``old``: the first default: ``train.threads = 0`` passed through (LightGBM
    ``num_threads=0`` = OpenMP's default = every core; numba's default = every core) and OpenMP's
    default wait (no wait variable set; libgomp spins 300000 times, about 3 ms, then sleeps);
  * ``passive``: the default before issue 22: ``use_threads(0)`` (the CPUs this
    process may use) and ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once);
  * ``gbltr``: whatever ``gbltr.threads`` chooses now (``prepare_openmp()`` + ``use_threads(0)``);
  * ``spin=N``: ``use_threads(0)`` and ``GOMP_SPINCOUNT=N`` (to compare other spin counts);
  * ``threads=N``: gbltr's default with ``OMP_NUM_THREADS=N`` (which auto threads take).

Two workloads:

  * ``synthetic`` (default): ``--queries`` x ``--docs`` rows, ``--features`` features, grades
    0..4; LightGBM built-in lambdarank for ``--rounds`` rounds, then LightGBM with gbltr's FAMOL
    numba objective (``parallel=True`` kernel) for ``--rounds // 2`` rounds. Timed: training only.
  * ``--fit lightgbm,xgboost``: ``gbltr fit --labels fused --backend B`` on the built-in default
    world (FAMOL custom objective with the numba kernels, ``--weight-fn auto``), timed by the run's
    ``report.json`` ``train_seconds``. The CLI always sets up threads itself, so ``old`` is
    emulated by the user's environment, which gbltr leaves alone: ``GOMP_SPINCOUNT=300000``
    (libgomp's own default with no policy set); the thread count of ``old`` (every core) equals
    ``use_threads(0)`` on a machine whose CPUs are all available to the process.

Each contender runs idle and beside one CPU-bound spinner process (``while True: pass``),
``--repeats`` times, alternating contenders and idle/busy. Reported per contender: medians, the
idle ratio against ``old`` (goal <= 1.05) and busy/idle (goal < 1.5), plus the OpenMP runtime
each library loads (``threadpoolctl``) and the wait settings libgomp read (``OMP_DISPLAY_ENV``).
The machine may be shared: the load average is printed before and after.

    python benchmarks/bench_threads.py --quick
    python benchmarks/bench_threads.py --queries 4000 --rounds 60 --repeats 7
    python benchmarks/bench_threads.py --fit lightgbm,xgboost --repeats 3

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.abspath(__file__)
#: The variables a contender's environment is built from (all removed first).
CLEARED = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "OMP_DISPLAY_ENV")
GOALS = {"idle_vs_old": 1.05, "busy_vs_idle": 1.5}


def contender_env(name: str, *, fit: bool) -> dict[str, str]:
    """The environment a contender's process starts with."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    if name == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif name.startswith("spin="):
        env["GOMP_SPINCOUNT"] = str(int(name.split("=", 1)[1]))
    elif name.startswith("threads="):
        env["OMP_NUM_THREADS"] = str(int(name.split("=", 1)[1]))  # auto takes it (gbltr.threads)
    elif name == "old" and fit:
        env["GOMP_SPINCOUNT"] = "300000"  # libgomp's default with no OMP_WAIT_POLICY
    elif name not in ("old", "gbltr"):
        raise SystemExit(f"unknown contender {name!r}; choose old, passive, gbltr, spin=N or threads=N")
    return env


def openmp_runtimes() -> list[str]:
    """The OpenMP runtimes loaded in this process, as 'prefix (file)' (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["unknown (pip install threadpoolctl)"]
    return sorted({f"{d['prefix']} ({os.path.basename(d['filepath'])})"
                   for d in threadpool_info() if d["user_api"] == "openmp"})


def runtimes_report() -> dict[str, list[str]]:
    """Which OpenMP runtime each library loads: one fresh process per library."""
    code = {
        "lightgbm": "import lightgbm",
        "xgboost": "import xgboost",
        "numba": ("import numpy as np, numba\n@numba.njit(parallel=True)\ndef f(a):\n"
                  "    s = 0.0\n    for i in numba.prange(a.size): s += a[i]\n    return s\n"
                  "f(np.ones(8)); print('numba threading layer:', numba.threading_layer())"),
    }
    out = {}
    for lib, c in code.items():
        full = (c + "\nimport sys; sys.path.insert(0, %r)\nfrom bench_threads import openmp_runtimes\n"
                "print('RUNTIMES', '; '.join(openmp_runtimes()))" % os.path.dirname(HERE))
        res = subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, check=True)
        lines = res.stdout.splitlines()
        out[lib] = [ln.split(" ", 1)[1] for ln in lines if ln.startswith("RUNTIMES")]
        out[lib] += [ln for ln in lines if ln.startswith("numba threading layer")]
    return out


def libgomp_reads(name: str, *, fit: bool) -> str:
    """The wait settings libgomp reads in a contender's process (``OMP_DISPLAY_ENV=VERBOSE``)."""
    env = contender_env(name, fit=fit)
    env["OMP_DISPLAY_ENV"] = "VERBOSE"
    if name == "old" and not fit:
        code = "import lightgbm"
    else:
        code = "from gbltr.threads import prepare_openmp; prepare_openmp(); import lightgbm"
    err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stderr
    spins = sorted(set(re.findall(r"GOMP_SPINCOUNT = '([^']*)'", err)))  # one per libgomp loaded
    policy = env.get("OMP_WAIT_POLICY", "unset")  # libgomp displays an unset policy as PASSIVE
    return f"GOMP_SPINCOUNT={'/'.join(spins)} (OMP_WAIT_POLICY {policy})"


def verdict() -> str:
    """gbltr's reading of the machine in this process: 'shared', 'idle' or '-' (not measured)."""
    from gbltr.threads import prepare_openmp

    w = prepare_openmp()
    return "-" if w.shared is None else ("shared" if w.shared else "idle")


def worker(mode: str, queries: int, docs: int, features: int, rounds: int) -> tuple[float, str]:
    """Train on the synthetic data; return seconds and gbltr's reading; runs in its own process."""
    if mode == "old":
        threads = 0  # the old default, passed to LightGBM as is; numba untouched
        import lightgbm as lgb  # OpenMP loads now, with the environment as the user left it
    else:
        from gbltr.threads import prepare_openmp, use_threads

        prepare_openmp()  # passive / spin=N: the user's variable wins, gbltr sets nothing
        threads = use_threads(0)
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
    return time.perf_counter() - t0, "-" if mode == "old" else verdict()


def _spinner():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    return spinner


def run_synthetic(mode: str, busy: bool, args) -> tuple[float, str]:
    env = contender_env(mode, fit=False)
    spinner = _spinner() if busy else None
    try:
        out = subprocess.run(
            [sys.executable, HERE, "--worker", mode, "--queries", str(args.queries), "--docs",
             str(args.docs), "--features", str(args.features), "--rounds", str(args.rounds)],
            env=env, capture_output=True, text=True, check=True, timeout=args.timeout,
        ).stdout
    except subprocess.TimeoutExpired:
        return float(args.timeout), "timeout"  # a lower bound: reported as such
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    seconds, seen = out.strip().splitlines()[-1].split()
    return float(seconds), seen


FIT = ("import sys\nfrom gbltr.cli import main\nsys.argv[0] = 'gbltr'\ntry:\n    main()\nfinally:\n"
       "    from bench_threads import verdict\n    print('VERDICT', verdict(), file=sys.stderr)\n")


def run_fit(mode: str, busy: bool, backend: str, args, scratch: str) -> tuple[float, str]:
    env = contender_env(mode, fit=True)
    env["GBLTR_LOG"] = "WARNING"
    out = os.path.join(scratch, f"{backend}-{mode}-{'busy' if busy else 'idle'}")
    shutil.rmtree(out, ignore_errors=True)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.dirname(HERE), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-c", FIT, "fit", "--labels", "fused", "--backend", backend, "--out", out]
    spinner = _spinner() if busy else None
    try:
        err = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                             timeout=args.timeout).stderr
    except subprocess.TimeoutExpired:
        return float(args.timeout), "timeout"
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    with open(os.path.join(out, "report.json")) as f:
        seconds = float(json.load(f)["train_seconds"])
    shutil.rmtree(out, ignore_errors=True)
    seen = [ln.split()[1] for ln in err.splitlines() if ln.startswith("VERDICT")]
    return seconds, (seen[-1] if mode != "old" and seen else "-")


def summarise(label: str, contenders: list[str], times: dict, result: dict) -> None:
    print(f"{label}: medians of {len(times[(contenders[0], False)])} runs")
    print(f"  {'contender':12s} {'idle s':>8s} {'busy s':>8s} {'idle/old':>9s} {'busy/idle':>10s}")
    idle_old = float(np.median(times[("old", False)])) if ("old", False) in times else None
    rows = {}
    for c in contenders:
        idle = float(np.median(times[(c, False)]))
        busy = float(np.median(times[(c, True)]))
        row = {"idle_s": round(idle, 3), "busy_s": round(busy, 3), "busy_vs_idle": round(busy / idle, 3),
               "idle_all_s": [round(t, 3) for t in times[(c, False)]],
               "busy_all_s": [round(t, 3) for t in times[(c, True)]]}
        if idle_old:
            row["idle_vs_old"] = round(idle / idle_old, 3)
        row["goals_met"] = bool(row.get("idle_vs_old", 0) <= GOALS["idle_vs_old"]
                                and row["busy_vs_idle"] < GOALS["busy_vs_idle"])
        rows[c] = row
        ratio = f"{row['idle_vs_old']:8.2f}x" if idle_old else f"{'-':>9s}"
        print(f"  {c:12s} {idle:8.2f} {busy:8.2f} {ratio} {busy / idle:9.2f}x")
    result[label] = rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--contenders", default="old,passive,gbltr",
                    help="comma-separated: old, passive, gbltr, spin=N, threads=N")
    ap.add_argument("--fit", default="", help="comma-separated backends: time `gbltr fit --labels "
                    "fused` instead of the synthetic training")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--timeout", type=int, default=300, help="per training run, seconds")
    args = ap.parse_args(argv)
    if args.worker:
        print(*worker(args.worker, args.queries, args.docs, args.features, args.rounds))
        return 0
    if args.quick:
        args.queries, args.rounds, args.repeats = 1000, 20, 3
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    backends = [b.strip() for b in args.fit.split(",") if b.strip()]

    from gbltr.threads import KMP_BLOCKTIME_MS, SHARED_CPUS, SPIN_IDLE, SPIN_SHARED, available_cpus

    load0 = os.getloadavg()
    print(f"cpus: os.cpu_count()={os.cpu_count()}, available_cpus()={available_cpus()}; "
          f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    runtimes = runtimes_report()
    for lib, rts in runtimes.items():
        print(f"OpenMP runtime loaded by {lib}: {'; '.join(rts)}")
    print(f"gbltr's default: GOMP_SPINCOUNT={SPIN_IDLE} if other processes used < {SHARED_CPUS} CPUs while "
          f"it started, else {SPIN_SHARED}; KMP_BLOCKTIME={KMP_BLOCKTIME_MS}")
    reads = {c: libgomp_reads(c, fit=bool(backends)) for c in contenders}
    for c, r in reads.items():
        print(f"  libgomp reads for {c:10s}: {r}")
    result = {"cpus": os.cpu_count(), "repeats": args.repeats, "load_before": round(load0[0], 2),
              "runtimes": runtimes, "libgomp_reads": reads, "goals": GOALS, "timeout_s": args.timeout,
              "gbltr_default": {"spin_idle": SPIN_IDLE, "spin_shared": SPIN_SHARED, "shared_cpus": SHARED_CPUS,
                                "KMP_BLOCKTIME": KMP_BLOCKTIME_MS}}
    if backends:
        jobs = [(f"fit-{b}", lambda c, busy, b=b: run_fit(c, busy, b, args, scratch)) for b in backends]
        print(f"workload: gbltr fit --labels fused --backend {','.join(backends)} (default world), "
              f"train_seconds; {args.repeats} repeats, alternating")
    else:
        jobs = [("synthetic", lambda c, busy: run_synthetic(c, busy, args))]
        result.update(queries=args.queries, docs=args.docs, features=args.features, rounds=args.rounds)
        print(f"workload: {args.queries} queries x {args.docs} docs, {args.features} features; "
              f"{args.rounds} lambdarank + {max(1, args.rounds // 2)} FAMOL rounds; {args.repeats} "
              "repeats, alternating")
    scratch = tempfile.mkdtemp(prefix="bench-threads-")
    try:
        for label, job in jobs:
            times = {(c, b): [] for c in contenders for b in (False, True)}
            seen = {(c, b): [] for c in contenders for b in (False, True)}
            for rep in range(args.repeats):
                for c in contenders:
                    for busy in (False, True) if rep % 2 == 0 else (True, False):
                        t, v = job(c, busy)
                        times[(c, busy)].append(t)
                        seen[(c, busy)].append(v)
                        print(f"  {label} repeat {rep + 1}: {c:10s} {'busy' if busy else 'idle'} "
                              f"{t:7.2f} s   gbltr read the machine as: {v}", flush=True)
            summarise(label, contenders, times, result)
            for c in contenders:
                for b in (False, True):
                    result[label][c][f"{'busy' if b else 'idle'}_read_as"] = seen[(c, b)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load1 = os.getloadavg()
    result["load_after"] = round(load1[0], 2)
    print(f"goals: idle/old <= {GOALS['idle_vs_old']}, busy/idle < {GOALS['busy_vs_idle']}")
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
