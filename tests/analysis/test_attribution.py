"""TreeSHAP, permutation importance and split-gain shares on small synthetic ranking data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from gbltr.analysis.attribution import UNPERMUTED, gain_by_group, group_shares, permutation_importance, shap_shares
from gbltr.config import TrainConfig
from gbltr.labels.fusion import default_gain
from gbltr.train.backends import TrainRequest, get_backend
from gbltr.train.dataset import RankingDataset

NAMES = ("match", "authority", "unused")
GROUPS = {"semantic": ("match",), "doc": ("authority",), "never": ("unused",)}


def _data(seed: int, n_q: int, *, unused_constant: bool) -> RankingDataset:
    """Queries of 12 documents; the grade depends on 'match' and 'authority'. 'unused' is
    constant when ``unused_constant`` (so no tree can split on it) and random otherwise."""
    rng = np.random.default_rng(seed)
    n = n_q * 12
    X = rng.random((n, 3)).astype(np.float32)
    if unused_constant:
        X[:, 2] = 0.5
    y = np.clip(np.round(3 * X[:, 0] + 1.5 * X[:, 1] - 0.5 + rng.normal(0, 0.3, n)), 0, 4)
    ptr = np.arange(0, n + 1, 12, dtype=np.int64)
    bucket = np.array(["high", "medium", "low"])[np.arange(n_q) % 3]
    return RankingDataset(X=X, feature_names=NAMES, query_ids=np.array([f"q{seed}-{i}" for i in range(n_q)]),
                          doc_ids=np.array([f"d{i}" for i in range(n)]), group_ptr=ptr, labels={"human": y},
                          bucket=bucket)


def _train(backend: str, rounds: int = 60, early_stopping: int = 0):
    train, valid = _data(0, 60, unused_constant=True), _data(1, 30, unused_constant=True)
    cfg = TrainConfig(backend=backend, rounds=rounds, early_stopping=early_stopping, num_leaves=7,
                      min_data_in_leaf=5, threads=1)
    return get_backend(backend).train(TrainRequest(
        train.X, train.labels["human"], train.group_sizes, valid.X, valid.labels["human"], valid.group_sizes,
        cfg, seed=0, label_gain=default_gain(4), eval_at=10, feature_names=NAMES))


@pytest.fixture(scope="module", params=["lightgbm", "xgboost"])
def model(request):
    return _train(request.param)


def test_shap_rows_sum_to_the_prediction(model):
    test = _data(2, 30, unused_constant=False)
    phi = model.contributions(test.X)
    assert phi.shape == (test.n_rows, len(NAMES) + 1)
    np.testing.assert_allclose(phi.sum(axis=1), model.predict(test.X), rtol=1e-5, atol=1e-5)


def test_a_feature_never_split_on_has_no_attribution(model):
    test = _data(2, 30, unused_constant=False)  # 'unused' varies at test time only
    phi = model.contributions(test.X)
    assert np.all(phi[:, 2] == 0)
    shares = shap_shares(model, test, GROUPS)
    assert set(shares["view"]) == {"overall", "high", "medium", "low"}
    groups = group_shares(shares)
    for view in ("overall", "high", "medium", "low"):
        g = {r["group"]: r for r in groups.filter(groups["view"] == view).iter_rows(named=True)}
        assert g["never"]["shap_share"] == 0 and g["never"]["shap_share_within"] == 0
        assert sum(r["shap_share"] for r in g.values()) == pytest.approx(1)
        assert g["semantic"]["shap_share"] > g["doc"]["shap_share"] > 0  # grade = 3 match + 1.5 authority


def test_permuting_an_unused_group_changes_nothing(model):
    test = _data(2, 30, unused_constant=False)
    res = permutation_importance(model, test, GROUPS, repeats=2, seed=3, n_permutations=200)
    never = [t for t in res.tests if t.system == "never"]
    assert len(never) == 4 and all(t.ok and t.delta == 0 for t in never)
    pq = res.per_query
    base = pq.filter(pq["permuted"] == UNPERMUTED).sort("query_id")["ndcg"].to_numpy()
    assert np.array_equal(pq.filter(pq["permuted"] == "never").sort("query_id")["ndcg"].to_numpy(), base)
    semantic = next(t for t in res.tests if t.system == "semantic" and t.view == "overall")
    assert semantic.delta < -0.05 and semantic.rand_p < 0.01
    again = permutation_importance(model, test, GROUPS, repeats=2, seed=3, n_permutations=200)
    assert again.per_query.equals(res.per_query)  # seeded


def _shares(gains: dict[str, float]) -> dict[str, float]:
    total = sum(gains.values())
    return {g: sum(gains.get(f, 0.0) for f in names) / total for g, names in GROUPS.items()}


def _xgb_gains(dumps) -> dict[str, float]:
    """Total split gain per feature, walking XGBoost's JSON tree dumps."""
    out: dict[str, float] = {}

    def walk(node):
        if "split" in node:
            out[node["split"]] = out.get(node["split"], 0.0) + node["gain"]
            for child in node["children"]:
                walk(child)

    for d in dumps:
        walk(json.loads(d))
    return out


def test_xgboost_gain_share_counts_only_the_kept_rounds():
    model = _train("xgboost", rounds=300, early_stopping=5)
    assert model.best_iteration < model.booster.num_boosted_rounds()  # rounds after the best exist
    dumps = model.booster.get_dump(with_stats=True, dump_format="json")
    got = gain_by_group(model, GROUPS)
    assert got == pytest.approx(_shares(_xgb_gains(dumps[: model.best_iteration])), rel=1e-5)
    assert got["semantic"] != pytest.approx(_shares(_xgb_gains(dumps))["semantic"], rel=1e-5)  # all rounds differ


def test_lightgbm_gain_share_counts_only_the_kept_rounds():
    full = _train("lightgbm", rounds=40)
    model = dataclasses.replace(full, best_iteration=4)  # as if validation had kept 4 of 40 rounds
    names = model.booster.dump_model()["feature_names"]
    gains: dict[str, float] = {}

    def walk(node):
        if "split_feature" in node:
            f = names[node["split_feature"]]
            gains[f] = gains.get(f, 0.0) + node["split_gain"]
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in model.booster.dump_model()["tree_info"][: model.best_iteration]:
        walk(tree["tree_structure"])
    got = gain_by_group(model, GROUPS)
    assert got == pytest.approx(_shares(gains), rel=1e-5)
    assert got["doc"] != pytest.approx(gain_by_group(full, GROUPS)["doc"], rel=1e-5)
