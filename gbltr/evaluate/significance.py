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

:func:`paired_by_view` is the one paired comparison per view (overall and each frequency
bucket) that ``compare``, ``experiment`` and ``ablation`` share: a long per-query frame with a
column naming the system goes in, typed :class:`ViewTest` results come out. A view with fewer
than :data:`gbltr.buckets.MIN_TEST_QUERIES` distinct paired queries (the one minimum every report
uses, and the one its bucket notes name) gets no test and says so (``status``, which shows ``n``),
never a NaN or a p-value computed on a handful of queries.

The randomisation test is checked against ``scipy.stats.permutation_test(permutation_type=
"samples")`` (which swaps each query's pair of values, i.e. flips the sign of its difference):
the exact p-values are equal, and ``benchmarks/bench_significance.py`` measures the speed of
both side by side.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from gbltr.buckets import MIN_TEST_QUERIES
from gbltr.errors import DataError, SchemaError
from gbltr.evaluate.views import long_views, view_order

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


def stars(p: float | None) -> str:
    """Significance marks: ``***`` p < 0.001, ``**`` p < 0.01, ``*`` p < 0.05, else ``""``."""
    if p is None or not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


@dataclass(frozen=True)
class ViewTest:
    """System ``system`` against ``baseline`` in one view (overall / high / medium / low).

    ``n`` counts the pairs where both have a finite value (one per query, or per (seed, query)
    when an experiment pairs over seeds). With at least ``min_queries`` distinct queries among
    them ``status`` is ``"ok"`` and ``test`` holds the :class:`PairedTest`; otherwise ``status``
    says why there is no test (naming the query count) and ``test`` is None.
    """

    view: str
    baseline: str
    system: str
    n: int
    status: str
    test: PairedTest | None = None
    queries: int | None = None

    @property
    def ok(self) -> bool:
        return self.test is not None

    @property
    def n_queries(self) -> int:
        """Distinct queries among the ``n`` pairs (``n`` itself when the pairing has no query id)."""
        return self.n if self.queries is None else self.queries

    @property
    def delta(self) -> float | None:
        return None if self.test is None else self.test.delta

    @property
    def rand_p(self) -> float | None:
        return None if self.test is None else self.test.rand_p

    @property
    def t_p(self) -> float | None:
        if self.test is None or not math.isfinite(self.test.t_p):
            return None
        return self.test.t_p

    def cell(self, spec: str = "+.4f") -> str:
        """A table cell: ``+0.0123 (p 0.004)**``, or the reason there is no test."""
        if self.test is None:
            return self.status
        return f"{format(self.test.delta, spec)} (p {self.test.rand_p:.3g}){stars(self.test.rand_p)}"

    def short_cell(self, spec: str = "+.3f") -> str:
        """A heatmap cell: ``+0.012**``, or ``n=N`` where there are too few queries for a test."""
        if self.test is None:
            return f"n={self.n_queries}"
        return f"{format(self.test.delta, spec)}{stars(self.test.rand_p)}"

    def to_dict(self) -> dict:
        return {"view": self.view, "baseline": self.baseline, "system": self.system, "n": self.n,
                "n_queries": self.n_queries, "status": self.status, "mean_a": None if self.test is None else self.test.mean_a,
                "mean_b": None if self.test is None else self.test.mean_b,
                "delta": self.delta, "t_p": self.t_p, "rand_p": self.rand_p}


def paired_by_view(
    per_query: pl.DataFrame,
    *,
    system: str,
    baseline: str | dict[str, str],
    metric: str = "ndcg@10",
    keys: tuple[str, ...] = ("query_id",),
    systems=None,
    bucket_col: str = "bucket",
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    min_queries: int = MIN_TEST_QUERIES,
) -> list[ViewTest]:
    """Each system against the baseline in every view, paired by ``keys``.

    ``per_query``: one row per (system, keys...) with columns ``system`` (String), ``keys``,
    ``metric`` (Float64, NaN = no relevant document) and optionally ``bucket_col``; views are
    :func:`gbltr.evaluate.views.long_views`. ``baseline``: a system name, or view -> name (the
    experiment's best single source differs per bucket). ``systems``: which to test (default:
    every system but the baseline, in first-seen order). Returns views in
    :func:`~gbltr.evaluate.views.view_order`, systems in order within each view. ``min_queries``:
    fewest distinct queries (``query_id`` when it is a key, else pairs) a view needs for a test.
    """
    missing = [c for c in (system, metric, *keys) if c not in per_query.columns]
    if missing:
        raise SchemaError(f"paired_by_view: missing column(s) {missing}; found {per_query.columns}")
    names = list(dict.fromkeys(per_query[system].to_list()))
    frame = per_query.with_columns(pl.col(metric).cast(pl.Float64).fill_null(float("nan")))
    long = long_views(frame, bucket_col=bucket_col)
    out: list[ViewTest] = []
    for view in view_order(long["view"].unique().to_list()):
        part = long.filter(pl.col("view") == view)
        base = baseline if isinstance(baseline, str) else baseline[view]
        if base not in names:
            raise DataError(f"paired_by_view: baseline {base!r} has no rows; systems found: {names}")
        ref = part.filter(pl.col(system) == base).select(*keys, pl.col(metric).alias("_a"))
        for name in (systems if systems is not None else names):
            if name == base:
                continue
            other = part.filter(pl.col(system) == name).select(*keys, pl.col(metric).alias("_b"))
            j = ref.join(other, on=list(keys), how="inner")
            a, b = j["_a"].to_numpy(), j["_b"].to_numpy()
            finite = np.isfinite(a) & np.isfinite(b)
            n = int(finite.sum())
            queries = j.filter(pl.Series(finite))["query_id"].n_unique() if "query_id" in keys else n
            if queries < min_queries:
                out.append(ViewTest(view, base, name, n, f"too few queries (n={queries} < {min_queries})",
                                    queries=queries))
                continue
            t = paired_test(a, b, n_permutations=n_permutations, seed=seed)
            out.append(ViewTest(view, base, name, n, "ok", t, queries=queries))
    return out
