"""Paired t-test and randomisation test (Smucker, Allan & Carterette 2007)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from gbltr.errors import DataError
from gbltr.evaluate.significance import paired_by_view, paired_test, paired_test_frames, randomisation_p, stars


def _exact(d) -> float:
    """Brute force: the share of the 2^n sign patterns whose |mean| reaches the observed |mean|."""
    d = np.asarray(d, dtype=float)
    obs = abs(d.mean())
    hits = sum(abs(np.dot(s, d)) / d.size >= obs - 1e-12 for s in itertools.product((1, -1), repeat=d.size))
    return hits / 2**d.size


def test_exact_enumeration_tiny_example():
    # d = (0.1, 0.2, 0.3, -0.05): mean 0.1375; of the 16 sign patterns, |sum| >= 0.55 only for
    # (+,+,+,-) = 0.55, (+,+,+,+) = 0.65 and their mirror images -> p = 4 / 16 = 0.25.
    d = [0.1, 0.2, 0.3, -0.05]
    assert _exact(d) == 0.25
    assert randomisation_p(d, n_permutations=16) == 0.25


def test_monte_carlo_close_to_exact():
    rng = np.random.default_rng(3)
    d = rng.normal(0.05, 0.2, size=14)  # 16384 patterns > 10000 permutations: sampled
    exact = _exact(d)
    got = randomisation_p(d, n_permutations=10_000, seed=1)
    assert 0.01 < exact < 0.99
    assert abs(got - exact) < 4 * math.sqrt(exact * (1 - exact) / 10_000) + 1e-4
    assert randomisation_p(d, n_permutations=10_000, seed=1) == got  # seeded


def test_paired_test_fields_and_t_formula():
    a = np.array([0.2, 0.4, 0.5, 0.1, 0.9, np.nan])
    b = np.array([0.3, 0.5, 0.45, 0.3, 0.95, 0.7])
    r = paired_test(a, b, n_permutations=1000)
    d = (b - a)[:5]
    t = d.mean() / (d.std(ddof=1) / math.sqrt(5))
    assert r.n == 5  # the NaN pair is dropped
    assert r.mean_a == pytest.approx(0.42) and r.mean_b == pytest.approx(0.5)
    assert r.delta == pytest.approx(0.08)
    assert r.t_p == pytest.approx(2 * stats.t.sf(abs(t), 4), rel=1e-9)
    assert r.rand_p == pytest.approx(_exact(d))  # 2^5 <= 1000: enumerated


def test_identical_runs_and_clear_difference():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    same = paired_test(a, a.copy())
    assert same.t_p == 1.0 and same.rand_p == 1.0 and same.delta == 0
    better = paired_test(a, np.clip(a + 0.1 + rng.normal(0, 0.05, 200), 0, 1), n_permutations=2000)
    assert better.t_p < 1e-6 and better.rand_p == pytest.approx(1 / 2001)


def test_frames_use_shared_queries():
    fa = pl.DataFrame({"query_id": ["a", "b", "c"], "ndcg@10": [0.1, 0.2, 0.3]})
    fb = pl.DataFrame({"query_id": ["c", "b", "z"], "ndcg@10": [0.5, 0.2, 0.9]})
    r = paired_test_frames(fa, fb)
    assert r.n == 2 and r.mean_a == pytest.approx(0.25) and r.mean_b == pytest.approx(0.35)
    with pytest.raises(DataError, match="no query"):
        paired_test([np.nan], [0.5])


# --- against scipy.stats.permutation_test and the shared paired comparison per view -------------


def _scipy_p(d, n_resamples, seed=0):
    """scipy's paired permutation test (permutation_type='samples' swaps each query's pair,
    i.e. flips the sign of its difference); two-sided on the mean difference."""
    d = np.asarray(d, dtype=float)
    res = stats.permutation_test((d, np.zeros_like(d)), lambda x, y, axis: np.mean(x - y, axis=axis),
                                 permutation_type="samples", n_resamples=n_resamples, vectorized=True,
                                 alternative="two-sided", random_state=seed)
    return res.pvalue


@pytest.mark.parametrize("n", [3, 6, 9, 12])
def test_exact_p_equals_scipy_permutation_test(n):
    rng = np.random.default_rng(n)
    d = rng.normal(0.03, 0.1, size=n)
    # 2^n <= 10000: both enumerate every sign pattern, so the p-values are equal
    assert randomisation_p(d, n_permutations=10_000) == pytest.approx(_scipy_p(d, 10_000), rel=1e-12)


def test_sampled_p_agrees_with_scipy_within_monte_carlo_error():
    rng = np.random.default_rng(7)
    d = rng.normal(0.02, 0.15, size=60)
    ours = randomisation_p(d, n_permutations=20_000, seed=2)
    theirs = _scipy_p(d, 20_000, seed=5)
    assert 0.01 < theirs < 0.99
    assert abs(ours - theirs) < 5 * math.sqrt(2 * theirs * (1 - theirs) / 20_000)


def _long(values: dict[str, list[float]], buckets: list[str]) -> pl.DataFrame:
    return pl.concat([pl.DataFrame({"system": s, "query_id": [f"q{i}" for i in range(len(v))], "bucket": buckets,
                                    "ndcg@10": v}) for s, v in values.items()])


def test_paired_by_view_matches_paired_test_and_reports_too_few_queries():
    rng = np.random.default_rng(0)
    buckets = ["high"] * 20 + ["medium"] * 20 + ["low"] * 1
    a = rng.random(41)
    b = np.clip(a + rng.normal(0.05, 0.05, 41), 0, 1)
    b[3] = np.nan  # no relevant document: dropped from the pairs
    tests = paired_by_view(_long({"a": list(a), "b": list(b)}, buckets), system="system", baseline="a",
                           n_permutations=500)
    by_view = {t.view: t for t in tests}
    assert list(by_view) == ["overall", "high", "medium", "low"]
    ref = paired_test(a[:20], b[:20], n_permutations=500)
    assert by_view["high"].test == ref and by_view["high"].n == 19
    assert by_view["overall"].n == 40
    low = by_view["low"]
    assert not low.ok and low.n == 1 and low.delta is None and "too few queries (n=1 < 10)" == low.status
    assert low.cell() == low.status  # a table shows the reason, never NaN


def test_paired_by_view_takes_a_baseline_per_view():
    buckets = ["high"] * 4 + ["low"] * 4
    vals = {"x": [0.5] * 8, "y": [0.6] * 4 + [0.4] * 4, "z": [0.1] * 8}
    tests = paired_by_view(_long(vals, buckets), system="system", baseline={"overall": "x", "high": "y", "low": "x"},
                           n_permutations=100, min_queries=2)
    got = {(t.view, t.system): round(t.delta, 6) for t in tests}
    assert got == {("overall", "y"): 0.0, ("overall", "z"): -0.4, ("high", "x"): -0.1, ("high", "z"): -0.5,
                   ("low", "y"): -0.1, ("low", "z"): -0.4}
    with pytest.raises(DataError, match="baseline 'w' has no rows"):
        paired_by_view(_long(vals, buckets), system="system", baseline="w")


def test_stars():
    assert [stars(p) for p in (0.0005, 0.005, 0.02, 0.2, None, float("nan"))] == ["***", "**", "*", "", "", ""]
