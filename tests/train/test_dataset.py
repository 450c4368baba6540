"""The ranking dataset: sorting, groups, labels per source, and the documented edge cases."""

import numpy as np
import polars as pl
import pytest

from gbltr.errors import DataError, SchemaError
from gbltr.evaluate.metrics import ndcg_per_query
from gbltr.train.dataset import RankingDataset

FEATS = pl.DataFrame({
    "query_id": ["q2", "q1", "q1", "q1", "q3"],
    "doc_id": ["c", "b", "a", "d", "e"],
    "f": [5.0, 2.0, 1.0, 3.0, 4.0],
})
CANDS = pl.DataFrame({"query_id": ["q1", "q1", "q1", "q2", "q3"], "doc_id": ["a", "b", "d", "c", "e"],
                      "rank": [2, 1, 3, 1, 1]})


def labels(rows):
    return pl.DataFrame(rows, schema=["query_id", "doc_id", "label"], orient="row")


def test_rows_sorted_by_query_then_first_stage_rank():
    ds = RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1", "q2", "q3"]))
    assert ds.doc_ids.tolist() == ["b", "a", "d", "c", "e"]
    assert ds.group_ptr.tolist() == [0, 3, 4, 5]
    assert ds.X[:, 0].tolist() == [2.0, 1.0, 3.0, 5.0, 4.0]


def test_single_document_queries_are_kept_and_counted():
    ds = RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1", "q2", "q3"]))
    assert ds.notes["single_document_queries"] == 2


def test_missing_labels_are_nan_and_grades_minus_one():
    ds = RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1"]), {"llm": labels([("q1", "a", 2.0)])})
    assert np.isnan(ds.labels["llm"]).sum() == 2
    assert ds.grades("llm").tolist() == [-1, 2, -1]
    only = ds.labelled_by("llm")
    assert only.n_rows == 1 and only.doc_ids.tolist() == ["a"]


def test_label_rows_without_features_are_an_error():
    with pytest.raises(SchemaError, match=r"1 \(query_id, doc_id\) pair\(s\) have no features, e.g. \('q1', 'zzz'\)"):
        RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1"]), {"human": labels([("q1", "zzz", 1.0)])})


def test_unjudged_rows_leave_evaluation_and_are_counted():
    ds = RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1", "q2"]),
                              {"human": labels([("q1", "a", 1.0), ("q1", "b", 0.0)])}, require_labels="human")
    assert ds.n_rows == 2 and ds.notes["unjudged_rows_removed"] == 2 and ds.query_ids.tolist() == ["q1"]


def test_all_zero_queries_give_no_metric_and_no_rows_is_an_error():
    ds = RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1"]),
                              {"human": labels([("q1", "a", 0.0), ("q1", "b", 0.0), ("q1", "d", 0.0)])})
    assert np.isnan(ndcg_per_query(ds.X[:, 0], ds.labels["human"], ds.group_ptr, ks=(10,))).all()
    with pytest.raises(DataError, match="no rows for"):
        RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["nope"]))


def test_nan_features_are_an_error():
    bad = FEATS.with_columns(pl.when(pl.col("doc_id") == "a").then(float("nan")).otherwise(pl.col("f")).alias("f"))
    with pytest.raises(SchemaError, match=r"NaN/inf in \{'f': 1\}"):
        RankingDataset.build(bad, ["f"], CANDS, pl.Series(["q1"]))


def test_stacked_copies_and_weights():
    ds = RankingDataset.build(FEATS, ["f"], CANDS, pl.Series(["q1", "q2"]),
                              {"click": labels([("q1", "a", 1.0), ("q1", "b", 0.0), ("q1", "d", 0.0), ("q2", "c", 1.0)]),
                               "llm": labels([("q1", "a", 2.0), ("q1", "b", 3.0)])})
    st = ds.stacked("click", "llm", np.array([0.9, 0.2]), np.array([0.1, 0.8]))
    # click copies of q1 (3 rows) and q2 (1 row), then the LLM copy of q1 (2 labelled rows)
    assert st.data.group_sizes.tolist() == [3, 1, 2]
    assert st.group_weight.tolist() == [0.9, 0.2, 0.1]
    assert st.row_weight.tolist() == [0.9] * 3 + [0.2] + [0.1] * 2
    assert st.data.labels["stacked"].tolist() == [0.0, 1.0, 0.0, 1.0, 3.0, 2.0]


def test_group_pointers_from_sizes_and_ids_agree_and_are_checked():
    """gbltr.groups is the one place that builds group_ptr (by hand: sizes 2, 0, 3)."""
    from gbltr.errors import SchemaError
    from gbltr.groups import check_group_ptr, group_ptr_from_ids, group_ptr_from_sizes

    assert group_ptr_from_sizes([2, 0, 3]).tolist() == [0, 2, 2, 5]
    assert group_ptr_from_sizes([2, 0, 3]).dtype == np.int64
    assert group_ptr_from_ids(np.array(["a", "a", "b", "b", "b"])).tolist() == [0, 2, 5]
    assert group_ptr_from_ids(np.array([], dtype=str)).tolist() == [0, 0]
    with pytest.raises(SchemaError, match="non-decreasing"):
        check_group_ptr([0, 3, 2, 5], 5)
