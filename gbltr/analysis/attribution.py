"""What a fitted ranker uses, per feature group and frequency bucket, on the test queries.

Three measures, all per label source (the model trained on it) and per view (overall and each
frequency bucket of :mod:`gbltr.buckets`):

``shap_share``
    TreeSHAP (Lundberg et al. 2020, "From local explanations to global understanding with
    explainable AI for trees", Nature MI) from the backends themselves (LightGBM
    ``pred_contrib``, XGBoost ``pred_contribs``, :meth:`gbltr.train.model.FittedRanker.contributions`):
    a feature's mean ``|phi|`` over the view's test rows divided by the sum over all features;
    a group's share is the sum of its features'. ``shap_share_within`` does the same after
    centring each feature's contributions within each query: a ranker is scored only on the
    order within a query, so a contribution that shifts a whole list (a query-level feature)
    counts there only through what it changes between the query's documents.
``permutation``
    Permutation importance (Breiman 2001; Fisher, Rudin & Dominici 2019) in nDCG@k: the group's
    columns are permuted jointly across all test rows (one seeded permutation per repeat, the
    same for every column of the group, so within-group correlations stay), the test queries are
    re-scored, and the per-query change (permuted - original, mean over repeats) is tested
    against the original with :func:`gbltr.evaluate.significance.paired_by_view`.
``gain_share``
    Share of the kept rounds' total split gain (LightGBM ``feature_importance("gain")`` up to
    ``best_iteration``; XGBoost ``total_gain`` of the booster cut at ``best_iteration``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gbltr.buckets import OVERALL
from gbltr.evaluate.metrics import ndcg_per_query
from gbltr.evaluate.significance import ViewTest, paired_by_view
from gbltr.evaluate.views import view_order
from gbltr.train.dataset import RankingDataset
from gbltr.train.model import FittedRanker

UNPERMUTED = "(none)"


def gain_by_group(model: FittedRanker, groups: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Share of the kept rounds' total split gain per feature group (0 for every group when the
    model made no split)."""
    gains = model.split_gains()
    total = float(sum(gains.values()))
    if total <= 0:
        return {g: 0.0 for g in groups}
    return {g: float(sum(gains.get(f, 0.0) for f in names) / total) for g, names in groups.items()}


def _row_views(ds: RankingDataset) -> dict[str, np.ndarray]:
    """View name -> boolean row mask: overall, then each bucket present."""
    rows = {OVERALL: np.ones(ds.n_rows, bool)}
    if ds.bucket is not None:
        row_bucket = np.repeat(ds.bucket, ds.group_sizes)
        for b in view_order(set(ds.bucket.tolist()))[1:]:
            rows[b] = row_bucket == b
    return rows


def shap_shares(model: FittedRanker, ds: RankingDataset, groups: dict[str, tuple[str, ...]]) -> pl.DataFrame:
    """TreeSHAP shares per feature and view.

    Returns view, feature, group (None for a feature in no listed group), n_rows, mean_abs,
    shap_share, shap_share_within (see the module docstring); rows in view order, then
    feature order.
    """
    phi = model.contributions(ds.X)[:, :-1]
    q = ds.row_query()
    sums = np.zeros((ds.n_queries, phi.shape[1]))
    np.add.at(sums, q, phi)
    within = phi - (sums / np.maximum(ds.group_sizes, 1)[:, None])[q]
    group_of = {f: g for g, names in groups.items() for f in names}
    rows = []
    for view, mask in _row_views(ds).items():
        a = np.abs(phi[mask]).mean(axis=0) if mask.any() else np.zeros(phi.shape[1])
        w = np.abs(within[mask]).mean(axis=0) if mask.any() else np.zeros(phi.shape[1])
        ta, tw = a.sum(), w.sum()
        for i, f in enumerate(ds.feature_names):
            rows.append({"view": view, "feature": f, "group": group_of.get(f), "n_rows": int(mask.sum()),
                         "mean_abs": float(a[i]), "shap_share": float(a[i] / ta) if ta > 0 else 0.0,
                         "shap_share_within": float(w[i] / tw) if tw > 0 else 0.0})
    return pl.DataFrame(rows, schema_overrides={"group": pl.String})


def group_shares(features: pl.DataFrame) -> pl.DataFrame:
    """:func:`shap_shares` summed per (view, group): view, group, shap_share, shap_share_within."""
    return (features.filter(pl.col("group").is_not_null())
            .group_by("view", "group", maintain_order=True)
            .agg(pl.col("shap_share").sum(), pl.col("shap_share_within").sum()))


@dataclass(frozen=True)
class PermutationImportance:
    """Per-query nDCG@k with each group permuted, and the tests against the unpermuted model.

    ``per_query``: query_id, bucket, permuted (group name, or ``(none)``), ndcg (mean over repeats).
    ``tests``: one :class:`ViewTest` per (view, group); ``delta`` = permuted - original.
    """

    per_query: pl.DataFrame
    tests: tuple[ViewTest, ...]
    k: int
    repeats: int
    seed: int


def permutation_importance(
    model: FittedRanker, ds: RankingDataset, groups: dict[str, tuple[str, ...]], *, k: int = 10,
    repeats: int = 3, seed: int = 0, n_permutations: int = 2000,
) -> PermutationImportance:
    """Permute each group's columns jointly across the rows of ``ds`` (its human labels score)."""
    y = ds.labels["human"]
    col = {f: i for i, f in enumerate(ds.feature_names)}
    base = ndcg_per_query(model.predict(ds.X), y, ds.group_ptr, ks=(k,))[:, 0]
    frames = [pl.DataFrame({"query_id": ds.query_ids.astype(str), "permuted": UNPERMUTED, "ndcg": base})]
    rng = np.random.default_rng(seed)
    for g, names in groups.items():
        cols = [col[f] for f in names if f in col]
        total = np.zeros(ds.n_queries)
        for _ in range(repeats):
            perm = rng.permutation(ds.n_rows)
            X = ds.X.copy()
            X[:, cols] = ds.X[perm][:, cols]
            total += ndcg_per_query(model.predict(X), y, ds.group_ptr, ks=(k,))[:, 0]
        frames.append(pl.DataFrame({"query_id": ds.query_ids.astype(str), "permuted": g, "ndcg": total / repeats}))
    per_query = pl.concat(frames)
    if ds.bucket is not None:
        bucket = pl.DataFrame({"query_id": ds.query_ids.astype(str), "bucket": ds.bucket})
        per_query = per_query.join(bucket, on="query_id", how="left")
    tests = paired_by_view(per_query, system="permuted", baseline=UNPERMUTED, metric="ndcg",
                           n_permutations=n_permutations, seed=seed)
    return PermutationImportance(per_query, tuple(tests), k, repeats, seed)
