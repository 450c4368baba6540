"""The streaming pipeline (``train.stream`` / ``--engine dask``) against the in-memory one.

The in-memory path (sessions x positions matrices, :func:`gbltr.labels.clicks.click_labels`) is the
independent implementation: the streaming path never builds sessions; it reduces the log by
Polars streaming group-bys to counts. Click labels, scores, counts, positions, the fitted pair
table, examination and the log's session counts are equal exactly; the propensity (a mean of
examinations summed in another order) within 1e-12.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gbltr.config import dotted, load_config
from gbltr.data.simulate import write_world
from gbltr.data.store import read_dataset
from gbltr.data.stream import check_log, dataset_log, open_log, query_stats_lazy
from gbltr.data.frequency import query_stats
from gbltr.data.world import WorldParams
from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.labels.clicks import ClickLabelConfig
from gbltr.labels.clicks.labels import click_labels
from gbltr.labels.clicks.stream import click_labels_scan

PROPENSITY_TOL = 1e-12


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "world"
    write_world(WorldParams(seed=3, queries=200, sessions=6000, test_queries_per_bucket=5,
                            valid_queries_per_bucket=4, min_train_queries_per_bucket=4), path)
    return path, read_dataset(path)


def _same_labels(a, b):
    fa, fb = a.frame, b.frame
    assert fa.drop("propensity", "ips_weight").equals(fb.drop("propensity", "ips_weight"))
    for c in ("propensity", "ips_weight"):
        x, y = fa[c].to_numpy(), fb[c].to_numpy()
        assert np.array_equal(np.isnan(x), np.isnan(y))
        assert np.nanmax(np.abs(x - y)) <= PROPENSITY_TOL
    assert a.model.pairs.equals(b.model.pairs)
    assert np.array_equal(a.propensities, b.propensities)
    assert a.cuts == b.cuts and a.sessions == b.sessions
    assert a.model.info.iterations == b.model.info.iterations
    assert abs(a.model.info.log_likelihood - b.model.info.log_likelihood) <= 1e-9
    for k, v in a.model.params.items():
        assert np.array_equal(np.asarray(v), np.asarray(b.model.params[k])), k


@pytest.mark.parametrize("model", ["ctr", "dctr", "pbm", "ubm"])
@pytest.mark.parametrize("max_positions,grading", [(10, "threshold"), (4, "quantile")])
def test_streamed_click_labels_equal_the_in_memory_ones(world, model, max_positions, grading):
    path, ds = world
    cfg = ClickLabelConfig(model=model, max_positions=max_positions, grading=grading, unshown="drop")
    ids = ds.queries["query_id"].head(100)
    mem = click_labels(ds.impressions, ds.candidates, ids, cfg)
    lazy = dataset_log(path, ds.queries, ds.documents)
    _same_labels(mem, click_labels_scan(lazy, ds.candidates, ids, cfg))
    if max_positions == 4:
        assert mem.sessions["rows_beyond_max_positions"] > 0  # the truncation counts were compared


@pytest.mark.parametrize("model", ["pbm", "ubm"])
def test_chunks_of_sessions_give_the_same_labels(world, model, monkeypatch):
    """A log larger than SESSION_ROWS_PER_CHUNK is summarised in several passes, each over the
    sessions of one hash bucket; the result must not change."""
    import gbltr.labels.clicks.stream as stream

    path, ds = world
    monkeypatch.setattr(stream, "SESSION_ROWS_PER_CHUNK", ds.impressions.height // 3)
    lazy = dataset_log(path, ds.queries, ds.documents)
    assert stream.session_chunks(lazy) == 4
    cfg = ClickLabelConfig(model=model, max_positions=6)
    ids = ds.queries["query_id"]
    _same_labels(click_labels(ds.impressions, ds.candidates, ids, cfg), click_labels_scan(lazy, ds.candidates, ids, cfg))


def test_a_log_with_gaps_click_times_and_empty_sessions(world, tmp_path):
    """Edge rows the simulator does not write: gaps, rows only beyond max_positions, click times
    out of order, a query with one session."""
    _, ds = world
    imp = ds.impressions.with_columns(click_time=pl.col("position").cast(pl.Float64) * 10.0)
    s0, s1, s2 = imp["session_id"].unique(maintain_order=True).head(3)
    imp = imp.filter(~((pl.col("session_id") == s0) & (pl.col("position") == 2)))  # a gap
    imp = imp.with_columns(  # session s1: clicks at 1 and 3 in reverse time order
        clicked=pl.when(pl.col("session_id") == s1).then(pl.col("position").is_in([1, 3])).otherwise("clicked"),
        click_time=pl.when((pl.col("session_id") == s1) & (pl.col("position") == 3)).then(1.0).otherwise("click_time"))
    imp = imp.with_columns(position=pl.when(pl.col("session_id") == s2).then(pl.col("position") + 20)
                           .otherwise("position").cast(pl.Int32))  # s2 only beyond max_positions
    imp.write_parquet(tmp_path / "impressions.parquet")
    cfg = ClickLabelConfig(model="ubm")
    ids = ds.queries["query_id"]
    mem = click_labels(imp, ds.candidates, ids, cfg)
    assert mem.sessions["sessions_with_gaps"] >= 1 and mem.sessions["empty_sessions"] == 1
    assert mem.sessions["sessions_clicks_out_of_order"] >= 1
    _same_labels(mem, click_labels_scan(open_log(tmp_path / "impressions.parquet"), ds.candidates, ids, cfg))


def test_streamed_query_stats_equal_the_in_memory_ones(world):
    path, ds = world
    spec = load_config(None, {}).buckets.spec()
    ids = pl.concat([ds.queries["query_id"], pl.Series(["never-in-the-log"])])
    assert query_stats_lazy(dataset_log(path, ds.queries, ds.documents), ids, spec).equals(
        query_stats(ds.impressions, ids, spec))
    assert query_stats_lazy(None, ids, spec).equals(query_stats(None, ids, spec))


@pytest.mark.parametrize("labels,model", [("fused", "pbm"), ("click", "ubm")])
def test_streaming_prepare_equals_in_memory_prepare(world, labels, model):
    from gbltr.pipeline import prepare

    path, _ = world
    over = {"labels": labels, "data": str(path), "click.model": model}
    a = prepare(load_config(None, dotted(over)))
    b = prepare(load_config(None, dotted({**over, "train.stream": "on"})))
    assert b.log.streamed and not a.log.streamed
    assert a.stats.equals(b.stats)
    for split in ("train", "valid", "test"):
        x, y = getattr(a, split), getattr(b, split)
        assert np.array_equal(x.X, y.X, equal_nan=True) and np.array_equal(x.query_ids, y.query_ids)
        assert np.array_equal(x.group_sizes, y.group_sizes)
        for k in x.labels:
            assert np.array_equal(x.labels[k], y.labels[k], equal_nan=True), (split, k)
    assert a.feature_names == b.feature_names
    assert all(a.train_labels[k].equals(b.train_labels[k]) for k in a.train_labels)
    ra, rb = a.training_record(), b.training_record()
    skip = {"prepare_seconds", "stream", "click_fit"}
    assert {k: v for k, v in ra.items() if k not in skip} == {k: v for k, v in rb.items() if k not in skip}
    assert (a.buckets, a.coverage, a.features, a.dropped.to_json(), a.split.counts()) == (
        b.buckets, b.coverage, b.features, b.dropped.to_json(), b.split.counts())
    assert a.split.frame.equals(b.split.frame)
    fa, fb = dict(ra["click_fit"]), dict(rb["click_fit"])
    fa.pop("seconds"), fb.pop("seconds")
    assert fa == fb


def test_models_that_need_whole_sessions_are_refused_under_streaming():
    for model in ("dbn", "sdbn", "cascade"):
        with pytest.raises(ConfigError, match=rf"click model '{model}' needs whole sessions.*ctr, dctr, pbm, ubm"):
            load_config(None, {"labels": "click", "click": {"model": model}, "train": {"stream": "on"}})
    with pytest.raises(ConfigError, match="needs whole sessions"):  # auto = on with dask
        load_config(None, {"labels": "fused", "click": {"model": "dbn"}, "train": {"engine": "dask"}})
    load_config(None, {"labels": "llm", "click": {"model": "dbn"}, "train": {"stream": "on"}})  # no click labels
    load_config(None, {"labels": "click", "click": {"model": "dbn"}, "train": {"engine": "dask", "stream": "off"}})
    with pytest.raises(ConfigError, match="train.stream mode 'yes'"):
        load_config(None, {"train": {"stream": "yes"}})
    with pytest.raises(ConfigError, match="max_positions=62"):
        load_config(None, {"labels": "click", "click": {"model": "ubm", "max_positions": 70}, "train": {"stream": "on"}})


def test_cli_refuses_a_session_model_under_stream(capsys):
    from gbltr.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["fit", "--labels", "click", "--click-model", "dbn", "--stream"])
    assert exc.value.code == 2
    assert "needs whole sessions" in capsys.readouterr().err


def _broken(tmp_path, ds, change):
    file = tmp_path / "impressions.parquet"
    change(ds.impressions).write_parquet(file)
    return file


def test_bad_logs_get_the_in_memory_errors(world, tmp_path):
    _, ds = world
    ids = ds.queries["query_id"]
    cfg = ClickLabelConfig()
    first = ds.impressions.row(0, named=True)
    # schema: a missing column, a null, an unknown query, a position out of range
    with pytest.raises(SchemaError, match="missing column.*'clicked'"):
        open_log(_broken(tmp_path, ds, lambda f: f.drop("clicked")))
    lg = open_log(_broken(tmp_path, ds, lambda f: f.with_columns(
        doc_id=pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("doc_id"))))
    with pytest.raises(SchemaError, match="column 'doc_id' has 1 null value"):
        check_log(lg, ds.queries, ds.documents)
    lg = open_log(_broken(tmp_path, ds, lambda f: f.with_columns(
        query_id=pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("q-typo ")).otherwise("query_id"))))
    with pytest.raises(SchemaError, match="1 query_id.*not in the queries table, e.g. 'q-typo '"):
        check_log(lg, ds.queries, ds.documents)
    lg = open_log(_broken(tmp_path, ds, lambda f: f.with_columns(
        position=pl.when(pl.int_range(pl.len()) == 5).then(0).otherwise("position").cast(pl.Int32))))
    with pytest.raises(SchemaError, match="position outside 1..10000, e.g. position 0"):
        check_log(lg, ds.queries, ds.documents)
    # click-label input: a position shown twice, a session with two queries, a shown non-candidate
    dup = lambda f: pl.concat([f, f.head(1)])  # noqa: E731
    other = ds.candidates.filter(pl.col("query_id") != first["query_id"]).row(0, named=True)
    here = (pl.col("session_id") == first["session_id"]) & (pl.col("position") == 2)
    two = lambda f: f.with_columns(query_id=pl.when(here).then(pl.lit(other["query_id"])).otherwise("query_id"),  # noqa: E731
                                   doc_id=pl.when(here).then(pl.lit(other["doc_id"])).otherwise("doc_id"))
    stray_doc = ds.documents.join(ds.candidates.filter(pl.col("query_id") == first["query_id"]), on="doc_id", how="anti")["doc_id"][0]
    stray = lambda f: f.with_columns(doc_id=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(stray_doc)).otherwise("doc_id"))  # noqa: E731
    deep = lambda f: f.with_columns(position=pl.when(  # noqa: E731  (beyond the 63-bit session mask)
        (pl.col("session_id") == first["session_id"]) & (pl.col("position") <= 2)).then(70)
        .otherwise("position").cast(pl.Int32))
    for change, pattern in ((dup, "shows position 1 more than once"), (deep, "shows position 70 more than once"),
                            (two, "shows 2 queries"),
                            (stray, r"were shown in the log but are not candidates")):
        bad = change(ds.impressions)
        with pytest.raises(DataError, match=pattern) as mem:
            click_labels(bad, ds.candidates, ids, cfg)
        with pytest.raises(DataError, match=pattern) as lazy:
            click_labels_scan(open_log(_broken(tmp_path, ds, change)), ds.candidates, ids, cfg)
        assert str(mem.value) == str(lazy.value)
    with pytest.raises(DataError, match="no impressions of the training queries"):
        click_labels_scan(open_log(_broken(tmp_path, ds, lambda f: f)), ds.candidates, pl.Series(["nope"]), cfg)
    with pytest.raises(DataError, match="click labels need a search log"):
        click_labels_scan(None, ds.candidates, ids, cfg)


def test_integer_ids_in_the_log_are_cast_as_in_memory(tmp_path):
    """A log written with integer ids (a common export) reads as the contract's strings."""
    imp = pl.DataFrame({"session_id": [1, 1, 2], "query_id": [7, 7, 7], "position": [1, 2, 1],
                        "doc_id": [10, 11, 11], "clicked": [1, 0, 1]})
    imp.write_parquet(tmp_path / "impressions.parquet")
    lg = open_log(tmp_path / "impressions.parquet")
    check_log(lg, pl.DataFrame({"query_id": ["7"]}), pl.DataFrame({"doc_id": ["10", "11"]}))
    cand = pl.DataFrame({"query_id": ["7", "7"], "doc_id": ["10", "11"]})
    out = click_labels_scan(lg, cand, pl.Series(["7"]), ClickLabelConfig(model="dctr"))
    assert out.frame["impressions"].to_list() == [1, 2] and out.frame["clicks"].to_list() == [1, 1]


def test_an_empty_or_absent_log_is_no_log(world, tmp_path):
    _, ds = world
    assert dataset_log(tmp_path, ds.queries, ds.documents) is None  # no impressions.parquet
    ds.impressions.head(0).write_parquet(tmp_path / "impressions.parquet")
    assert dataset_log(tmp_path, ds.queries, ds.documents) is None
    with pytest.raises(DataError, match="click labels need a search log"):
        click_labels_scan(dataset_log(tmp_path, ds.queries, ds.documents), ds.candidates, ds.queries["query_id"],
                          ClickLabelConfig())
