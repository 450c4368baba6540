"""Tests of the LambdaRank / FAMOL kernels (gbltr.train.objectives).

Golden values: the 3-document example is worked out on paper below (and recomputed in closed
form with ``math``); exactness against LightGBM is checked by training LightGBM 4.7 with its
built-in ``objective="lambdarank"`` and with our kernel as a custom objective on the same data
and comparing the dumped trees (bit-identical with ``float32_accumulate=True``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gbltr.errors import ConfigError, DataError, GbltrError, SchemaError
from gbltr.train.objectives import (
    default_label_gain,
    famol_grad_hess,
    lambdarank_grad_hess,
)

GAIN = default_label_gain()


def _random_queries(seed, n_queries=40, max_docs=30, n_grades=5, missing=0.0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_docs, size=n_queries)
    gp = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(gp[-1])
    scores = rng.normal(size=n)
    labels = rng.integers(0, n_grades, size=n).astype(np.int32)
    if missing:
        labels[rng.uniform(size=n) < missing] = -1
    return scores, labels, gp


# ------------------------------------------------------------------------------------------
# hand-checkable example
# ------------------------------------------------------------------------------------------


def test_three_documents_worked_on_paper():
    # Scores all 0 (so rank order = row order, and no |ds| normalisation since best == worst),
    # labels (2, 1, 0), gains 2^l - 1 = (3, 1, 0), sigmoid 1, truncation 30.
    # discounts 1/log2(2 + r) = (1, 0.63093, 0.5); maxDCG = 3 * 1 + 1 * 0.63093 = 3.63093.
    # The sigmoid table at ds = 0 is exactly 1 / (1 + e^0) = 0.5 (bin 2^19), so each pair has
    # lambda = -0.5 * dNDCG and hess = 0.25 * dNDCG with
    #   (0,1): dNDCG = (3-1) * (1 - 0.63093) / 3.63093 = 0.20329
    #   (0,2): dNDCG = (3-0) * (1 - 0.5)     / 3.63093 = 0.41312
    #   (1,2): dNDCG = (1-0) * (0.63093-0.5) / 3.63093 = 0.03606
    # raw grad = (-0.5*(0.20329+0.41312), 0.5*(0.20329-0.03606), 0.5*(0.41312+0.03606))
    #          = (-0.30821, 0.08362, 0.22459)
    # S = sum of |2 lambda| = 0.65247, norm = log2(1 + S) / S = 1.11056
    # grad = (-0.34228, 0.09286, 0.24942); hess = (0.17114, 0.06646, 0.12471).
    d1 = 1 / math.log2(3)
    inv = 1 / (3 + d1)
    pairs = [(0, 1, 2 * (1 - d1) * inv), (0, 2, 3 * 0.5 * inv), (1, 2, 1 * (d1 - 0.5) * inv)]
    g = [0.0, 0.0, 0.0]
    h = [0.0, 0.0, 0.0]
    for hi, lo, dn in pairs:
        g[hi] -= 0.5 * dn
        g[lo] += 0.5 * dn
        h[hi] += 0.25 * dn
        h[lo] += 0.25 * dn
    s = sum(dn for _, _, dn in pairs)
    f = math.log2(1 + s) / s
    grad, hess = lambdarank_grad_hess(
        np.zeros(3), np.array([2, 1, 0], dtype=np.int32), np.array([0, 3]), label_gain=GAIN
    )
    np.testing.assert_allclose(grad, np.array(g) * f, rtol=1e-12)
    np.testing.assert_allclose(hess, np.array(h) * f, rtol=1e-12)
    np.testing.assert_allclose(grad, [-0.34228, 0.09286, 0.24942], atol=1e-5)
    np.testing.assert_allclose(hess, [0.17114, 0.06646, 0.12471], atol=1e-5)


def test_two_documents_score_gap_and_sigmoid():
    # One pair, labels (1, 0), scores (0.3, -0.2): best != worst so dNDCG / (0.01f + 0.5);
    # maxDCG = 1 (gain 1 at rank 0); |discount gap| = 1 - 1/log2(3). Without norm the lambda is
    # -sigma * rho * dNDCG with rho = 1 / (1 + exp(sigma * 0.5)) (table bin, ~1e-5 relative).
    sigma = 2.0
    grad, hess = lambdarank_grad_hess(
        np.array([0.3, -0.2]), np.array([1, 0], dtype=np.int32), np.array([0, 2]),
        label_gain=GAIN, sigmoid=sigma, norm=False,
    )
    dn = (1 - 1 / math.log2(3))  # not divided by |ds| because norm=False
    rho = 1 / (1 + math.exp(sigma * 0.5))
    np.testing.assert_allclose(grad, [-sigma * rho * dn, sigma * rho * dn], rtol=1e-4)
    np.testing.assert_allclose(hess, [sigma**2 * rho * (1 - rho) * dn] * 2, rtol=1e-4)


# ------------------------------------------------------------------------------------------
# exactness against LightGBM's built-in lambdarank
# ------------------------------------------------------------------------------------------


def _train_pair(params, X, y, sizes, weight, kernel, rounds):
    lgb = pytest.importorskip("lightgbm")
    from gbltr.train.backends.custom import lightgbm_objective

    b1 = lgb.train(dict(params, objective="lambdarank"),
                   lgb.Dataset(X, y, group=sizes, weight=weight), num_boost_round=rounds)
    b2 = lgb.train(dict(params, objective=lightgbm_objective(kernel)),
                   lgb.Dataset(X, y, group=sizes, weight=weight), num_boost_round=rounds)

    def trees(b):
        return b.model_to_string().split("Tree=0", 1)[1].split("end of trees", 1)[0]

    return b1.predict(X), b2.predict(X), trees(b1), trees(b2)


@pytest.mark.parametrize(
    "trunc, sigma, norm, gain, weighted",
    [
        (30, 1.0, True, None, False),
        (5, 1.0, True, None, True),
        (3, 2.5, False, None, False),
        (10, 0.7, True, [0.0, 1.0, 1.5, 4.0, 9.0], True),
    ],
)
def test_matches_lightgbm_builtin_lambdarank(trunc, sigma, norm, gain, weighted):
    from gbltr.train.backends.custom import make_lambdarank_objective

    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 40, size=50)
    n = int(sizes.sum())
    X = rng.normal(size=(n, 5))
    y = rng.integers(0, 5, size=n)
    # a tie block so the stable-sort order matters
    X[:20] = X[0]
    w = rng.uniform(0.5, 2.0, size=n) if weighted else None
    gp = np.concatenate([[0], np.cumsum(sizes)])
    label_gain = GAIN if gain is None else np.array(gain)
    params = dict(deterministic=True, num_threads=1, force_row_wise=True, num_leaves=15,
                  min_data_in_leaf=2, learning_rate=0.3, verbose=-1, seed=1,
                  lambdarank_truncation_level=trunc, sigmoid=sigma, lambdarank_norm=norm,
                  label_gain=list(label_gain))
    exact = make_lambdarank_objective(y, gp, label_gain=label_gain, row_weight=w,
                                      truncation_level=trunc, sigmoid=sigma, norm=norm,
                                      float32_accumulate=True)
    p1, p2, t1, t2 = _train_pair(params, X, y, sizes, w, exact, rounds=5)
    assert t1 == t2, "float32-accumulated kernel must give LightGBM's trees bit for bit"
    np.testing.assert_array_equal(p1, p2)

    fast = make_lambdarank_objective(y, gp, label_gain=label_gain, row_weight=w,
                                     truncation_level=trunc, sigmoid=sigma, norm=norm)
    p1, p3, _, _ = _train_pair(params, X, y, sizes, w, fast, rounds=5)
    # float64 accumulation differs from LightGBM's float32 by rounding only (seen: 1.3e-7)
    np.testing.assert_allclose(p3, p1, rtol=0, atol=1e-5 * max(1.0, np.abs(p1).max()))


def test_float32_and_float64_modes_agree():
    s, y, gp = _random_queries(3)
    g32, h32 = lambdarank_grad_hess(s, y, gp, label_gain=GAIN, float32_accumulate=True)
    g64, h64 = lambdarank_grad_hess(s, y, gp, label_gain=GAIN)
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(h32, h64, rtol=1e-5, atol=1e-7)
    assert np.all(g32 == g32.astype(np.float32))  # really float32 values


# ------------------------------------------------------------------------------------------
# invariances
# ------------------------------------------------------------------------------------------


def test_missing_labels_equal_dropping_rows():
    s, y, gp = _random_queries(11, missing=0.3)
    grad, hess = lambdarank_grad_hess(s, y, gp, label_gain=GAIN, truncation_level=5)
    keep = y >= 0
    sizes = np.diff(gp)
    kept_sizes = np.add.reduceat(keep.astype(np.int64), gp[:-1])
    kept_sizes[sizes == 0] = 0
    gp_k = np.concatenate([[0], np.cumsum(kept_sizes)])
    g_k, h_k = lambdarank_grad_hess(s[keep], y[keep], gp_k, label_gain=GAIN, truncation_level=5)
    np.testing.assert_array_equal(grad[keep], g_k)
    np.testing.assert_array_equal(hess[keep], h_k)
    assert np.all(grad[~keep] == 0) and np.all(hess[~keep] == 0)
    assert np.abs(grad).sum() > 0


def test_gradient_sums_to_zero_per_query_and_permutation_equivariant():
    s, y, gp = _random_queries(5)
    grad, hess = lambdarank_grad_hess(s, y, gp, label_gain=GAIN)
    sums = np.add.reduceat(grad, gp[:-1])[np.diff(gp) > 0]
    np.testing.assert_allclose(sums, 0.0, atol=1e-12)
    assert np.all(hess >= 0)
    # shuffling rows inside each query (no score ties) permutes the gradient with them
    rng = np.random.default_rng(0)
    perm = np.concatenate([gp[q] + rng.permutation(gp[q + 1] - gp[q]) for q in range(len(gp) - 1)])
    g2, h2 = lambdarank_grad_hess(s[perm], y[perm], gp, label_gain=GAIN)
    np.testing.assert_allclose(g2, grad[perm], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h2, hess[perm], rtol=1e-12, atol=1e-15)


def test_row_and_query_weights_scale():
    s, y, gp = _random_queries(8)
    rng = np.random.default_rng(1)
    rw = rng.uniform(0.1, 3.0, size=s.shape[0])
    qw = rng.uniform(0.0, 2.0, size=gp.shape[0] - 1)
    qw[3] = 0.0
    g, h = lambdarank_grad_hess(s, y, gp, label_gain=GAIN)
    gw, hw = lambdarank_grad_hess(s, y, gp, label_gain=GAIN, row_weight=rw, query_weight=qw)
    per_row_q = np.repeat(qw, np.diff(gp))
    np.testing.assert_allclose(gw, g * rw * per_row_q, rtol=1e-12)
    np.testing.assert_allclose(hw, h * rw * per_row_q, rtol=1e-12)


def test_degenerate_queries_give_zero():
    # q0: one document; q1: all labels equal; q2: all labels missing; q3: one labelled row
    s = np.array([0.5, 0.1, 0.9, -0.3, 0.2, 0.7, 0.4, 0.0, 1.0])
    y = np.array([3, 2, 2, 2, -1, -1, 4, -1, -1], dtype=np.int32)
    gp = np.array([0, 1, 4, 6, 9])
    g, h = lambdarank_grad_hess(s, y, gp, label_gain=GAIN)
    assert np.all(g == 0) and np.all(h == 0)
    g, h = famol_grad_hess(s, y, y, gp, np.ones(4), np.ones(4), click_gain=GAIN, llm_gain=GAIN)
    assert np.all(g == 0) and np.all(h == 0)


# ------------------------------------------------------------------------------------------
# FAMOL
# ------------------------------------------------------------------------------------------


def _famol_data(seed):
    s, click, gp = _random_queries(seed, missing=0.1)
    rng = np.random.default_rng(seed + 100)
    llm = rng.integers(0, 4, size=s.shape[0]).astype(np.int32)
    llm[rng.uniform(size=s.shape[0]) < 0.3] = -1
    nq = gp.shape[0] - 1
    cw = rng.uniform(0.0, 2.0, size=nq)
    lw = rng.uniform(0.0, 2.0, size=nq)
    cw[0] = 0.0
    lw[1] = 0.0
    return s, click, llm, gp, cw, lw


def test_famol_with_zero_llm_weight_is_weighted_lambdarank():
    s, click, llm, gp, cw, _ = _famol_data(21)
    g, h = famol_grad_hess(s, click, llm, gp, cw, np.zeros_like(cw), click_gain=GAIN,
                           llm_gain=GAIN, truncation_level=7)
    gc, hc = lambdarank_grad_hess(s, click, gp, label_gain=GAIN, truncation_level=7)
    per_row = np.repeat(cw, np.diff(gp))
    np.testing.assert_allclose(g, per_row * gc, rtol=1e-13, atol=0)
    np.testing.assert_allclose(h, per_row * hc, rtol=1e-13, atol=0)


def test_famol_is_weighted_sum_of_two_lambdaranks():
    s, click, llm, gp, cw, lw = _famol_data(22)
    llm_gain = np.array([0.0, 1.0, 3.0, 10.0])
    g, h = famol_grad_hess(s, click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=llm_gain,
                           sigmoid=1.5)
    gc, hc = lambdarank_grad_hess(s, click, gp, label_gain=GAIN, query_weight=cw, sigmoid=1.5)
    gl, hl = lambdarank_grad_hess(s, llm, gp, label_gain=llm_gain, query_weight=lw, sigmoid=1.5)
    np.testing.assert_allclose(g, gc + gl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, hc + hl, rtol=1e-12, atol=1e-15)
    assert np.abs(gl).sum() > 0 and np.abs(gc).sum() > 0


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    s = np.zeros(4)
    y = np.array([0, 1, 2, 1], dtype=np.int32)
    with pytest.raises(SchemaError, match=r"group_ptr\[-1\] == 4.*found 0 and 3"):
        lambdarank_grad_hess(s, y, np.array([0, 3]), label_gain=GAIN)
    with pytest.raises(SchemaError, match="non-decreasing"):
        lambdarank_grad_hess(s, y, np.array([0, 3, 2, 4]), label_gain=GAIN)
    with pytest.raises(SchemaError, match=r"max label 7 but the gain table has 3 entries"):
        lambdarank_grad_hess(s, np.array([0, 7, 1, 1]), np.array([0, 4]),
                             label_gain=[0.0, 1.0, 3.0])
    with pytest.raises(DataError, match="NaN at row 2"):
        lambdarank_grad_hess(np.array([0.0, 1.0, np.nan, 2.0]), y, np.array([0, 4]),
                             label_gain=GAIN)
    with pytest.raises(SchemaError, match="expected length 4, found shape"):
        lambdarank_grad_hess(s, y[:3], np.array([0, 4]), label_gain=GAIN)
    with pytest.raises(SchemaError, match="non-integer"):
        lambdarank_grad_hess(s, np.array([0.0, 1.5, 1, 1]), np.array([0, 4]), label_gain=GAIN)
    with pytest.raises(SchemaError, match="one weight per query; expected length 2"):
        famol_grad_hess(s, y, y, np.array([0, 2, 4]), np.ones(3), np.ones(2),
                        click_gain=GAIN, llm_gain=GAIN)
    with pytest.raises(SchemaError, match="llm_labels"):
        famol_grad_hess(s, y, np.array([0, 1, 2, 40]), np.array([0, 4]), np.ones(1),
                        np.ones(1), click_gain=GAIN, llm_gain=GAIN)
    with pytest.raises(ConfigError, match="sigmoid must be > 0"):
        lambdarank_grad_hess(s, y, np.array([0, 4]), label_gain=GAIN, sigmoid=0.0)
    with pytest.raises(ConfigError, match="truncation_level"):
        lambdarank_grad_hess(s, y, np.array([0, 4]), label_gain=GAIN, truncation_level=0)
    with pytest.raises(GbltrError):
        lambdarank_grad_hess(np.zeros((4, 2)), y, np.array([0, 4]), label_gain=GAIN)
