"""Paired t-test and randomisation test (Smucker, Allan & Carterette 2007)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from gbltr.errors import DataError
from gbltr.evaluate.significance import paired_test, paired_test_frames, randomisation_p


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
