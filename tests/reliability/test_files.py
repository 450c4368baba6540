"""Corrupt, unreadable or out-of-range files: each a clear error naming the file, never a
traceback or a silent change. Catalogue rows of issue 7: "Corrupt or unreadable files",
"Values out of range", label ids that don't match, label-set names (security)."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from gbltr.data.store import MAX_POSITION, read_dataset, write_dataset
from gbltr.data.svmlight import MAX_FEATURES, read_svmlight
from gbltr.errors import DataError, InputError, ParseError, SchemaError
from gbltr.evaluate.compare import compare_runs
from gbltr.train.dataset import MAX_GRADE, RankingDataset

from .conftest import edit_table


# --- dataset folder -------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"PAR1 this is not parquet", "found a truncated or corrupt Parquet file"),
    (b"", "found an empty file"),
])
def test_corrupt_label_set(world_copy, content, message):
    (world_copy / "labels" / "llm.parquet").write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_dataset(world_copy)
    assert "labels/llm.parquet" in str(err.value) and "expected a Parquet table" in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("[1, 2, 3]", "expected a JSON object at the top level: the dataset manifest (format_version, metadata, ...), found a list"),
    ('"v1"', "expected a JSON object at the top level: the dataset manifest (format_version, metadata, ...), found a string"),
    ("{not json", "found text that does not parse as JSON"),
    ('{"format_version": 1, "metadata": [1]}', "metadata = [1]; expected a table, found a list"),
])
def test_manifest_that_is_not_a_json_object(world_copy, text, message):
    (world_copy / "dataset.json").write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        read_dataset(world_copy)


@pytest.mark.parametrize("position, shown", [(0, "position 0"), (-3, "position -3"),
                                             (2_000_000_000, "position 2000000000"),
                                             (MAX_POSITION + 1, f"position {MAX_POSITION + 1}")])
def test_impression_position_out_of_range(world_copy, position, shown):
    edit_table(world_copy, "impressions",
               lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(position)
                                        .otherwise(pl.col("position")).cast(pl.Int32).alias("position")))
    with pytest.raises(SchemaError, match=rf"impressions: 1 row\(s\) with position outside 1..{MAX_POSITION}, e.g. {shown}"):
        read_dataset(world_copy)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s + " ", r"label set 'human': 1 query_id\(s\) not in the queries table, e.g. '\w+ ' \(\d+ row\(s\)\)"),
    (lambda s: s + "x", r"label set 'human': 1 query_id\(s\) not in the queries table, e.g. '\w+x'"),
])
def test_human_label_ids_that_match_no_query(world_copy, edit, message):
    """A trailing space or a typo in a human-label query id: refused at read, naming the id
    (it used to shrink the test set silently)."""
    def typo(f):
        q = f["query_id"][0]
        return f.with_columns(pl.when(pl.col("query_id") == q).then(pl.lit(edit(q))).otherwise(pl.col("query_id"))
                              .alias("query_id"))

    edit_table(world_copy, "labels/human", typo)
    with pytest.raises(SchemaError, match=message) as err:
        read_dataset(world_copy)
    assert "stray spaces or typos" in str(err.value)


def test_label_doc_id_that_matches_no_document(world_copy):
    edit_table(world_copy, "labels/llm", lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(pl.col("doc_id") + "\t").otherwise(pl.col("doc_id")).alias("doc_id")))
    with pytest.raises(SchemaError, match=r"label set 'llm': 2 doc_id\(s\) not in the documents table, e.g. '.+\\t' \(2 row\(s\)\)"):
        read_dataset(world_copy)


@pytest.mark.parametrize("name", ["../../X", "a/b", "..", ".hidden", "", "x" * 101, "a\\b", "lab els"])
def test_label_set_names_that_would_be_paths(world, tmp_path, name):
    ds = read_dataset(world)
    with pytest.raises(SchemaError, match="label set name .*: expected letters, digits"):
        ds.with_labels(name, ds.labels["llm"])
    assert not (tmp_path.parent / "X.parquet").exists()


def test_label_set_name_checked_when_writing(world, tmp_path):
    from dataclasses import replace

    ds = read_dataset(world)
    bad = replace(ds, labels=dict(ds.labels))  # bypass with_labels: write_dataset checks again
    bad.labels["../escape"] = ds.labels["llm"]
    with pytest.raises(SchemaError, match="label set name '../escape'"):
        write_dataset(bad, tmp_path / "out")
    assert not (tmp_path / "escape.parquet").exists()


def test_good_label_set_names_are_kept(world, tmp_path):
    ds = read_dataset(world).with_labels("llm-gpt4o_v2.1", read_dataset(world).labels["llm"])
    back = read_dataset(write_dataset(ds, tmp_path / "w"))
    assert "llm-gpt4o_v2.1" in back.labels


# --- label and feature values ---------------------------------------------------------------

def _frames(label, feature=1.0):
    feats = pl.DataFrame({"query_id": ["q1", "q1", "q2", "q2"], "doc_id": ["a", "b", "a", "b"],
                          "f": [feature, 0.0, 1.0, 2.0]})
    cand = pl.DataFrame({"query_id": ["q1", "q1", "q2", "q2"], "doc_id": ["a", "b", "a", "b"],
                         "rank": [1, 2, 1, 2]})
    labels = pl.DataFrame({"query_id": ["q1", "q1", "q2", "q2"], "doc_id": ["a", "b", "a", "b"],
                           "label": [label, 0.0, 1.0, 0.0]})
    return feats, cand, labels


@pytest.mark.parametrize("label, shown", [(100.0, "100.0"), (2000.0, "2000.0"), (float("inf"), "inf"),
                                          (float("-inf"), "-inf"), (float(MAX_GRADE) + 0.5, "30.5")])
def test_labels_above_the_largest_grade_or_not_finite(label, shown):
    feats, cand, labels = _frames(label)
    with pytest.raises(SchemaError, match=rf"human labels for test queries: 1 label\(s\) that are not finite or above "
                                          rf"{MAX_GRADE}, e.g. {shown}"):
        RankingDataset.build(feats, ["f"], cand, pl.Series(["q1", "q2"]), {"human": labels},
                             require_labels="human", where="test queries")


def test_largest_grade_and_negative_labels_are_accepted():
    feats, cand, labels = _frames(float(MAX_GRADE))
    ds = RankingDataset.build(feats, ["f"], cand, pl.Series(["q1", "q2"]),
                              {"human": labels.with_columns(pl.col("label").replace(0.0, -2.0))})
    assert ds.labels["human"].max() == MAX_GRADE and ds.labels["human"].min() == -2


@pytest.mark.parametrize("value", [1e300, -1e39, 3.5e38])
def test_feature_values_that_overflow_float32(value):
    feats, cand, labels = _frames(1.0, feature=value)
    with pytest.raises(SchemaError, match=r"expected magnitudes <= 3.4e\+38 \(float32.*found values that overflow in "
                                          r"\{'f': 1\}"):
        RankingDataset.build(feats, ["f"], cand, pl.Series(["q1", "q2"]), {"click": labels}, where="training queries")


def _svmlight_prepare(tmp_path, lines, labels="human"):
    """A feature file through the one pipeline path (gbltr import svmlight -> prepare)."""
    from gbltr.config import load_config
    from gbltr.data.importers import import_dataset
    from gbltr.pipeline import prepare

    tmp_path.mkdir(exist_ok=True)
    f = tmp_path / "train.txt"
    f.write_text("".join(lines))
    import_dataset([("svmlight", [f])], tmp_path / "ds")
    return prepare(load_config(overrides={"data": str(tmp_path / "ds"), "labels": labels, "split": "random",
                                          "train": {"rounds": 2}}))


def test_feature_file_overflow_and_labels_checked_too(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{d % 2} qid:{q} 1:{rng.random():.3f} 2:{'1e300' if q == d == 0 else rng.random()}\n"
            for q in range(20) for d in range(3)]
    with pytest.raises(SchemaError, match="overflow"):
        _svmlight_prepare(tmp_path / "a", rows)
    rows = [f"{2000 if q == d == 0 else d % 2} qid:{q} 1:{rng.random():.3f}\n" for q in range(20) for d in range(3)]
    with pytest.raises(SchemaError, match="above 30"):
        _svmlight_prepare(tmp_path / "b", rows)


# --- SVMlight ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  # another\n\n"])
def test_svmlight_without_data_lines(tmp_path, text):
    f = tmp_path / "train.txt"
    f.write_text(text)
    with pytest.raises(InputError, match=r"train.txt'?: expected SVMlight lines .*, found (an empty file|only blank "
                                         r"text|no line that is not blank or a comment)"):
        read_svmlight(f)


def test_svmlight_index_too_large_to_allocate(tmp_path):
    f = tmp_path / "train.txt"
    f.write_text("1 qid:1 1:0.5 2:1\n0 qid:1 1:0.1 1000000:3\n")
    with pytest.raises(ParseError, match=rf"line 2: expected feature indices <= {MAX_FEATURES}, found '1000000:3'"):
        read_svmlight(f)
    with pytest.raises(ParseError, match=r"n_features must be in \[0, 100000\], found 1000000"):
        read_svmlight(f, n_features=1_000_000)


def test_svmlight_all_zero_labels_do_not_train(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"0 qid:{q} 1:{rng.random():.3f} 2:{rng.random():.3f}\n" for q in range(20) for _ in range(3)]
    with pytest.raises(DataError, match=r"human labels of the training queries: none of the \d+ queries has two "
                                        r"different grades \(found only \[0.0\]\)"):
        _svmlight_prepare(tmp_path, rows)


# --- compare ----------------------------------------------------------------------------------

def _run(path, fp=None, corrupt=False):
    path.mkdir()
    frame = pl.DataFrame({"query_id": ["a", "b", "c"], "ndcg@10": [0.1, 0.5, 0.9]})
    frame.write_parquet(path / "per_query.parquet")
    if corrupt:
        (path / "per_query.parquet").write_bytes(b"PAR1 garbage")
    report = {"name": path.name}
    if fp:
        report["dataset_fingerprint"] = {"sha1": fp, "files": {"labels/human.parquet": fp}}
    (path / "report.json").write_text(json.dumps(report))
    return path


def test_corrupt_per_query_in_compare(tmp_path):
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b", corrupt=True)
    with pytest.raises(InputError, match=r"per_query.parquet': expected a Parquet table of per-query metrics .*, found "
                                         r"a truncated or corrupt Parquet file"):
        compare_runs([a, b], n_permutations=10)


def test_compare_refuses_runs_of_different_datasets(tmp_path):
    a, b = _run(tmp_path / "a", fp="1111"), _run(tmp_path / "b", fp="2222")
    with pytest.raises(DataError, match=r"runs 'a' and 'b' were made on different datasets \(fingerprints 1111 and "
                                        r"2222; differing files: \['labels/human.parquet'\]\)"):
        compare_runs([a, b], n_permutations=10)


def test_compare_without_fingerprints_warns(tmp_path, caplog):
    """Documented handling: a run without a fingerprint (older gbltr, hand-made) is compared with a
    warning, since there is nothing to check."""
    a, b = _run(tmp_path / "a", fp="1111"), _run(tmp_path / "b")
    with caplog.at_level("WARNING", logger="gbltr"):
        result = compare_runs([a, b], n_permutations=10)
    assert result.runs == ("a", "b")
    assert "record no dataset fingerprint" in caplog.text and "['b']" in caplog.text
