"""Bucket views over a per-query frame: one code path, NaN queries excluded and counted."""

from __future__ import annotations

import math

import polars as pl
import pytest

from gbltr.errors import SchemaError
from gbltr.evaluate.metrics import per_query_frame
from gbltr.evaluate.views import long_views, summarise, view_order

PER_QUERY = pl.DataFrame(
    {
        "query_id": ["q1", "q2", "q3", "q4", "q5"],
        "ndcg@10": [1.0, 0.5, float("nan"), 0.0, 0.25],
        "ndcg@1": [1.0, 0.0, float("nan"), 0.0, 1.0],
    }
)
STATS = pl.DataFrame(
    {"query_id": ["q1", "q2", "q3", "q4", "q5"], "bucket": ["high", "high", "low", "low", "medium"]}
)


def test_summarise_with_query_stats_join():
    out = summarise(PER_QUERY, STATS, metrics=["ndcg@10", "ndcg@1"])
    assert list(out) == ["overall", "high", "medium", "low"]
    # overall: (1 + 0.5 + 0 + 0.25) / 4 over the 4 queries with a relevant document
    assert out["overall"]["ndcg@10"] == pytest.approx(1.75 / 4)
    assert out["overall"]["n_queries"] == 5 and out["overall"]["n_no_relevant"] == 1
    assert out["high"] == {"ndcg@10": 0.75, "ndcg@1": 0.5, "n_queries": 2, "n_no_relevant": 0, "n_single_grade": 0}
    assert out["low"] == {"ndcg@10": 0.0, "ndcg@1": 0.0, "n_queries": 2, "n_no_relevant": 1, "n_single_grade": 0}
    assert out["medium"]["ndcg@10"] == 0.25


def test_bucket_column_in_frame_equals_join():
    joined = PER_QUERY.join(STATS, on="query_id")
    assert summarise(joined) == summarise(PER_QUERY, STATS)


def test_views_are_one_code_path():
    # A bucket holding every query gives exactly the overall numbers.
    one = STATS.with_columns(pl.lit("high").alias("bucket"))
    out = summarise(PER_QUERY, one)
    assert {k: v for k, v in out["high"].items()} == out["overall"]
    long = long_views(PER_QUERY.join(STATS, on="query_id"))
    assert long.height == 10 and long.filter(pl.col("view") == "overall").height == 5


def test_no_buckets_only_overall_and_nulls_count_as_no_relevant():
    frame = pl.DataFrame({"query_id": ["a", "b"], "ndcg@10": [0.5, None]})
    out = summarise(frame)
    assert out == {"overall": {"ndcg@10": 0.5, "n_queries": 2, "n_no_relevant": 1, "n_single_grade": 0}}


def test_view_order_and_errors():
    assert view_order(["low", "zz", "high", "overall"]) == ["overall", "high", "low", "zz"]
    with pytest.raises(SchemaError, match="metric column"):
        summarise(PER_QUERY, metrics=["ndcg@7"])
    with pytest.raises(SchemaError, match="query statistics"):
        summarise(PER_QUERY, STATS.rename({"bucket": "freq"}))


def test_end_to_end_from_scored_candidates():
    frame = pl.DataFrame(
        {
            "query_id": ["a", "a", "b", "b"],
            "doc_id": ["1", "2", "1", "2"],
            "rank": [1, 2, 1, 2],
            "score": [0.1, 0.9, 0.5, 0.4],
            "label": [2.0, 0.0, 0.0, 0.0],
        }
    )
    pq = per_query_frame(frame, ks=(10,))
    out = summarise(pq, pl.DataFrame({"query_id": ["a", "b"], "bucket": ["high", "low"]}))
    # a: label-2 doc at rank 2 -> (3 / log2 3) / 3
    assert out["overall"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert out["low"]["ndcg@10"] is None and out["low"]["n_no_relevant"] == 1
