"""Per-query nDCG: hand-computed values, the project's convention, and ir-measures agreement."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.evaluate.metrics import (
    NO_RELEVANT,
    SCORED,
    SINGLE_GRADE,
    group_ptr_of,
    ndcg_per_query,
    per_query_frame,
    query_status,
)

# One query, rows in first-stage order a, b, c with labels 1, 0, 2 and scores 0.5, 0.9, 0.1.
# Ranked by score: b (label 0), a (label 1), c (label 2).
# Exponential gains 2^rel - 1: b 0, a 1, c 3; discounts 1/log2(2)=1, 1/log2(3)=0.6309298, 1/log2(4)=0.5.
#   DCG@1 = 0                               IDCG@1 = 3                      -> nDCG@1 = 0
#   DCG@2 = 0 + 1*0.6309298 = 0.6309298      IDCG@2 = 3 + 1*0.6309298 = 3.6309298 -> 0.1737649
#   DCG@3 = 0.6309298 + 3*0.5 = 2.1309298    IDCG@3 = 3.6309298 + 0 = 3.6309298  -> 0.5868827
# Linear gains rel: b 0, a 1, c 2.
#   DCG@3 = 0.6309298 + 2*0.5 = 1.6309298    IDCG@3 = 2 + 0.6309298 = 2.6309298   -> 0.6199062
HAND_SCORES = [0.5, 0.9, 0.1]
HAND_LABELS = [1, 0, 2]
HAND_PTR = np.array([0, 3])


def test_hand_computed_exponential():
    got = ndcg_per_query(HAND_SCORES, HAND_LABELS, HAND_PTR, ks=(1, 2, 3, 10))
    d3 = 1 / math.log2(3)
    assert got.shape == (1, 4)
    np.testing.assert_allclose(
        got[0], [0.0, d3 / (3 + d3), (d3 + 1.5) / (3 + d3), (d3 + 1.5) / (3 + d3)], rtol=1e-12
    )
    assert got[0, 2] == pytest.approx(0.5868827, abs=1e-7)


def test_hand_computed_linear():
    got = ndcg_per_query(HAND_SCORES, HAND_LABELS, HAND_PTR, ks=(3,), gain="linear")
    assert got[0, 0] == pytest.approx(0.6199062, abs=1e-7)


def test_negative_and_missing_labels_count_as_zero():
    base = ndcg_per_query([0.9, 0.5, 0.1], [0, 1, 2], np.array([0, 3]), ks=(3,))
    spam = ndcg_per_query([0.9, 0.5, 0.1], [-2, 1, 2], np.array([0, 3]), ks=(3,))
    unjudged = ndcg_per_query([0.9, 0.5, 0.1], [np.nan, 1, 2], np.array([0, 3]), ks=(3,))
    assert base[0, 0] < 1
    assert spam[0, 0] == base[0, 0] == unjudged[0, 0]


def test_ties_keep_row_order():
    # Equal scores: the row order decides, as a stable sort would.
    first_relevant = ndcg_per_query([1.0, 1.0], [1, 0], np.array([0, 2]), ks=(2,))
    second_relevant = ndcg_per_query([1.0, 1.0], [0, 1], np.array([0, 2]), ks=(2,))
    assert first_relevant[0, 0] == 1.0
    assert second_relevant[0, 0] == pytest.approx(1 / math.log2(3))


def test_per_query_frame_sorts_by_query_then_order_column():
    # Rows arrive scrambled; rank fixes the within-query order, so the tie goes to rank 1 (label 0).
    frame = pl.DataFrame(
        {
            "query_id": ["q2", "q1", "q1", "q2", "q1"],
            "doc_id": ["x", "c", "a", "y", "b"],
            "rank": [2, 3, 1, 1, 2],
            "score": [0.3, 0.1, 0.5, 0.3, 0.9],
            "label": [1.0, 2.0, 1.0, 0.0, 0.0],
        }
    )
    out = per_query_frame(frame, order_by="rank", ks=(1, 3))
    assert out.columns == ["query_id", "ndcg@1", "ndcg@3", "excluded"]
    assert out["excluded"].to_list() == [None, None]  # both queries have two grades
    assert out["query_id"].to_list() == ["q1", "q2"]
    assert out["ndcg@3"][0] == pytest.approx(0.5868827, abs=1e-7)  # the hand example above
    assert out["ndcg@1"][1] == 0.0  # tie: rank 1 (y, label 0) first
    assert out["ndcg@3"][1] == pytest.approx(1 / math.log2(3))
    assert frame["query_id"].to_list()[0] == "q2"  # input not modified


def test_all_zero_query_is_nan():
    out = ndcg_per_query([0.3, 0.2, 0.9, 0.1], [0, 0, 1, 0], np.array([0, 2, 4]), ks=(1, 10))
    assert np.isnan(out[0]).all()
    assert (out[1] == 1.0).all()


def test_empty_query_and_empty_input():
    out = ndcg_per_query([0.3, 0.2], [1, 0], np.array([0, 0, 2]), ks=(5,))
    assert np.isnan(out[0, 0]) and out[1, 0] == 1.0
    assert ndcg_per_query([], [], np.array([0]), ks=(5,)).shape == (0, 1)


def test_group_ptr_of():
    ptr = group_ptr_of(pl.Series(["a", "a", "b", "c", "c", "c"]))
    assert ptr.tolist() == [0, 2, 3, 6]
    assert ptr.dtype == np.int64


def test_bad_input_errors():
    with pytest.raises(SchemaError, match="group_ptr"):
        ndcg_per_query([0.1, 0.2], [1, 0], np.array([0, 1]))
    with pytest.raises(DataError, match="finite"):
        ndcg_per_query([np.nan, 0.2], [1, 0], np.array([0, 2]))
    with pytest.raises(ConfigError, match="choose one of: exponential, linear"):
        ndcg_per_query([0.1], [1], np.array([0, 1]), gain="exp")
    with pytest.raises(SchemaError, match="cutoffs"):
        ndcg_per_query([0.1], [1], np.array([0, 1]), ks=(0,))
    with pytest.raises(SchemaError, match="missing column"):
        per_query_frame(pl.DataFrame({"query_id": ["q"], "doc_id": ["d"], "score": [1.0], "label": [1.0]}))


def _random_queries(n_queries: int, seed: int, max_docs: int = 15):
    """Random graded labels 0-4 (some queries all zero) and tie-free scores."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_docs + 1, size=n_queries)
    n = int(sizes.sum())
    labels = rng.integers(0, 5, size=n).astype(float)
    ptr = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    zero = rng.random(n_queries) < 0.1
    for q in np.flatnonzero(zero):
        labels[ptr[q] : ptr[q + 1]] = 0
    scores = rng.permutation(n) / n  # distinct: trec_eval breaks ties by docno, we by row order
    return scores, labels, ptr


def _ir_measures(measure, scores, labels, ptr):
    import ir_measures

    qrels, run = {}, {}
    for q in range(ptr.size - 1):
        lo, hi = ptr[q], ptr[q + 1]
        qrels[f"q{q}"] = {f"d{i}": int(labels[lo + i]) for i in range(hi - lo)}
        run[f"q{q}"] = {f"d{i}": float(scores[lo + i]) for i in range(hi - lo)}
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run)}
    aggregate = ir_measures.calc_aggregate([measure], qrels, run)[measure]
    return np.array([per_query[f"q{q}"] for q in range(ptr.size - 1)]), aggregate


@pytest.mark.parametrize("k", [1, 3, 5, 10])
@pytest.mark.parametrize("gain", ["exponential", "linear"])
def test_matches_ir_measures(k, gain):
    pytest.importorskip("ir_measures")
    from ir_measures import nDCG

    scores, labels, ptr = _random_queries(300, seed=k)
    measure = nDCG(gains={0: 0, 1: 1, 2: 3, 3: 7, 4: 15}) @ k if gain == "exponential" else nDCG @ k
    theirs, their_mean = _ir_measures(measure, scores, labels, ptr)
    ours = ndcg_per_query(scores, labels, ptr, ks=(k,), gain=gain)[:, 0]
    status = query_status(labels, ptr)
    relevant = ~np.isnan(ours)
    assert (relevant == (status == SCORED)).all()
    assert 0 < (status == NO_RELEVANT).sum() < 60  # the example has all-zero queries
    assert 0 < (status == SINGLE_GRADE).sum() < 60  # and single-grade ones (one row, or all rows alike)
    np.testing.assert_allclose(ours[relevant], theirs[relevant], rtol=0, atol=1e-9)
    # All-zero queries: trec_eval scores them 0 and averages them in; single-grade queries score 1 under
    # any ranking. We give both NaN and exclude them.
    assert (theirs[status == NO_RELEVANT] == 0).all()
    assert (theirs[status == SINGLE_GRADE] == pytest.approx(1.0))
    assert their_mean == pytest.approx((np.nansum(ours) + (status == SINGLE_GRADE).sum()) / ours.size, abs=1e-9)


def test_large_groups_match_ir_measures():
    # Groups above 32 rows take the kernel's argsort path instead of the in-place insertion sort.
    pytest.importorskip("ir_measures")
    from ir_measures import nDCG

    scores, labels, ptr = _random_queries(40, seed=7, max_docs=120)
    assert np.diff(ptr).max() > 32
    theirs, _ = _ir_measures(nDCG(gains={0: 0, 1: 1, 2: 3, 3: 7, 4: 15}) @ 10, scores, labels, ptr)
    ours = ndcg_per_query(scores, labels, ptr, ks=(10,))[:, 0]
    relevant = ~np.isnan(ours)
    np.testing.assert_allclose(ours[relevant], theirs[relevant], rtol=0, atol=1e-9)


@pytest.mark.parametrize("n", [5, 40])
def test_all_ties_equal_row_order_ranking(n):
    # With every score equal, the ranking is the row order: nDCG equals that of strictly
    # decreasing scores in row order, in both the small-group and the large-group code path.
    labels = np.random.default_rng(n).integers(0, 5, size=n).astype(float)
    ptr = np.array([0, n])
    tied = ndcg_per_query(np.ones(n), labels, ptr, ks=(3, 10))
    ordered = ndcg_per_query(-np.arange(n, dtype=float), labels, ptr, ks=(3, 10))
    np.testing.assert_array_equal(tied, ordered)
