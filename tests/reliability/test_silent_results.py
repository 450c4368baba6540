"""Runs that used to exit 0 with a wrong or misleading result (issue 7, "Silent wrong results").

Each case now fails before training with an error that says what was expected and found, or is
handled in a documented way whose counts appear in the run report and on stderr.
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from gbltr.config import load_config
from gbltr.errors import ConfigError, DataError
from gbltr.pipeline import prepare

from .conftest import FAST, edit_table, fast_config, run_cli


def _cfg(world, **over):
    return load_config(overrides={"data": str(world), **FAST, **over})


def _llm_file(world, tmp_path, fn):
    path = tmp_path / "llm.parquet"
    fn(pl.read_parquet(world / "labels" / "llm.parquet")).write_parquet(path)
    return path


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("labels", ["llm", "fused"])
@pytest.mark.parametrize("case, edit, found", [
    ("other ids", lambda f: f.with_columns(pl.col("query_id") + "-other"), r"\d+ on queries this dataset does not have"),
    ("all null", lambda f: f.with_columns(pl.lit(None, dtype=pl.Float64).alias("label")), r"\d+ null label\(s\) were dropped"),
    ("held-out only", None, r"0 on queries this dataset does not have, \d+ on validation/test queries"),
])
def test_llm_labels_matching_no_training_query(world, tmp_path, backend, labels, case, edit, found):
    """It used to train on nothing (XGBoost) or on clicks only (fused), exit 0; LightGBM crashed."""
    if edit is None:
        split = pl.read_parquet(world / "queries.parquet").select("query_id", "split")
        held = split.filter(pl.col("split") != "train")
        edit = lambda f: f.join(held, on="query_id", how="semi")  # noqa: E731
    path = _llm_file(world, tmp_path, edit)
    cfg = _cfg(world, labels=labels, llm_labels=str(path), train={**FAST["train"], "backend": backend})
    with pytest.raises(DataError, match=rf"--labels {labels}: none of the \d+ training queries has a llm label") as err:
        prepare(cfg)
    assert re.search(found, str(err.value)), str(err.value)


def test_all_null_llm_label_set_inside_the_dataset(world_copy):
    edit_table(world_copy, "labels/llm", lambda f: f.with_columns(pl.lit(None, dtype=pl.Float64).alias("label")))
    with pytest.raises(DataError, match=r"none of the \d+ training queries has a llm label.* null label\(s\) were dropped"):
        prepare(_cfg(world_copy, labels="llm"))


def test_all_zero_training_labels(world_copy):
    edit_table(world_copy, "labels/llm", lambda f: f.with_columns(pl.lit(0.0).alias("label")))
    with pytest.raises(DataError, match=r"llm labels of the training queries: none of the \d+ queries has two different "
                                        r"grades \(found only \[0.0\]\)"):
        prepare(_cfg(world_copy, labels="llm"))


def _test_ids(world, n):
    q = pl.read_parquet(world / "queries.parquet")
    return q.filter(pl.col("split") == "test")["query_id"].sort().head(n).to_list()


def _set_on_query(world, table, column, query_id, value):
    """Set ``column`` to ``value`` on the rows of one query of ``table``."""
    edit_table(world, table, lambda f: f.with_columns(
        pl.when(pl.col("query_id") == query_id).then(value).otherwise(pl.col(column)).alias(column)))


def test_test_queries_losing_their_human_labels_are_refused(world_copy):
    """Human labels whose ids match no candidate of a test query used to shrink the test set
    silently (75 -> 45 queries). With a given split, a test query without human labels is refused."""
    lost = _test_ids(world_copy, 3)
    edit_table(world_copy, "labels/human", lambda f: f.filter(~pl.col("query_id").is_in(lost)))
    with pytest.raises(DataError, match=r"3 of the \d+ test queries have no human-labelled candidate, e.g. query_id "
                                        + re.escape(repr(lost))) as err:
        prepare(_cfg(world_copy))
    assert "stray spaces, typos" in str(err.value)


def test_one_null_in_split_is_refused_naming_the_row(world_copy):
    """It used to redraw the whole split (test set 75 -> 18 queries) with one warning."""
    q = _test_ids(world_copy, 1)[0]
    _set_on_query(world_copy, "queries", "split", q, None)
    with pytest.raises(DataError, match=rf"1 of \d+ queries have no split \(null\), e.g. query_id \['{q}'\]; expected "
                                        r"train/valid/test on every query, or no 'split' column at all"):
        prepare(_cfg(world_copy))


def test_all_null_split_is_no_split(world_copy, caplog):
    """Documented handling: a split column with no value at all is treated as absent, and the
    seeded split is drawn (with warnings). The drawn split takes its valid/test queries among the
    judged queries (gbltr.pipeline.draw_split), so none is left out for want of human labels."""
    edit_table(world_copy, "queries", lambda f: f.with_columns(pl.lit(None, dtype=pl.String).alias("split")))
    with caplog.at_level("INFO", logger="gbltr"):
        prep = prepare(_cfg(world_copy))
    assert "treating it as absent" in caplog.text and "drawing a seeded 70/15/15 split" in caplog.text
    dropped = prep.dropped.counts
    assert dropped["test_queries_without_human_labels"] == 0 and dropped["valid_queries_without_human_labels"] == 0
    judged = set(pl.read_parquet(world_copy / "labels" / "human.parquet")["query_id"])
    assert set(prep.test.query_ids) <= judged and set(prep.valid.query_ids) <= judged


@pytest.mark.parametrize("split", ["valid", "test"])
def test_all_zero_validation_or_test_labels(world_copy, split):
    ids = pl.read_parquet(world_copy / "queries.parquet").filter(pl.col("split") == split)["query_id"]
    edit_table(world_copy, "labels/human", lambda f: f.with_columns(
        pl.when(pl.col("query_id").is_in(ids.implode())).then(0.0).otherwise(pl.col("label")).alias("label")))
    with pytest.raises(DataError, match=rf"{split} queries: none of the \d+ has a relevant document \(every human label "
                                        r"is <= 0\)"):
        prepare(_cfg(world_copy))


def test_min_data_in_leaf_above_the_training_rows(world):
    with pytest.raises(ConfigError, match=r"train.min_data_in_leaf=100000000 is above the \d+ training rows"):
        prepare(_cfg(world, train={**FAST["train"], "min_data_in_leaf": 100_000_000}))


def test_feature_overflow_refused_before_training(world_copy):
    edit_table(world_copy, "documents", lambda f: f.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(1e300).otherwise(pl.col("pagerank")).alias("pagerank")))
    with pytest.raises(Exception, match=r"overflow|finite") as err:
        prepare(_cfg(world_copy))
    assert "Traceback" not in str(err.value)


@pytest.mark.parametrize("label", [100.0, 2000.0])
def test_human_label_out_of_range_refused_before_training(world_copy, label):
    _set_on_query(world_copy, "labels/human", "label", _test_ids(world_copy, 1)[0], label)
    with pytest.raises(Exception, match=rf"human labels for test queries: \d+ label\(s\) that are not finite or above 30, "
                                        rf"e.g. {label}"):
        prepare(_cfg(world_copy))


def test_dropped_counts_in_report_and_on_stderr(world, tmp_path, capsys, caplog):
    """Labels on unknown and held-out queries and null labels are left out, counted in
    report.json / report.md and logged on stderr; the summary says what was trained on."""
    def edit(f):
        unknown = f.head(4).with_columns(pl.col("query_id") + "-unknown")
        nulls = f.tail(2).with_columns(pl.lit(None, dtype=pl.Float64).alias("label"))
        return pl.concat([f.head(f.height - 2), nulls, unknown])

    path = _llm_file(world, tmp_path, edit)
    out = tmp_path / "run"
    with caplog.at_level("INFO", logger="gbltr"):
        code, stdout, err = run_cli(["fit", "--data", str(world), "--labels", "llm", "--llm-labels", str(path),
                                     "--config", str(fast_config(tmp_path)), "--out", str(out)], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    dropped = report["dropped"]
    assert dropped["llm_label_rows_on_unknown_queries"] == 4
    assert dropped["llm_label_rows_null"] == 2
    assert dropped["llm_label_rows_on_held_out_queries"] > 0
    assert "llm_label_rows_on_unknown_queries: 4" in (out / "report.md").read_text()
    assert "llm_label_rows_on_unknown_queries=4" in caplog.text
    assert "llm_label_rows_null=2" in caplog.text
    assert "training on" in caplog.text and "testing on" in caplog.text
    assert report["dataset_fingerprint"]["sha1"]


def test_exit_code_and_one_line_error_from_the_command(world, tmp_path):
    """The real command (a subprocess): exit 2, one `error:` line, no traceback, no run folder."""
    import os
    import subprocess
    import sys

    path = _llm_file(world, tmp_path, lambda f: f.with_columns(pl.col("query_id") + " "))
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "gbltr.cli", "fit", "--data", str(world), "--labels", "fused", "--llm-labels", str(path),
         "--out", str(out)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "GBLTR_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--labels fused: none of the" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.glob(".run*")) == []


def test_experiment_and_ablation_reports_carry_the_dropped_counts(world, tmp_path):
    """The counts of the validation pass reach every report, not only fit's: experiment (per seed)
    and ablation write them in their JSON and Markdown."""
    from gbltr.analysis.ablation import run_ablation
    from gbltr.experiment import run_experiment

    def edit(f):
        return pl.concat([f, f.head(3).with_columns(pl.col("query_id") + "-unknown")])

    cfg = _cfg(world, llm_labels=str(_llm_file(world, tmp_path, edit)))
    exp = run_experiment(cfg, ["click", "llm"], [0], out=tmp_path / "exp", n_permutations=100)
    assert exp.summary["dropped"]["0"]["llm_label_rows_on_unknown_queries"] == 3
    assert json.loads((tmp_path / "exp" / "experiment.json").read_text())["dropped"]["0"][
        "llm_label_rows_on_unknown_queries"] == 3
    assert "llm_label_rows_on_unknown_queries: 3" in (tmp_path / "exp" / "experiment.md").read_text()
    abl = run_ablation(cfg, labels=("llm",), groups=("query",), out=tmp_path / "abl", attribution=False,
                       label_stats=False, n_permutations=100)
    assert abl.dropped["llm_label_rows_on_unknown_queries"] == 3
    assert "llm_label_rows_on_unknown_queries: 3" in (tmp_path / "abl" / "ablation.md").read_text()
