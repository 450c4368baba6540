"""True negatives: drawing documents of other queries and enlarging the test lists."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from gbltr.analysis.true_negatives import _best_negative_rank, draw_negatives, enlarge
from gbltr.errors import ConfigError, DataError
from gbltr.train.dataset import RankingDataset


def _ds(n_q=6, per=5):
    rows = [(f"q{q}", f"d{q}-{i}") for q in range(n_q) for i in range(per)]
    return SimpleNamespace(candidates=pl.DataFrame(rows, schema=["query_id", "doc_id"], orient="row"))


def test_negatives_come_from_other_queries_and_are_seeded():
    ds = _ds()
    neg = draw_negatives(ds, np.array(["q0", "q1", "q2"]), 4, seed=1)
    assert neg.height == 12 and neg.group_by("query_id").len()["len"].to_list() == [4, 4, 4]
    for q, d in neg.iter_rows():
        assert not d.startswith(q.replace("q", "d") + "-")  # never one of the query's own candidates
    assert neg.n_unique() == 12  # no document twice for a query
    assert neg.equals(draw_negatives(ds, np.array(["q2", "q1", "q0"]), 4, seed=1))
    assert not neg.equals(draw_negatives(ds, np.array(["q0", "q1", "q2"]), 4, seed=2))
    with pytest.raises(ConfigError, match=">= 1"):
        draw_negatives(ds, np.array(["q0"]), 0, seed=0)
    with pytest.raises(DataError, match="expected at least 40 documents from other queries"):
        draw_negatives(ds, np.array(["q0"]), 40, seed=0)


def test_enlarge_appends_zero_labelled_rows_after_each_query():
    X = np.arange(10, dtype=np.float32).reshape(5, 2)
    test = RankingDataset(X=X, feature_names=("a", "b"), query_ids=np.array(["q0", "q1"]),
                          doc_ids=np.array(list("abcde")), group_ptr=np.array([0, 2, 5]),
                          labels={"human": np.array([1.0, 0.0, 2.0, 1.0, 0.0])}, bucket=np.array(["high", "low"]))
    neg_X = -np.arange(8, dtype=np.float32).reshape(4, 2) - 1
    big, is_neg = enlarge(test, neg_X, 2)
    assert big.group_ptr.tolist() == [0, 4, 9]
    assert is_neg.tolist() == [False, False, True, True, False, False, False, True, True]
    np.testing.assert_array_equal(big.X[~is_neg], X)
    np.testing.assert_array_equal(big.X[is_neg], neg_X)
    assert big.labels["human"].tolist() == [1, 0, 0, 0, 2, 1, 0, 0, 0]
    scores = np.array([0.1, 0.5, 0.9, 0.0, 1, 1, 1, 1, 0])  # q0: a negative first; q1: tie keeps originals first
    best, count = _best_negative_rank(scores, big.group_ptr, is_neg, 3)
    assert best.tolist() == [1, 4] and count.tolist() == [1, 0]
