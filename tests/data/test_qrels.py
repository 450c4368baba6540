"""TREC qrels reader/writer and labels Parquet reader."""

from __future__ import annotations

import polars as pl
import pytest

from gbltr.data.qrels import read_qrels, write_qrels
from gbltr.errors import ConfigError, InputError, ParseError, SchemaError

QRELS = "q1 0 d1 2\nq1 0 d2 0\n\nq2\t0\td1   -2\nq2 0 d3 1.5\n"


def write(tmp_path, text, name="qrels.txt"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_read_by_hand(tmp_path):
    df = read_qrels(write(tmp_path, QRELS), source="human")
    assert df.schema == pl.Schema(
        {"query_id": pl.String, "doc_id": pl.String, "label": pl.Float64, "source": pl.String}
    )
    assert df.rows() == [
        ("q1", "d1", 2.0, "human"), ("q1", "d2", 0.0, "human"),
        ("q2", "d1", -2.0, "human"), ("q2", "d3", 1.5, "human"),
    ]
    assert read_qrels(tmp_path / "qrels.txt", source="llm")["source"].unique().to_list() == ["llm"]


def test_round_trip(tmp_path):
    df = read_qrels(write(tmp_path, QRELS), source="human")
    out = write_qrels(df, tmp_path / "out.txt")
    assert out.read_text() == "q1 0 d1 2\nq1 0 d2 0\nq2 0 d1 -2\nq2 0 d3 1.5\n"
    assert read_qrels(out, source="human").equals(df)


def test_malformed_line_names_file_and_line(tmp_path):
    with pytest.raises(ParseError, match=r"qrels.txt, line 3: expected 4 fields .* found 3: 'q2 0 d1'"):
        read_qrels(write(tmp_path, "q1 0 d1 1\n\nq2 0 d1\n"), source="human")
    with pytest.raises(ParseError, match=r"line 2: expected a numeric relevance .* found 'rel'"):
        read_qrels(write(tmp_path, "q1 0 d1 1\nq1 0 d2 rel\n"), source="human")


def test_duplicate_pair_is_an_error_naming_both_lines(tmp_path):
    with pytest.raises(ParseError, match=r"1 \(query, doc\) pair.*query 'q1' doc 'd1' on lines 1, 3"):
        read_qrels(write(tmp_path, "q1 0 d1 1\nq1 0 d2 0\nq1 0 d1 1\n"), source="human")


def test_unknown_source_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown label source 'people'; choose one of: click, human, llm"):
        read_qrels(write(tmp_path, QRELS), source="people")
    with pytest.raises(InputError, match="nope': expected TREC qrels lines .*found no such file"):
        read_qrels(tmp_path / "nope", source="human")


def test_writer_refuses_null_labels_and_spaced_ids(tmp_path):
    df = pl.DataFrame({"query_id": ["q"], "doc_id": ["d"], "label": [None], "source": ["llm"]},
                      schema_overrides={"label": pl.Float64})
    with pytest.raises(SchemaError, match="null label"):
        write_qrels(df, tmp_path / "o.txt")
    df = df.with_columns(pl.lit(1.0).alias("label"), pl.lit("a b").alias("doc_id"))
    with pytest.raises(SchemaError, match="'a b'"):
        write_qrels(df, tmp_path / "o.txt")


def test_noveleval_qrels(shared_data):
    path = shared_data("noveleval") / "qrels.txt"
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    df = read_qrels(path, source="human")
    assert df.height == len(rows)
    assert df["query_id"].n_unique() == len({r[0] for r in rows})
    assert df["label"].sum() == sum(float(r[3]) for r in rows)
