"""FAMOL's two forms: a custom objective, and stacked groups with frequency-conditioned weights.

On LightGBM they are the same model: per-row weights scale the built-in lambdarank gradient
after its per-query normalisation, so the histogram sums of the stacked rows equal the custom
objective's per-row mix, once min_data_in_leaf is doubled (each document is two rows) and the
stacked rows are binned like the unstacked ones.
"""

from dataclasses import replace

import numpy as np

from gbltr.config import TrainConfig
from gbltr.train.backends import TrainRequest
from gbltr.train.backends import lightgbm as lgb_backend
from gbltr.train.backends import xgboost as xgb_backend
from gbltr.train.backends.custom import make_famol_objective
from gbltr.train.dataset import RankingDataset

GAIN = (0.0, 1.0, 3.0, 7.0, 15.0)


def synthetic(n_queries=60, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 25, n_queries)
    n = int(sizes.sum())
    X = rng.normal(size=(n, 6)).astype(np.float32)
    rel = X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, n)
    click = np.clip(np.round(rel + 1.0 + 0.8 * X[:, 2]), 0, 4)
    llm = np.clip(np.round(rel + 1.5 + rng.normal(0, 0.7, n)), 0, 4)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ds = RankingDataset(
        X=X, feature_names=tuple(f"f{i}" for i in range(6)), query_ids=np.array([f"q{i:03d}" for i in range(n_queries)]),
        doc_ids=np.arange(n).astype(str), group_ptr=ptr, labels={"click": click, "llm": llm},
        frequency=rng.integers(0, 500, n_queries),
    )
    w = 1 / (1 + np.exp(-(np.log1p(ds.frequency) - 3.4)))
    return ds, w, 1 - w


CFG = TrainConfig(rounds=15, learning_rate=0.1, num_leaves=7, min_data_in_leaf=5, early_stopping=0, threads=1)


def test_lightgbm_custom_objective_equals_stacked_weights():
    ds, a, b = synthetic()
    valid, _, _ = synthetic(20, seed=1)
    vy = valid.labels["llm"]
    kernel = make_famol_objective(ds.grades("click"), ds.grades("llm"), ds.group_ptr, a, b, click_gain=GAIN,
                                  llm_gain=GAIN)
    m_obj = lgb_backend.BACKEND.train(TrainRequest(ds.X, np.zeros(ds.n_rows), ds.group_sizes, valid.X, vy, valid.group_sizes, CFG,
                              seed=0, label_gain=GAIN, objective=kernel))
    st = ds.stacked("click", "llm", a, b)
    assert st.data.n_rows == 2 * ds.n_rows and st.data.n_queries == 2 * ds.n_queries
    m_st = lgb_backend.BACKEND.train(TrainRequest(st.data.X, st.data.grades("stacked"), st.data.group_sizes, valid.X, vy,
                             valid.group_sizes, CFG, seed=0, label_gain=GAIN, row_weight=st.row_weight,
                             bin_reference=ds.X, min_data_in_leaf=2 * CFG.min_data_in_leaf))
    p_obj, p_st = m_obj.predict(valid.X), m_st.predict(valid.X)
    assert np.std(p_obj) > 0.1  # the model learned something
    np.testing.assert_allclose(p_st, p_obj, rtol=1e-4, atol=1e-4)


def test_lightgbm_stacked_without_doubling_min_data_differs():
    """The row-count interaction the issue warns about is real: the same min_data_in_leaf differs."""
    ds, a, b = synthetic()
    valid, _, _ = synthetic(20, seed=1)
    st = ds.stacked("click", "llm", a, b)
    kw = dict(seed=0, label_gain=GAIN, row_weight=st.row_weight, bin_reference=ds.X)
    cfg = TrainConfig(**{**CFG.__dict__, "min_data_in_leaf": 40})
    same = lgb_backend.BACKEND.train(TrainRequest(st.data.X, st.data.grades("stacked"), st.data.group_sizes, valid.X, valid.labels["llm"],
                             valid.group_sizes, cfg, min_data_in_leaf=80, **kw))
    naive = lgb_backend.BACKEND.train(TrainRequest(st.data.X, st.data.grades("stacked"), st.data.group_sizes, valid.X, valid.labels["llm"],
                              valid.group_sizes, cfg, min_data_in_leaf=40, **kw))
    assert not np.allclose(same.predict(valid.X), naive.predict(valid.X))


def test_xgboost_forms_agree_where_they_can():
    """XGBoost renormalises per-group weights and its rank:ndcg gradient is not LightGBM's, so its
    stacked form is a different model. What agrees: with w = 1 for every query, stacked-with-weights
    equals the built-in objective on click labels alone (the LLM copies have weight 0). Features
    are put on a grid of 0.25 so that XGBoost's weighted and unweighted quantile sketches give the
    same bin cuts (with continuous features they differ slightly and so do the trees)."""
    ds, _, _ = synthetic()
    ds = replace(ds, X=np.round(ds.X * 4) / 4)
    valid, _, _ = synthetic(20, seed=1)
    one, zero = np.ones(ds.n_queries), np.zeros(ds.n_queries)
    st = ds.stacked("click", "llm", one, zero)
    cfg = TrainConfig(**{**CFG.__dict__, "backend": "xgboost"})
    m_st = xgb_backend.BACKEND.train(TrainRequest(st.data.X, st.data.grades("stacked"), st.data.group_sizes, valid.X, valid.labels["llm"],
                             valid.group_sizes, cfg, seed=0, label_gain=GAIN, group_weight=st.group_weight))
    m_click = xgb_backend.BACKEND.train(TrainRequest(ds.X, ds.grades("click"), ds.group_sizes, valid.X, valid.labels["llm"],
                                valid.group_sizes, cfg, seed=0, label_gain=GAIN))
    np.testing.assert_allclose(m_st.predict(valid.X), m_click.predict(valid.X), rtol=0, atol=1e-6)


def test_xgboost_custom_objective_trains_and_learns():
    ds, a, b = synthetic()
    valid, _, _ = synthetic(20, seed=1)
    kernel = make_famol_objective(ds.grades("click"), ds.grades("llm"), ds.group_ptr, a, b, click_gain=GAIN,
                                  llm_gain=GAIN)
    cfg = TrainConfig(**{**CFG.__dict__, "backend": "xgboost"})
    m = xgb_backend.BACKEND.train(TrainRequest(ds.X, np.zeros(ds.n_rows), ds.group_sizes, valid.X, valid.labels["llm"], valid.group_sizes,
                          cfg, seed=0, label_gain=GAIN, objective=kernel))
    from gbltr.evaluate.metrics import ndcg_per_query

    before = np.nanmean(ndcg_per_query(np.zeros(valid.n_rows) + np.arange(valid.n_rows) * 0, valid.labels["llm"], valid.group_ptr, ks=(10,)))
    after = np.nanmean(ndcg_per_query(m.predict(valid.X), valid.labels["llm"], valid.group_ptr, ks=(10,)))
    assert after > before + 0.05
