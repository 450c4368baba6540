"""Click-model EM speed: gbltr's vectorised fits against straightforward per-session loops.

For each model, on a log simulated by :func:`gbltr.labels.clicks.simulate.simulate_log`
(``--sessions`` sessions x 10 positions, default 1,000,000; DBN clicks, 2,000 queries, 12
documents per query), side by side in one run:

* **gbltr**: the full fit (``fit()``: aggregation + EM to the log-likelihood tolerance, 1e-6 per
  session, at most 200 iterations; closed form for CTR, DCTR, cascade and SDBN), wall seconds,
  iterations, and throughput = sessions x iterations / seconds (single-threaded: numba kernels
  are serial and numpy runs on one core, so this is also per core; CPU seconds are reported too,
  since on a busy machine wall time overstates the cost).
* **reference**: a straightforward pure-Python implementation that loops over sessions and
  positions (tests/labels/click_reference.py for PBM/UBM, the same DBN E-step and
  cascade/SDBN counting as gbltr but run as plain Python via numba's ``py_func``, a Python loop
  of counts for CTR/DCTR), timed on a ``--subsample`` of sessions for ``--ref-iterations``
  iterations and **extrapolated** linearly to the full log and gbltr's iteration count. It is
  labelled as extrapolated in the output.

Aim (issue 8): a full DBN or UBM fit on 1M sessions in under a minute on 2 cores.

``--compare-auto`` (issue 23) also fits each model with the priors learnt from the log (the default
since issue 23, ``[click.priors] choice = "auto"``) right after the fixed-prior fit, and prints both
wall times and their ratio (aim: within 10% of the fixed prior's); the EM iterations can differ, so
per-iteration throughput is printed too.
Run: ``python benchmarks/bench_clicks.py [--sessions 1000000 --subsample 2000]``; the last line
is ``RESULT {json}``. Record ``uptime`` with the figures: the box is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "labels"))

import click_reference  # noqa: E402

from gbltr.labels.clicks import CLICK_MODELS, EMSettings, Priors, get_model  # noqa: E402
from gbltr.labels.clicks.priors import LEARNABLE  # noqa: E402
from gbltr.labels.clicks.dbn import _dbn_estep, _examined_counts  # noqa: E402
from gbltr.labels.clicks.simulate import simulate_log  # noqa: E402

PRIORS = Priors.from_pairs(attractiveness=(1.0, 3.0))


def reference_seconds_per_session_iteration(name, log_, iters):
    """Pure-Python per-session loop on ``log_``; seconds per session per iteration."""
    doc, click = log_.doc.tolist(), log_.click.tolist()
    n_pairs, P = log_.pairs.height, log_.n_positions
    t0 = time.perf_counter()
    if name == "pbm":
        click_reference.pbm_em(doc, click, n_pairs, P, iters)
    elif name == "ubm":
        click_reference.ubm_em(doc, click, n_pairs, P, iters)
    elif name == "dbn":
        alpha, sigma = np.full(n_pairs, 0.5), np.full(n_pairs, 0.5)
        for _ in range(iters):
            acc = [np.zeros(n_pairs) for _ in range(5)]
            _dbn_estep.py_func(log_.doc, log_.click, alpha, sigma, 0.5, *acc)
    elif name in ("sdbn", "cascade"):
        iters = 1
        acc = [np.zeros(n_pairs) for _ in range(4)]
        _examined_counts.py_func(log_.doc, log_.click, *acc, name == "cascade")
    else:  # ctr, dctr: count impressions and clicks per pair (and per position)
        iters = 1
        imp, clk = [0] * n_pairs, [0] * n_pairs
        pos_n, pos_c = [0] * P, [0] * P
        for srow, crow in zip(doc, click):
            for r, (d, c) in enumerate(zip(srow, crow)):
                if d >= 0:
                    imp[d] += 1
                    clk[d] += c
                    pos_n[r] += 1
                    pos_c[r] += c
    return (time.perf_counter() - t0) / (iters * log_.n_sessions)
    # wall time: the reference is one Python thread, so wall ~ CPU on an idle core


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--subsample", type=int, default=2_000)
    ap.add_argument("--ref-iterations", type=int, default=2)
    ap.add_argument("--models", default=",".join(CLICK_MODELS))
    ap.add_argument("--compare-auto", action="store_true", help="also fit with learnt priors; print the ratio")
    ap.add_argument("--no-reference", action="store_true", help="skip the pure-Python reference")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    sim = simulate_log("dbn", args.sessions, n_queries=args.queries, docs_per_query=12, seed=0)
    sim_s = time.perf_counter() - t0
    log_ = sim.log
    sub = log_.subset(np.arange(log_.n_sessions) < args.subsample)
    # compile the numba kernels outside the clock
    for name in ("dbn", "sdbn", "cascade"):
        get_model(name).fit(sub, PRIORS, EMSettings(2, 1e-6))
    print(f"log: {log_.n_sessions:,} sessions x {log_.n_positions} positions, {log_.pairs.height:,} pairs "
          f"(simulated in {sim_s:.1f}s); load average {load0[0]:.2f}")
    header = (f"{'model':8} {'gbltr s':>9} {'cpu s':>8} {'iter':>5} {'conv':>5} {'sess*it/s':>12} "
              f"{'ref s (extrap.)':>16} {'ref sess*it/s':>14} {'speed-up':>9}")
    print(header)
    rows = {}
    for name in args.models.split(","):
        t0, c0 = time.perf_counter(), time.process_time()
        f = get_model(name).fit(log_, PRIORS, EMSettings(200, 1e-6))
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        its = f.info.iterations
        auto = None
        if args.compare_auto:
            t1, c1 = time.perf_counter(), time.process_time()
            fa = get_model(name).fit(log_, PRIORS, EMSettings(200, 1e-6), LEARNABLE)
            auto = {"seconds": round(time.perf_counter() - t1, 3), "cpu_seconds": round(time.process_time() - c1, 3),
                    "iterations": fa.info.iterations, "prior": fa.prior.describe()}
            auto["ratio_seconds"] = round(auto["seconds"] / secs, 3)
            auto["ratio_cpu_seconds"] = round(auto["cpu_seconds"] / max(cpu, 1e-9), 3)
            auto["ratio_cpu_per_iteration"] = round(auto["cpu_seconds"] / fa.info.iterations / (max(cpu, 1e-9) / its), 3)
            print(f"{name:8} auto: {auto['seconds']:.2f} s wall, {auto['cpu_seconds']:.2f} cpu s, {fa.info.iterations} "
                  f"iterations ({auto['prior']}); auto/fixed: wall x{auto['ratio_seconds']:.3f}, cpu "
                  f"x{auto['ratio_cpu_seconds']:.3f}, cpu per iteration x{auto['ratio_cpu_per_iteration']:.3f}")
        if args.no_reference:
            rows[name] = {"seconds": round(secs, 3), "cpu_seconds": round(cpu, 3), "iterations": its,
                          "converged": f.info.converged, "auto": auto}
            print(f"{name:8} {secs:9.2f} {cpu:8.2f} {its:5d} {str(f.info.converged):>5}")
            continue
        ref_per = reference_seconds_per_session_iteration(name, sub, args.ref_iterations)
        ref_total = ref_per * log_.n_sessions * its
        rows[name] = {
            "seconds": round(secs, 3), "cpu_seconds": round(cpu, 3), "iterations": its, "converged": f.info.converged,
            "session_iterations_per_second": round(log_.n_sessions * its / secs),
            "session_iterations_per_cpu_second": round(log_.n_sessions * its / max(cpu, 1e-9)),
            "sessions_per_second_full_fit": round(log_.n_sessions / secs),
            "reference_seconds_extrapolated": round(ref_total, 1),
            "reference_session_iterations_per_second": round(1 / ref_per),
            "speedup": round(ref_total / secs, 1), "auto": auto,
        }
        r = rows[name]
        print(f"{name:8} {secs:9.2f} {cpu:8.2f} {its:5d} {str(f.info.converged):>5} {r['session_iterations_per_second']:12,d} "
              f"{ref_total:16.1f} {r['reference_session_iterations_per_second']:14,d} {r['speedup']:8.1f}x")
    load1 = os.getloadavg()
    print(f"reference timed on {sub.n_sessions:,} sessions x {args.ref_iterations} iterations and extrapolated; "
          f"load average {load1[0]:.2f} at the end. Aim: dbn and ubm under 60 s.")
    print("RESULT " + json.dumps({
        "sessions": log_.n_sessions, "positions": log_.n_positions, "pairs": log_.pairs.height,
        "load_average": [round(load0[0], 2), round(load1[0], 2)], "models": rows,
        "aim_dbn_ubm_under_60s": all(rows[m]["seconds"] < 60 for m in ("dbn", "ubm") if m in rows),
    }))


if __name__ == "__main__":
    main()
