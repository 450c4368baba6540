"""build_features: one sorted row per pair, catalogue columns, finite values, clear input errors."""

from __future__ import annotations

import logging
import math

import polars as pl
import pytest

from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.features.build import build_features
from gbltr.features.catalogue import load_catalogue, parse_catalogue


def _inputs(with_optional: bool = True):
    queries = pl.DataFrame({"query_id": ["q2", "q1", "q3"], "text": ["new york", "t1 t9", "zzz"]})
    documents = pl.DataFrame(
        {
            "doc_id": ["d3", "d1", "d2", "d4"],
            "title": ["New York Times", "t1", "", None],
            "body": ["the new york city", "t1 t9 t9 t7", "t7 t8", ""],
            "url": ["https://nyt.com/a/b/c.html?x=1", "http://a.org/", "a.org/p", "https://b.net/x/"],
            "inlinks": [10, 0, 3, None],
            "pagerank": [0.5, 0.1, 0.2, 0.3],
            "domain": ["nyt.com", "a.org", "a.org", "b.net"],
        }
    )
    if not with_optional:
        documents = documents.drop("inlinks", "pagerank", "domain")
    # deliberately unsorted
    pairs = pl.DataFrame(
        {
            "query_id": ["q2", "q1", "q2", "q1", "q3", "q1"],
            "doc_id": ["d3", "d2", "d1", "d1", "d4", "d4"],
        }
    )
    stats = pl.DataFrame({"query_id": ["q1", "q2"], "frequency": [9, 0]})
    return queries, documents, pairs, stats


def test_columns_follow_catalogue_and_rows_are_sorted_pairs():
    queries, documents, pairs, stats = _inputs()
    table = build_features(queries, documents, pairs, stats)
    cat = load_catalogue()
    assert table.features == cat.names
    assert table.frame.columns == ["query_id", "doc_id", *cat.names]
    assert table.frame.height == pairs.height
    keys = table.frame.select("query_id", "doc_id")
    assert keys.equals(pairs.sort("query_id", "doc_id"))
    assert table.groups["bm25_body"] == ("query_document", "bm25")
    assert dict(table.omitted) == {}
    row = table.frame.filter(pl.col("doc_id") == "d3").row(0, named=True)
    assert row["doc_url_depth"] == 3.0  # /a/b/c.html
    assert row["exact_title"] == 1.0 and row["exact_body"] == 1.0
    assert row["doc_domain_size"] == 1.0
    q1 = table.frame.filter(pl.col("query_id") == "q1")
    assert q1["query_freq_log1p"].to_list() == [math.log(10.0)] * 3
    assert table.frame.filter(pl.col("query_id") == "q3")["query_freq_log1p"].to_list() == [0.0]  # absent -> 0
    a_org = table.frame.filter(pl.col("doc_id") == "d2").row(0, named=True)
    assert a_org["doc_domain_size"] == 2.0
    assert a_org["doc_domain_inlinks_mean"] == pytest.approx((math.log1p(0) + math.log1p(3)) / 2)


def test_missing_optional_columns_omit_features_with_a_notice(caplog):
    queries, documents, pairs, _ = _inputs(with_optional=False)
    with caplog.at_level(logging.WARNING, logger="gbltr.features"):
        table = build_features(queries, documents, pairs)  # no query_stats either
    omitted = {
        "doc_inlinks_log1p",
        "doc_pagerank",
        "doc_domain_size",
        "doc_domain_inlinks_mean",
        "doc_domain_pagerank_mean",
        "query_freq_log1p",
    }
    assert set(table.omitted) == omitted
    assert not omitted & set(table.frame.columns)
    assert table.features == tuple(n for n in load_catalogue().names if n not in omitted)
    text = caplog.text
    assert "inlinks" in text and "pagerank" in text and "domain" in text and "query_stats" in text


def test_pair_with_unknown_document_names_count_and_example():
    queries, documents, pairs, stats = _inputs()
    pairs = pl.concat([pairs, pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["ghost", "ghost"]})])
    with pytest.raises(DataError, match=r"2 of 8 pair\(s\) name 1 doc_id\(s\) absent from the documents.*ghost"):
        build_features(queries, documents, pairs, stats)


def test_pair_with_unknown_query():
    queries, documents, pairs, stats = _inputs()
    pairs = pl.concat([pairs, pl.DataFrame({"query_id": ["q404"], "doc_id": ["d1"]})])
    with pytest.raises(DataError, match=r"absent from the queries table.*q404"):
        build_features(queries, documents, pairs, stats)


def test_nan_feature_is_an_error():
    queries, documents, pairs, stats = _inputs()
    documents = documents.with_columns(pagerank=pl.Series([0.5, float("nan"), 0.2, 0.3]))
    with pytest.raises(DataError, match=r"NaN/inf in .*doc_pagerank"):
        build_features(queries, documents, pairs, stats)


def test_duplicate_pairs_are_a_schema_error():
    queries, documents, pairs, stats = _inputs()
    with pytest.raises(SchemaError, match="duplicate key"):
        build_features(queries, documents, pl.concat([pairs, pairs.head(1)]), stats)


def _catalogue_without(name: str):
    import importlib.resources
    import tomllib

    data = tomllib.loads((importlib.resources.files("gbltr.catalogue") / "catalogue.toml").read_text())
    data["feature"] = [f for f in data["feature"] if f["name"] != name]
    return parse_catalogue(data), data


def test_computed_feature_missing_from_catalogue_is_an_error():
    queries, documents, pairs, stats = _inputs()
    cat, _ = _catalogue_without("bm25_body")
    with pytest.raises(SchemaError, match=r"\['bm25_body'\] are computed but not in the feature catalogue"):
        build_features(queries, documents, pairs, stats, catalogue=cat)


def test_catalogued_feature_not_computed_is_an_error():
    queries, documents, pairs, stats = _inputs()
    _, data = _catalogue_without("nothing")
    data["feature"].append(
        {"name": "bm25_url", "group": "query_document", "subgroup": "bm25", "description": "not implemented"}
    )
    with pytest.raises(SchemaError, match=r"\['bm25_url'\] are not computed"):
        build_features(queries, documents, pairs, stats, catalogue=parse_catalogue(data))


def test_select_groups_for_ablation():
    queries, documents, pairs, stats = _inputs()
    table = build_features(queries, documents, pairs, stats)
    no_text = table.select_groups(drop=["query_document"])
    assert all(table.groups[n][0] != "query_document" for n in no_text.features)
    assert no_text.frame.columns == ["query_id", "doc_id", *no_text.features]
    no_lm = table.select_groups(drop=["lm", "url"])
    assert set(table.features) - set(no_lm.features) == {
        "lm_dir_title", "lm_dir_body", "lm_jm_title", "lm_jm_body", "doc_url_len", "doc_url_depth"
    }
    only_bm25 = table.select_groups(keep=["bm25"])
    assert only_bm25.features == ("bm25_title", "bm25_body")
    with pytest.raises(ConfigError, match="choose one of"):
        table.select_groups(drop=["bm52"])
    with pytest.raises(DataError, match="leaves no feature"):
        table.select_groups(drop=["document", "query", "query_document"])


def test_inputs_are_not_mutated_and_integer_ids_are_cast():
    queries, documents, pairs, stats = _inputs()
    before = documents.clone()
    q = pl.DataFrame({"query_id": [1], "text": ["t1"]})
    p = pl.DataFrame({"query_id": [1], "doc_id": ["d1"]})
    table = build_features(q, documents, p)
    assert table.frame["query_id"].to_list() == ["1"]
    assert documents.equals(before)
