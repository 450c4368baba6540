"""Frame contracts at the boundary: every bad input gets a message naming expected and found."""

import math

import polars as pl
import pytest

from gbltr import schema
from gbltr.data.store import SearchDataset, read_dataset, write_dataset
from gbltr.errors import DataError, SchemaError


def tiny():
    return dict(
        queries=pl.DataFrame({"query_id": ["q1", "q2"], "text": ["a b", "c"]}),
        documents=pl.DataFrame({"doc_id": ["d1", "d2", "d3"], "title": ["a", "b", "c"], "body": ["a", "b", "c"],
                                "url": ["u1", "u2", "u3"]}),
        candidates=pl.DataFrame({"query_id": ["q1", "q1", "q2"], "doc_id": ["d1", "d2", "d3"], "rank": [1, 2, 1],
                                 "retrieval_score": [1.0, 0.5, 0.2]}),
    )


def test_misspelled_column_is_named_with_the_close_match():
    bad = pl.DataFrame({"query_id": ["q"], "doc_idd": ["d"], "label": [1.0], "source": ["llm"]})
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'doc_id' \(found 'doc_idd': misspelled\?\)"):
        schema.validate(bad, schema.LABELS)


def test_wrong_dtype_names_expected_and_found():
    bad = pl.DataFrame({"query_id": ["q"], "doc_id": ["d"], "label": ["high"], "source": ["llm"]})
    with pytest.raises(SchemaError, match="column 'label' has dtype String, expected Float64"):
        schema.validate(bad, schema.LABELS)


def test_integer_ids_and_labels_are_cast_not_rejected():
    ok = schema.validate(pl.DataFrame({"query_id": [1], "doc_id": [2], "label": [3], "source": ["human"]}),
                         schema.LABELS)
    assert ok.schema["query_id"] == pl.String and ok.schema["label"] == pl.Float64


def test_duplicate_query_doc_rows_are_an_error():
    bad = pl.DataFrame({"query_id": ["q", "q"], "doc_id": ["d", "d"], "label": [1.0, 2.0], "source": ["llm"] * 2})
    with pytest.raises(SchemaError, match="1 duplicate key"):
        schema.validate(bad, schema.LABELS)


def test_unknown_label_source():
    bad = pl.DataFrame({"query_id": ["q"], "doc_id": ["d"], "label": [1.0], "source": ["crowd"]})
    with pytest.raises(SchemaError, match="unknown source"):
        schema.validate(bad, schema.LABELS)


def test_nan_and_inf_features_are_reported_per_column():
    frame = pl.DataFrame({"f1": [1.0, math.nan], "f2": [math.inf, 1.0], "f3": [0.0, 1.0]})
    with pytest.raises(SchemaError, match=r"\{'f1': 1, 'f2': 1\}"):
        schema.check_finite(frame, ["f1", "f2", "f3"])


def test_candidates_naming_unknown_documents():
    parts = tiny()
    parts["candidates"] = parts["candidates"].with_columns(pl.Series("doc_id", ["d1", "d2", "d9"]))
    with pytest.raises(SchemaError, match="1 doc_id\\(s\\) not in the documents table, e.g. 'd9'"):
        SearchDataset(**parts)


def test_round_trip_and_missing_table(tmp_path):
    ds = SearchDataset(**tiny())
    folder = write_dataset(ds, tmp_path / "ds")
    back = read_dataset(folder)
    assert back.candidates.equals(ds.candidates)
    (folder / "documents.parquet").unlink()
    with pytest.raises(DataError, match="missing documents.parquet"):
        read_dataset(folder)


def test_nulls_in_key_columns():
    bad = pl.DataFrame({"query_id": ["q", None], "text": ["a", "b"]})
    with pytest.raises(SchemaError, match="'query_id' has 1 null"):
        schema.validate(bad, schema.QUERIES)


def test_duplicate_check_fast_path_and_collision_fallback(monkeypatch):
    """The row-hash pre-check never hides a duplicate, and a collision (pre-check says 'maybe')
    still passes a table whose keys are unique: the exact group_by decides."""
    import gbltr.schema as schema

    ok = pl.DataFrame({"query_id": ["a", "a", "b"], "doc_id": ["x", "y", "x"],
                       "label": [1.0, 2.0, 3.0], "source": "llm"})
    dup = ok.with_columns(pl.Series("doc_id", ["x", "x", "x"]))
    assert not schema._may_have_duplicates(ok, ("query_id", "doc_id"))
    assert schema._may_have_duplicates(dup, ("query_id", "doc_id"))
    monkeypatch.setattr(schema, "_may_have_duplicates", lambda df, key: True)  # a "collision"
    assert schema.validate(ok, schema.LABELS).height == 3
    with pytest.raises(SchemaError, match=r"1 duplicate key\(s\) on \['query_id', 'doc_id'\]"):
        schema.validate(dup, schema.LABELS)
