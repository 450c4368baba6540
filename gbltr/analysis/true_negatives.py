"""True negatives: documents from other queries added to each test list (the seed paper's F4).

For each test query, ``k`` documents are drawn (seeded, without replacement) from the candidates
of other queries, skipping the query's own candidates. They are labelled 0 (a document
retrieved for another query is taken as irrelevant) and featurised through the same feature
builder as every candidate (:func:`gbltr.pipeline.pair_features`): query-document features
(BM25, match) are computed for the new (query, document) pair, never copied from the row of
the query the document came from. Each model then ranks the enlarged lists.

A ranker that learnt query-independent signals (authority, popularity) from clicks puts
authoritative but off-topic documents high; one that learnt semantic matching from LLM labels
keeps them down. Reported per label source and view: the share of queries with a true negative
at rank 1, in the top 3 and in the top 10, the mean number of true negatives in the top 10, and
the change in nDCG@10 (the enlarged list against the original, paired per query; the ideal DCG
is unchanged since the added documents have gain 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gbltr.data.store import SearchDataset
from gbltr.errors import ConfigError, DataError
from gbltr.evaluate.metrics import ndcg_per_query
from gbltr.evaluate.significance import ViewTest, paired_by_view
from gbltr.evaluate.views import long_views, view_order
from gbltr.groups import group_ptr_from_sizes
from gbltr.pipeline import Prepared, pair_features
from gbltr.train.dataset import RankingDataset
from gbltr.train.model import FittedRanker

TOPS = (1, 3, 10)
ORIGINAL, ENLARGED = "original", "with true negatives"


def draw_negatives(ds: SearchDataset, query_ids, k: int, seed: int) -> pl.DataFrame:
    """``k`` documents per query from other queries' candidates: query_id, doc_id (seeded)."""
    if k < 1:
        raise ConfigError(f"--true-negatives {k}: expected a number of documents >= 1")
    cands = ds.candidates.select("query_id", "doc_id")
    pool = np.sort(cands["doc_id"].unique().to_numpy())
    own = {q: set(d) for q, d in cands.group_by("query_id").agg("doc_id").iter_rows()}
    rng = np.random.default_rng(seed)
    qs, docs = [], []
    for q in sorted(str(x) for x in query_ids):
        mine = own.get(q, set())
        if pool.size - len(mine) < k:
            raise DataError(
                f"true negatives: query {q!r} has {len(mine)} candidates and the collection {pool.size} "
                f"candidate documents; expected at least {k} documents from other queries"
            )
        picked: list = []
        while len(picked) < k:
            for d in rng.choice(pool, size=2 * k, replace=False if pool.size >= 2 * k else True):
                if d not in mine and d not in picked:
                    picked.append(d)
                    if len(picked) == k:
                        break
        qs += [q] * k
        docs += picked
    return pl.DataFrame({"query_id": qs, "doc_id": docs}, schema={"query_id": pl.String, "doc_id": pl.String})


def enlarge(test: RankingDataset, neg_X: np.ndarray, k: int) -> tuple[RankingDataset, np.ndarray]:
    """Append ``k`` rows per query (``neg_X`` [n_queries * k, n_features], queries in
    ``test.query_ids`` order) after each query's rows, labelled 0 for every label source.
    Returns the enlarged dataset and the mask of added rows."""
    sizes = test.group_sizes
    new_sizes = sizes + k
    ptr = group_ptr_from_sizes(new_sizes)
    pos = np.arange(ptr[-1]) - np.repeat(ptr[:-1], new_sizes)
    is_neg = pos >= np.repeat(sizes, new_sizes)
    X = np.empty((ptr[-1], test.X.shape[1]), dtype=test.X.dtype)
    X[~is_neg] = test.X
    X[is_neg] = neg_X
    labels = {}
    for s, y in test.labels.items():
        out = np.zeros(ptr[-1])
        out[~is_neg] = y
        labels[s] = out
    doc_ids = np.empty(ptr[-1], dtype=object)
    doc_ids[~is_neg] = test.doc_ids
    enlarged = RankingDataset(X=X, feature_names=test.feature_names, query_ids=test.query_ids, doc_ids=doc_ids,
                              group_ptr=ptr, labels=labels, frequency=test.frequency, bucket=test.bucket)
    return enlarged, is_neg


def _best_negative_rank(scores: np.ndarray, group_ptr: np.ndarray, is_neg: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query: the 1-based rank of the highest true negative, and how many are in the top ``top``.
    Ties keep row order (originals first), as :func:`gbltr.evaluate.metrics.ndcg_per_query` does."""
    n_q = group_ptr.size - 1
    best = np.empty(n_q, np.int64)
    count = np.empty(n_q, np.int64)
    for q in range(n_q):
        s, e = group_ptr[q], group_ptr[q + 1]
        order = np.argsort(-scores[s:e], kind="stable")
        ranks = np.flatnonzero(is_neg[s:e][order]) + 1
        best[q] = ranks.min()
        count[q] = int((ranks <= top).sum())
    return best, count


@dataclass(frozen=True)
class TrueNegatives:
    """Per-query results and per-view summary of the true-negative analysis.

    ``per_query``: labels, query_id, bucket, best_negative_rank, negatives_in_top10,
    ndcg_original, ndcg_enlarged. ``summary``: labels, view, n_queries, reach@1, reach@3,
    reach@10 (share of queries with a true negative at that depth), negatives_in_top10 (mean).
    ``tests``: labels -> the :class:`ViewTest` per view of nDCG@k enlarged against original.
    """

    per_query: pl.DataFrame
    summary: pl.DataFrame
    tests: dict[str, tuple[ViewTest, ...]]
    k: int
    metric_k: int
    seed: int


def negative_features(prep: Prepared, ds: SearchDataset, k: int, seed: int) -> pl.DataFrame:
    """The drawn negatives of the test queries with their features: query_id, doc_id, then
    ``prep.feature_names``; ``k`` rows per query in ``prep.test.query_ids`` order."""
    test = prep.test
    pairs = draw_negatives(ds, test.query_ids, k, seed)
    feats = pair_features(prep.config, ds, prep.stats, pairs)
    missing = [f for f in prep.feature_names if f not in feats.features]
    if missing:
        raise DataError(f"true negatives: features {missing} of the prepared data were not computed for the new pairs")
    order = pl.DataFrame({"query_id": test.query_ids.astype(str)}).with_row_index("_q")
    neg = pairs.with_row_index("_i").join(order, on="query_id").join(feats.frame, on=["query_id", "doc_id"], how="left")
    return neg.sort("_q", "_i").select("query_id", "doc_id", *prep.feature_names)


def true_negatives(prep: Prepared, models: dict[str, FittedRanker], k: int, *, ds: SearchDataset,
                   seed: int = 0, metric_k: int = 10, n_permutations: int = 2000) -> TrueNegatives:
    """Add ``k`` true negatives to each test list of ``prep`` and rank them with each model."""
    test = prep.test
    neg = negative_features(prep, ds, k, seed)
    enlarged, is_neg = enlarge(test, neg.select(prep.feature_names).to_numpy().astype(test.X.dtype), k)
    frames, tests = [], {}
    for lab, model in models.items():
        features = model.feature_names or prep.feature_names
        cols = [prep.feature_names.index(f) for f in features]
        orig = ndcg_per_query(model.predict(test.X[:, cols]), test.labels["human"], test.group_ptr, ks=(metric_k,))[:, 0]
        scores = model.predict(enlarged.X[:, cols])
        big = ndcg_per_query(scores, enlarged.labels["human"], enlarged.group_ptr, ks=(metric_k,))[:, 0]
        best, count = _best_negative_rank(scores, enlarged.group_ptr, is_neg, max(TOPS))
        frames.append(pl.DataFrame({"labels": lab, "query_id": test.query_ids.astype(str),
                                    "bucket": test.bucket if test.bucket is not None else None,
                                    "best_negative_rank": best, f"negatives_in_top{max(TOPS)}": count,
                                    "ndcg_original": orig, "ndcg_enlarged": big}))
        long = pl.concat([
            frames[-1].select("query_id", "bucket", pl.lit(ORIGINAL).alias("list"), pl.col("ndcg_original").alias("ndcg")),
            frames[-1].select("query_id", "bucket", pl.lit(ENLARGED).alias("list"), pl.col("ndcg_enlarged").alias("ndcg")),
        ])
        tests[lab] = tuple(paired_by_view(long, system="list", baseline=ORIGINAL, metric="ndcg",
                                          n_permutations=n_permutations, seed=seed))
    per_query = pl.concat(frames, how="vertical_relaxed")
    views = long_views(per_query)
    summary = (views.group_by("labels", "view", maintain_order=True)
               .agg(pl.len().alias("n_queries"),
                    *[(pl.col("best_negative_rank") <= t).mean().alias(f"reach@{t}") for t in TOPS],
                    pl.col(f"negatives_in_top{max(TOPS)}").mean().alias(f"negatives_in_top{max(TOPS)}")))
    order_views = {v: i for i, v in enumerate(view_order(summary["view"].unique().to_list()))}
    order_labels = {lab: i for i, lab in enumerate(models)}
    summary = summary.sort(pl.col("labels").replace_strict(order_labels), pl.col("view").replace_strict(order_views))
    return TrueNegatives(per_query, summary, tests, k, metric_k, seed)
