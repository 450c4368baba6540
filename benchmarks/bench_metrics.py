"""Per-query nDCG@10: gbltr's numba kernel against ir-measures (pytrec_eval / trec_eval) on the same data.

Data: ``--queries`` queries (default 1,000,000) of ``--docs`` documents (default 10), random
graded labels 0-4 and distinct random scores (trec_eval breaks score ties by docno, gbltr by
row order, so ties are avoided). ir-measures computes ``nDCG(gains={0:0,1:1,2:3,3:7,4:15})@10``,
the exponential gain gbltr uses by default. The values must agree to 1e-9 on every query with a
relevant document (queries without one: gbltr NaN, trec_eval 0; see gbltr.evaluate.metrics).

Timings: gbltr on numpy arrays (kernel compiled beforehand, compile time printed apart) and on a
Polars frame via per_query_frame (includes the sort); ir-measures' evaluation (iter_calc) and,
apart, the building of the dict-of-dicts qrels/run it takes as input.

    python benchmarks/bench_metrics.py --quick          # 20,000 queries
    python benchmarks/bench_metrics.py                  # 1,000,000 queries (ir-measures: minutes)

The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import polars as pl

from gbltr.evaluate.metrics import ndcg_per_query, per_query_frame


def make_data(n_queries: int, n_docs: int, seed: int):
    rng = np.random.default_rng(seed)
    n = n_queries * n_docs
    labels = rng.integers(0, 5, size=n).astype(np.float64)
    scores = (rng.permutation(n) + rng.random(n) * 0.5) / n  # distinct within and across queries
    ptr = np.arange(0, n + 1, n_docs, dtype=np.int64)
    return scores, labels, ptr


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="20,000 queries")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_q = 20_000 if args.quick else args.queries
    scores, labels, ptr = make_data(n_q, args.docs, args.seed)
    print(f"data: {n_q:,} queries x {args.docs} docs = {scores.size:,} rows, labels 0-4, tie-free scores")

    t0 = time.perf_counter()
    ndcg_per_query(scores[: ptr[2]], labels[: ptr[2]], ptr[:3], ks=(10,))  # compile (or load the cache)
    t_compile = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = ndcg_per_query(scores, labels, ptr, ks=(10,))[:, 0]
    t_ours = time.perf_counter() - t0

    qids = np.repeat(np.arange(n_q), args.docs)
    frame = pl.DataFrame(
        {
            "query_id": pl.Series(qids).cast(pl.String),
            "doc_id": pl.Series(np.tile(np.arange(args.docs), n_q)).cast(pl.String),
            "rank": np.tile(np.arange(1, args.docs + 1), n_q).astype(np.int32),
            "score": scores,
            "label": labels,
        }
    )
    t0 = time.perf_counter()
    frame_out = per_query_frame(frame, ks=(10,))
    t_frame = time.perf_counter() - t0

    import ir_measures
    from ir_measures import nDCG

    measure = nDCG(gains={0: 0, 1: 1, 2: 3, 3: 7, 4: 15}) @ 10
    t0 = time.perf_counter()
    doc_names = [f"d{i}" for i in range(args.docs)]
    lab_int = labels.astype(np.int64).reshape(n_q, args.docs).tolist()
    sc = scores.reshape(n_q, args.docs).tolist()
    qrels = {str(q): dict(zip(doc_names, lab_int[q])) for q in range(n_q)}
    run = {str(q): dict(zip(doc_names, sc[q])) for q in range(n_q)}
    t_build = time.perf_counter() - t0

    t0 = time.perf_counter()
    theirs_map = {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run)}
    t_theirs = time.perf_counter() - t0
    theirs = np.array([theirs_map[str(q)] for q in range(n_q)])

    relevant = ~np.isnan(ours)
    diff = np.abs(ours[relevant] - theirs[relevant])
    max_diff = float(diff.max()) if diff.size else 0.0
    frame_vals = frame_out.sort(pl.col("query_id").cast(pl.Int64))["ndcg@10"].to_numpy()
    frame_same = bool(np.array_equal(frame_vals, ours, equal_nan=True))
    no_rel_zero = bool((theirs[~relevant] == 0).all())
    equal = max_diff <= 1e-9 and frame_same and no_rel_zero

    print()
    print(f"{'':34s} {'seconds':>10s} {'queries/s':>14s}")
    print(f"{'gbltr ndcg_per_query (arrays)':34s} {t_ours:10.3f} {n_q / t_ours:14,.0f}")
    print(f"{'gbltr per_query_frame (Polars)':34s} {t_frame:10.3f} {n_q / t_frame:14,.0f}")
    print(f"{'ir-measures iter_calc':34s} {t_theirs:10.3f} {n_q / t_theirs:14,.0f}")
    print(f"{'ir-measures input dicts (build)':34s} {t_build:10.3f}")
    print(f"gbltr numba compile / cache load: {t_compile:.2f} s (not in the timings above)")
    print(f"speed ratio ir-measures / gbltr (arrays): {t_theirs / t_ours:,.1f}x")
    print(f"speed ratio ir-measures / gbltr (Polars frame): {t_theirs / t_frame:,.1f}x")
    print(
        f"agreement: {int(relevant.sum()):,} queries with a relevant document, max |diff| = {max_diff:.2e}; "
        f"{int((~relevant).sum())} without one (gbltr NaN, ir-measures 0: {no_rel_zero}); "
        f"frame == arrays: {frame_same}"
    )
    result = {
        "benchmark": "ndcg@10_per_query",
        "queries": n_q,
        "rows": int(scores.size),
        "gbltr_s": round(t_ours, 4),
        "gbltr_frame_s": round(t_frame, 4),
        "ir_measures_s": round(t_theirs, 4),
        "ir_measures_build_s": round(t_build, 4),
        "ratio": round(t_theirs / t_ours, 2),
        "ratio_frame": round(t_theirs / t_frame, 2),
        "max_abs_diff": max_diff,
        "n_compared": int(relevant.sum()),
        "equal": equal,
    }
    print("RESULT " + json.dumps(result))
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
