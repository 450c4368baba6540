"""Document- and query-level features: URL shape, authority, domain statistics, query frequency."""

from __future__ import annotations

import logging
import math

import polars as pl
import pytest

from gbltr.errors import DataError, SchemaError
from gbltr.features.document import document_features, url_depth
from gbltr.features.query import query_features


def test_url_depth_counts_path_segments_only():
    urls = ["https://a.org/x/y/?q=1/2", "http://a.org/", "a.org/p", "https://b.net", "/p/q#f/g", None, "ftp://h//x//"]
    got = pl.DataFrame({"u": urls}).select(url_depth(pl.col("u")))["u"].to_list()
    assert got == [2.0, 0.0, 1.0, 0.0, 2.0, 0.0, 1.0]


def test_null_inlinks_stay_null_and_domain_stats_skip_them():
    docs = pl.DataFrame(
        {
            "doc_id": ["a", "b", "c"],
            "title": ["x", "x y", ""],
            "body": ["", "b", "c c"],
            "url": ["u", "u", "u"],
            "inlinks": [0, None, 7],
            "pagerank": [0.1, 0.2, 0.3],
            "domain": ["d", "d", "e"],
        }
    )
    out = document_features(docs)
    assert out.omitted == {}
    f = out.frame.sort("doc_id")
    assert f["doc_inlinks_log1p"].to_list() == [0.0, None, math.log(8)]
    assert f["doc_domain_size"].to_list() == [2.0, 2.0, 1.0]
    assert f["doc_domain_inlinks_mean"].to_list() == [0.0, 0.0, math.log(8)]
    assert f["doc_domain_pagerank_mean"].to_list() == pytest.approx([0.15, 0.15, 0.3])
    assert f["doc_title_len"].to_list() == [1.0, 2.0, 0.0]


def test_missing_domain_only_omits_domain_features(caplog):
    docs = pl.DataFrame({"doc_id": ["a"], "title": ["t"], "body": ["b"], "url": ["u"], "inlinks": [1]})
    with caplog.at_level(logging.WARNING, logger="gbltr.features"):
        out = document_features(docs)
    assert set(out.omitted) == {"doc_pagerank", "doc_domain_size", "doc_domain_inlinks_mean", "doc_domain_pagerank_mean"}
    assert "doc_inlinks_log1p" in out.frame.columns
    assert "omitted" in caplog.text and "domain" in caplog.text


def test_query_frequency_from_training_stats():
    queries = pl.DataFrame({"query_id": ["q1", "q2"], "text": ["a b a", ""]})
    out = query_features(queries, pl.DataFrame({"query_id": ["q1", "zz"], "frequency": [3, 5]}))
    f = out.frame.sort("query_id")
    assert f["query_len"].to_list() == [3.0, 0.0]
    assert f["query_freq_log1p"].to_list() == [math.log(4), 0.0]  # q2 absent from the log -> 0


def test_bad_query_stats():
    queries = pl.DataFrame({"query_id": ["q1"], "text": ["a"]})
    with pytest.raises(DataError, match="negative frequency"):
        query_features(queries, pl.DataFrame({"query_id": ["q1"], "frequency": [-1]}))
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'frequency'"):
        query_features(queries, pl.DataFrame({"query_id": ["q1"], "freq": [1]}))
