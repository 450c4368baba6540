"""The paired randomisation test: gbltr's sign-flip test against scipy.stats.permutation_test.

Both compute the same two-sided paired test (scipy with ``permutation_type="samples"``, which
swaps each query's pair of values, i.e. flips the sign of its difference; the exact p-values are
equal, ``tests/evaluate/test_significance.py``). Timed side by side, best of ``--repeats`` runs,
for per-query difference vectors of the sizes gbltr tests: one bucket of a test split (100),
a whole test split (300) and 5 seeds pooled (1,500), each with ``--permutations`` sign patterns.

Run: ``python benchmarks/bench_significance.py [--permutations 10000 --repeats 3]``.
The last line is ``RESULT {json}`` (seconds per test and the ratio scipy / gbltr).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from scipy import stats

from gbltr.evaluate.significance import randomisation_p


def _scipy(d: np.ndarray, n: int) -> float:
    return stats.permutation_test((d, np.zeros_like(d)), lambda x, y, axis: np.mean(x - y, axis=axis),
                                  permutation_type="samples", n_resamples=n, vectorized=True,
                                  alternative="two-sided", random_state=0).pvalue


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--permutations", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    out = {"permutations": args.permutations, "load": os.getloadavg()[0], "sizes": {}}
    for n in (100, 300, 1500):
        d = rng.normal(0.01, 0.2, size=n)
        ours = _best(lambda: randomisation_p(d, n_permutations=args.permutations), args.repeats)
        theirs = _best(lambda: _scipy(d, args.permutations), args.repeats)
        p_ours, p_theirs = randomisation_p(d, n_permutations=args.permutations), _scipy(d, args.permutations)
        out["sizes"][n] = {"gbltr_s": round(ours, 4), "scipy_s": round(theirs, 4), "ratio": round(theirs / ours, 2),
                           "p_gbltr": round(p_ours, 4), "p_scipy": round(p_theirs, 4)}
        print(f"n={n:5d}: gbltr {ours * 1e3:8.1f} ms  scipy {theirs * 1e3:8.1f} ms  scipy/gbltr {theirs / ours:5.2f}x"
              f"  (p {p_ours:.4f} vs {p_theirs:.4f})")
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
