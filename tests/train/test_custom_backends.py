"""Tests of the LightGBM / XGBoost custom-objective adapters (gbltr.train.backends.custom)."""

from __future__ import annotations

import numpy as np
import pytest

from gbltr.errors import SchemaError
from gbltr.train.backends.custom import (
    lightgbm_objective,
    make_famol_objective,
    make_lambdarank_objective,
    xgboost_objective,
)
from gbltr.train.objectives import default_label_gain, famol_grad_hess

GAIN = default_label_gain()


def _toy(seed=0, n_queries=60, n_docs=20, n_features=6):
    """Graded labels from a linear signal on the first features, noisy LLM copy."""
    rng = np.random.default_rng(seed)
    n = n_queries * n_docs
    X = rng.normal(size=(n, n_features))
    signal = X[:, 0] + 0.5 * X[:, 1]
    click = np.clip(np.round(signal + 1.5 + rng.normal(scale=0.3, size=n)), 0, 4).astype(np.int32)
    llm = np.clip(np.round(signal + 1.5 + rng.normal(scale=0.6, size=n)), 0, 4).astype(np.int32)
    llm[rng.uniform(size=n) < 0.2] = -1
    gp = np.arange(n_queries + 1, dtype=np.int64) * n_docs
    w = rng.uniform(size=n_queries)
    return X, click, llm, gp, w, 1.0 - w


class _FakeLgbData:
    def __init__(self, sizes):
        self.sizes = sizes
        self.calls = 0

    def get_group(self):
        self.calls += 1
        return self.sizes


def test_lightgbm_adapter_builds_and_caches_group_ptr():
    X, click, llm, gp, cw, lw = _toy()
    kernel = make_famol_objective(click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)
    obj = lightgbm_objective(kernel)
    data = _FakeLgbData(np.diff(gp).astype(np.int32))
    s = np.random.default_rng(1).normal(size=X.shape[0])
    g1, h1 = obj(s, data)
    g2, _ = obj(s, data)
    assert data.calls == 1
    ge, he = famol_grad_hess(s, click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)
    np.testing.assert_array_equal(g1, ge)
    np.testing.assert_array_equal(h1, he)
    np.testing.assert_array_equal(g1, g2)


def test_adapter_rejects_groups_that_differ_from_the_labels():
    X, click, llm, gp, cw, lw = _toy()
    kernel = make_famol_objective(click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)
    sizes = np.diff(gp).copy()
    sizes[0] += 1
    sizes[1] -= 1
    with pytest.raises(SchemaError, match="query groups differ"):
        lightgbm_objective(kernel)(np.zeros(X.shape[0]), _FakeLgbData(sizes))
    with pytest.raises(SchemaError, match="no query groups"):
        lightgbm_objective(kernel)(np.zeros(X.shape[0]), _FakeLgbData(None))


def test_lightgbm_trains_with_famol_objective():
    lgb = pytest.importorskip("lightgbm")
    X, click, llm, gp, cw, lw = _toy()
    kernel = make_famol_objective(click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)
    ds = lgb.Dataset(X, click, group=np.diff(gp))
    params = dict(objective=lightgbm_objective(kernel), num_threads=1, verbose=-1,
                  num_leaves=7, learning_rate=0.2, metric="ndcg", eval_at=[10])
    evals = {}
    lgb.train(params, ds, num_boost_round=15, valid_sets=[ds], valid_names=["train"],
              callbacks=[lgb.record_evaluation(evals)])
    ndcg = evals["train"]["ndcg@10"]
    assert ndcg[-1] > ndcg[0] + 0.05
    assert ndcg[-1] > 0.85


def _ndcg_at(scores, labels, gp, k=10):
    out = []
    for q in range(gp.shape[0] - 1):
        s, y = scores[gp[q]:gp[q + 1]], labels[gp[q]:gp[q + 1]]
        gains = 2.0 ** y - 1
        disc = 1 / np.log2(np.arange(2, min(k, len(y)) + 2))
        dcg = np.sum(gains[np.argsort(-s, kind="stable")][:k] * disc)
        ideal = np.sum(np.sort(gains)[::-1][:k] * disc)
        out.append(dcg / ideal if ideal > 0 else 1.0)
    return float(np.mean(out))


def test_xgboost_adapter_trains_and_reads_group_ptr_from_dmatrix():
    xgb = pytest.importorskip("xgboost")
    X, click, llm, gp, cw, lw = _toy(seed=3)
    seen = []
    inner = make_famol_objective(click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)

    def spy(scores, group_ptr):
        seen.append(group_ptr)
        return inner(scores, group_ptr)

    dtrain = xgb.DMatrix(X, label=np.maximum(click, 0), group=np.diff(gp))
    params = dict(tree_method="hist", max_depth=3, eta=0.3, nthread=1, seed=0,
                  disable_default_eval_metric=1)
    booster = xgb.train(params, dtrain, num_boost_round=20, obj=xgboost_objective(spy))
    assert len(seen) == 20
    np.testing.assert_array_equal(seen[0], gp)
    assert seen[0].dtype == np.int64
    assert all(s is seen[0] for s in seen)  # read once, cached
    after = _ndcg_at(booster.predict(dtrain, output_margin=True), click, gp)
    random = _ndcg_at(np.random.default_rng(0).normal(size=X.shape[0]), click, gp)
    assert after > random + 0.1
    assert after > 0.85


def test_xgboost_with_lambdarank_kernel_close_to_builtin_quality():
    xgb = pytest.importorskip("xgboost")
    X, click, _, gp, _, _ = _toy(seed=4)
    dtrain = xgb.DMatrix(X, label=click, group=np.diff(gp))
    params = dict(tree_method="hist", max_depth=3, eta=0.3, nthread=1, seed=0,
                  disable_default_eval_metric=1)
    kernel = make_lambdarank_objective(click, gp, label_gain=GAIN)
    custom = xgb.train(params, dtrain, num_boost_round=20, obj=xgboost_objective(kernel))
    builtin = xgb.train(dict(params, objective="rank:ndcg"), dtrain, num_boost_round=20)
    n_custom = _ndcg_at(custom.predict(dtrain, output_margin=True), click, gp)
    n_builtin = _ndcg_at(builtin.predict(dtrain, output_margin=True), click, gp)
    assert n_custom > n_builtin - 0.05


def test_make_famol_objective_validates_once():
    X, click, llm, gp, cw, lw = _toy()
    with pytest.raises(SchemaError, match="click_labels"):
        make_famol_objective(click[:-1], llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)
    with pytest.raises(SchemaError, match="llm_weight"):
        make_famol_objective(click, llm, gp, cw, lw[:-1], click_gain=GAIN, llm_gain=GAIN)
    kernel = make_famol_objective(click, llm, gp, cw, lw, click_gain=GAIN, llm_gain=GAIN)
    with pytest.raises(SchemaError, match="expected 1200 scores"):
        kernel(np.zeros(5), gp)
