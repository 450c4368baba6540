"""Paired significance tests over per-query metric values of two runs.

Both tests follow Smucker, Allan & Carterette (2007), "A comparison of statistical significance
tests for information retrieval evaluation" (CIKM): the paired Student t-test and the paired
randomisation test, which they recommend. The randomisation test flips the sign of each
per-query difference ``b - a`` with probability 1/2 (under the null hypothesis the two runs'
labels are exchangeable per query) and counts how often ``|mean|`` of the flipped differences
reaches the observed ``|mean|`` (two-sided). When ``2**n <= n_permutations`` every sign pattern
is enumerated and the p-value is exact; otherwise ``n_permutations`` random patterns are drawn
from ``numpy.random.default_rng(seed)`` and ``p = (hits + 1) / (n_permutations + 1)``, which
counts the observed pattern and is never 0.

Only queries where both values are finite enter (NaN = no relevant document, see
:mod:`gbltr.evaluate.metrics`); :func:`paired_test_frames` first joins two per-query frames on
the query_ids both have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from gbltr.errors import DataError, SchemaError

DEFAULT_PERMUTATIONS = 10_000
_CHUNK_CELLS = 4_000_000  # sign-matrix cells per chunk (~32 MB of float64)


@dataclass(frozen=True)
class PairedTest:
    """Result of comparing run a (baseline) with run b on the same ``n`` queries.

    ``delta = mean_b - mean_a``; ``t_p`` is the two-sided paired t-test p-value (1.0 when every
    difference is 0); ``rand_p`` the two-sided randomisation-test p-value.
    """

    mean_a: float
    mean_b: float
    delta: float
    t_p: float
    rand_p: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def randomisation_p(
    diff: np.ndarray, *, n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> float:
    """Two-sided paired randomisation (sign-flip) p-value of per-query differences ``diff`` [n]."""
    d = np.asarray(diff, dtype=np.float64)
    n = d.size
    if n == 0:
        return float("nan")
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))
    if n < 63 and 2**n <= n_permutations:  # exact: every sign pattern once
        total = 2**n
        hits = 0
        step = max(1, _CHUNK_CELLS // n)
        shifts = np.arange(n, dtype=np.int64)
        for start in range(0, total, step):
            codes = np.arange(start, min(total, start + step), dtype=np.int64)
            signs = 1 - 2 * ((codes[:, None] >> shifts) & 1)
            hits += int((np.abs((signs @ d) / n) >= observed - tol).sum())
        return hits / total
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // n)
    hits = 0
    left = n_permutations
    while left > 0:
        m = min(rows, left)
        signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
        means = (signs @ d) / n
        hits += int((np.abs(means) >= observed - tol).sum())
        left -= m
    return (hits + 1) / (n_permutations + 1)


def paired_test(
    a, b, *, n_permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> PairedTest:
    """Paired t-test and randomisation test of ``b`` against ``a`` (float arrays [n], aligned by query).

    Pairs where either value is NaN are dropped before testing (``n`` counts the others).
    """
    from scipy import stats

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise SchemaError(
            f"paired test: expected two 1-d arrays aligned by query, found shapes {x.shape} and {y.shape}"
        )
    if n_permutations < 1:
        raise SchemaError(f"n_permutations: expected >= 1, found {n_permutations}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    if n == 0:
        raise DataError(
            "paired test: no query has a finite value in both runs; expected at least one "
            "(are all queries without a relevant document?)"
        )
    d = y - x
    if np.all(d == 0):
        t_p = 1.0
    elif n < 2:
        t_p = float("nan")
    else:
        t_p = float(stats.ttest_rel(y, x).pvalue)
    return PairedTest(
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        delta=float(y.mean() - x.mean()),
        t_p=t_p,
        rand_p=float(randomisation_p(d, n_permutations=n_permutations, seed=seed)),
        n=n,
    )


def paired_test_frames(
    a: pl.DataFrame,
    b: pl.DataFrame,
    metric: str = "ndcg@10",
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> PairedTest:
    """:func:`paired_test` on two per-query frames (query_id, ``metric``), on the queries both have."""
    for name, f in (("a", a), ("b", b)):
        missing = [c for c in ("query_id", metric) if c not in f.columns]
        if missing:
            raise SchemaError(
                f"per-query frame {name}: missing column(s) {missing}; found {f.columns}"
            )
    joined = a.select("query_id", pl.col(metric).alias("_a")).join(
        b.select("query_id", pl.col(metric).alias("_b")), on="query_id", how="inner"
    )
    return paired_test(
        joined["_a"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        joined["_b"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        n_permutations=n_permutations,
        seed=seed,
    )
