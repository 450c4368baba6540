"""Dask LocalCluster vs single process: the same ranker on the same synthetic data, side by side.

For each backend, trains with gbltr's single-machine backend and with ``--engine dask``
(:class:`gbltr.train.backends.dask.DaskBackend`) on a 2-worker LocalCluster (one thread each),
the same rounds and parameters, and prints wall time, the ratio and the validation nDCG@10 of
both (the distributed model differs only by per-worker binning). The cluster start-up is timed
apart. Ends with ``RESULT {json}``. Usage::

    python benchmarks/bench_dask.py [--queries 4000] [--per-query 25] [--rounds 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def data(n_queries: int, per: int, n_features: int = 25, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = n_queries * per
    X = rng.random((n, n_features)).astype(np.float32)
    signal = X[:, :5] @ np.array([2.0, 1.0, 0.5, 0.5, 0.25]) + rng.normal(0, 0.5, n)
    y = np.clip(np.rint(signal - signal.mean() + 1.5), 0, 4)
    return X, y, np.full(n_queries, per)


def ndcg10(model, X, y, groups) -> float:
    from gbltr.evaluate.metrics import ndcg_per_query

    gp = np.concatenate([[0], np.cumsum(groups)])
    return float(np.nanmean(ndcg_per_query(model.predict(X), y, gp, ks=(10,))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--per-query", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    from gbltr.config import TrainConfig
    from gbltr.train.backends import NAMES, TrainRequest, get_backend
    from gbltr.train.backends.dask import DaskBackend

    X, y, g = data(args.queries, args.per_query)
    vX, vy, vg = data(max(args.queries // 5, 10), args.per_query, seed=1)
    gain = [2.0**i - 1 for i in range(5)]
    load = os.getloadavg()
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    startup = time.perf_counter() - t
    print(f"{X.shape[0]:,} rows x {X.shape[1]} features, {args.rounds} rounds; LocalCluster of {args.workers} "
          f"workers started in {startup:.1f}s", flush=True)
    out = {"rows": int(X.shape[0]), "rounds": args.rounds, "workers": args.workers, "cluster_startup_s": round(startup, 2)}
    try:
        for backend in NAMES:
            cfg = TrainConfig(backend=backend, rounds=args.rounds, early_stopping=0, threads=args.workers)
            request = TrainRequest(X, y, g, vX, vy, vg, cfg, seed=0, label_gain=gain,
                                   feature_names=tuple(f"f{i}" for i in range(X.shape[1])))
            t = time.perf_counter()
            single = get_backend(backend).train(request)
            ts = time.perf_counter() - t
            t = time.perf_counter()
            dist = DaskBackend(backend, client=client, partitions=args.workers).train(request)
            td = time.perf_counter() - t
            a, b = ndcg10(single, vX, vy, vg), ndcg10(dist, vX, vy, vg)
            print(f"{backend:>8}: single {ts:.1f}s (nDCG@10 {a:.4f}) | dask {td:.1f}s (nDCG@10 {b:.4f}) | "
                  f"dask/single time x{td / ts:.2f}", flush=True)
            out[backend] = {"single_s": round(ts, 2), "dask_s": round(td, 2), "ratio": round(td / ts, 3),
                            "ndcg10_single": round(a, 4), "ndcg10_dask": round(b, 4)}
    finally:
        client.close()
        cluster.close()
    after = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in load)}; after: {' '.join(f'{x:.1f}' for x in after)}")
    out["load_before"], out["load_after"] = load[0], after[0]
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
