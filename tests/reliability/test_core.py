"""Issue 18 (core): typed pipeline records, the one resolved bucket spec, config parsing apart
from the frozen config, and each fact in one place."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config

from .conftest import FAST, fast_config, run_cli

BUCKET_W = {"high": 1.0, "medium": 0.5, "low": 0.0}


def _quantile_cfg(world, **extra):
    over = {"data": str(world), "labels": "fused", "buckets": {"quantiles": [0.5, 0.9]},
            "fusion": {"weight_fn": "bucket", "weight_params": BUCKET_W}, **FAST}
    over.update(extra)
    return load_config(overrides=over)


def test_famol_weights_follow_the_resolved_quantile_buckets(world):
    """The bug: FAMOL weighted queries by the configured thresholds (high >= 100), not the
    resolved ones (quantiles), so medium queries at frequency 100-167 got the high weight."""
    from gbltr.pipeline import prepare
    from gbltr.train.fused import famol_weights

    cfg = _quantile_cfg(world)
    prep = prepare(cfg)
    train = prep.train
    a, b = famol_weights(prep, cfg)
    expected = np.array([BUCKET_W[str(x)] for x in train.bucket])
    # the case that failed: a medium query at or above the configured high_min of 100
    assert ((train.bucket == "medium") & (train.frequency >= cfg.buckets.high_min)).any()
    assert np.allclose(a, expected) and np.allclose(b, 1.0 - expected)


def test_weight_plot_marks_the_resolved_thresholds(world):
    """weights.png draws the bucket thresholds the run used, and the weights at them."""
    from gbltr.pipeline import prepare
    from gbltr.plots import plot_weight_function

    prep = prepare(_quantile_cfg(world))
    ax = plot_weight_function(prep)
    xs = sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":")
    assert xs == pytest.approx(sorted(np.log1p([prep.buckets.medium_min, prep.buckets.high_min])))
    x, w = ax.lines[0].get_data()  # the click weight curve
    grid = np.expm1(x)
    assert np.allclose(w, [BUCKET_W[b] for b in prep.buckets.of(np.round(grid, 6))])


def test_famol_weights_parquet_matches_the_reported_bucket(world, tmp_path, capsys):
    """End to end: famol_weights.parquet has every training query's weights, frequency and
    bucket, and each weight is the weight function at the query's reported bucket."""
    cfg = fast_config(tmp_path, '[buckets]\nquantiles = [0.5, 0.9]\n[fusion]\nweight_fn = "bucket"\n'
                      'weight_params = { high = 1.0, medium = 0.5, low = 0.0 }\n')
    out = tmp_path / "run"
    code, _, err = run_cli(["fit", "--config", str(cfg), "--data", str(world), "--labels", "fused",
                            "--out", str(out)], capsys)
    assert code == 0, err
    w = pl.read_parquet(out / "famol_weights.parquet")
    assert set(w.columns) >= {"query_id", "frequency", "bucket", "click_weight", "llm_weight"}
    report = json.loads((out / "report.json").read_text())
    spec = report["training"]["buckets"]
    assert spec["high_min"] > 100  # resolved from the quantiles, not the default
    assert w.height == sum(report["training"]["n_train_queries"].values())
    for row in w.iter_rows(named=True):
        want = "high" if row["frequency"] >= spec["high_min"] else "medium" if row["frequency"] >= spec["medium_min"] else "low"
        assert row["bucket"] == want
        assert row["click_weight"] == pytest.approx(BUCKET_W[row["bucket"]])
        assert row["llm_weight"] == pytest.approx(1.0 - BUCKET_W[row["bucket"]])


def test_prepared_has_typed_records_and_no_info_dict(world):
    """Prepared carries typed records (no untyped dict): the resolved spec, the split with its
    query ids, label coverage, dropped counts and the search log's summary."""
    import dataclasses

    from gbltr.buckets import BucketSpec
    from gbltr.pipeline import prepare
    from gbltr.prepared import Dropped, LabelCoverage, LogSummary, Prepared, Split

    names = {f.name for f in dataclasses.fields(Prepared)}
    assert "info" not in names
    prep = prepare(_quantile_cfg(world))
    assert isinstance(prep.buckets, BucketSpec) and prep.buckets.high_min > 100
    assert isinstance(prep.split, Split) and isinstance(prep.coverage, LabelCoverage)
    assert isinstance(prep.dropped, Dropped) and isinstance(prep.log, LogSummary)
    assert not prep.log.streamed and prep.log.click is not None and prep.log.queries_in_log > 0
    # the split's ids are the ranking datasets' queries (held_out: training queries are the split's)
    for name in ("train", "valid", "test"):
        assert set(prep.split.ids(name)) >= set(getattr(prep, name).query_ids.astype(str))
    assert set(prep.split.ids("valid")) == set(prep.valid.query_ids.astype(str))
    # the bucket column of the statistics is the resolved spec's
    f = prep.stats["frequency"].to_numpy()
    assert (prep.stats["bucket"].to_numpy() == prep.buckets.of(f)).all()
    record = prep.training_record()
    assert record["buckets"]["high_min"] == prep.buckets.high_min
    assert record["dropped"] == prep.dropped.to_json()


def test_split_parquet_recovers_a_random_split(world, tmp_path, capsys):
    """A random split's validation queries can be recovered from the run folder."""
    out = tmp_path / "run"
    code, _, err = run_cli(["fit", "--config", str(fast_config(tmp_path)), "--data", str(world), "--split", "random",
                            "--out", str(out)], capsys)
    assert code == 0, err
    split = pl.read_parquet(out / "split.parquet")
    assert split.columns == ["query_id", "split"] and split["query_id"].n_unique() == split.height
    assert set(split["split"]) == {"train", "valid", "test"}
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["split_queries"] == {s: int((split["split"] == s).sum()) for s in ("train", "valid", "test")}
    per_query = pl.read_parquet(out / "per_query.parquet")
    assert set(per_query["query_id"]) == set(split.filter(pl.col("split") == "test")["query_id"])


def test_search_log_interface_memory_and_scanned_agree(world):
    """One interface, two implementations: the loaded and the scanned log give the same frequencies
    and click labels."""
    from gbltr.config import ClickLabelConfig
    from gbltr.data.log import MemoryLog, ScannedLog, open_dataset

    ds, memory = open_dataset(world, streams=False)
    _, scanned = open_dataset(world, streams=True)
    assert isinstance(memory, MemoryLog) and isinstance(scanned, ScannedLog)
    assert memory.has_sessions() and scanned.has_sessions() and scanned.streamed and not memory.streamed
    ids = pl.concat([ds.queries["query_id"], pl.Series(["never-in-the-log"])])
    assert memory.frequency(ids).equals(scanned.frequency(ids))
    train = ds.queries.filter(pl.col("split") == "train")["query_id"]
    a = memory.click_labels(ds.candidates, train, ClickLabelConfig())
    b = scanned.click_labels(ds.candidates, train, ClickLabelConfig())
    key = ["query_id", "doc_id"]
    assert a.frame.sort(key).select(*key, "label").equals(b.frame.sort(key).select(*key, "label"))


def test_pipeline_does_not_branch_on_streams():
    """The five cfg.streams ternaries of prepare() are gone: the log interface decides."""
    import inspect

    import gbltr.pipeline as pipeline

    source = inspect.getsource(pipeline.prepare)
    assert "if cfg.streams" not in source and "lazy" not in source


# --- config parsing apart from the frozen config -------------------------------------------


def test_fusion_config_holds_no_parser_flag():
    import dataclasses

    from gbltr.labels.fusion import FusionConfig

    assert "explicit" not in {f.name for f in dataclasses.fields(FusionConfig)}
    cfg = load_config(None, {"labels": "fused", "fusion": {"weight_fn": "bucket"}})
    assert "explicit" not in json.dumps(cfg.to_json())


def test_fusion_settings_are_checked_on_the_raw_input():
    from gbltr.config import check_fusion_given
    from gbltr.errors import ConfigError

    with pytest.raises(ConfigError, match=r"fusion settings \['method'\] were given with --labels llm; fusion applies "
                                          "only to --labels fused"):
        load_config(None, {"labels": "llm", "fusion": {"method": "famol"}})
    with pytest.raises(ConfigError, match="--labels click"):  # the default labels
        check_fusion_given({"fusion": {"weight_fn": "log"}})
    check_fusion_given({"labels": "fused", "fusion": {"weight_fn": "log"}})
    check_fusion_given({"labels": "click"})


def test_saved_configs_reload_with_and_without_fusion(tmp_path):
    """A click run's config.json has no [fusion] table (it applies only to fused) and reloads; a
    fused run's reloads to the same object."""
    for over in ({"labels": "click"}, {"labels": "fused", "fusion": {"weight_fn": "bucket"}}):
        cfg = load_config(None, over)
        path = tmp_path / "config.json"
        path.write_text(json.dumps(cfg.to_json()))
        assert ("fusion" in cfg.to_json()) == (cfg.labels == "fused")
        assert load_config(path) == cfg


@pytest.mark.parametrize("labels,explicit", [("click", False), ("fused", True), ("fused", False)])
def test_older_config_json_with_explicit_still_loads(tmp_path, labels, explicit):
    """config.json files of older runs carry fusion.explicit (and, for any labels, the whole fusion
    table): rerank and export load them, so they load, the flag dropped."""
    cfg = load_config(None, {"labels": labels})
    data = cfg.to_json()
    data["fusion"] = {**load_config(None, {"labels": "fused"}).to_json()["fusion"], "explicit": explicit}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert load_config(path) == cfg


def test_annotate_config_uses_the_public_loader():
    """labels/llm/config.py builds its config through gbltr.settings, not private names of gbltr.config."""
    import ast
    import inspect

    import gbltr.labels.llm.config as llm_config

    tree = ast.parse(inspect.getsource(llm_config))
    private = [(node.module, a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for a in node.names if node.module and node.module.startswith("gbltr") and a.name.startswith("_")]
    assert private == []
    from gbltr.labels.llm.config import load_annotate_config

    cfg = load_annotate_config(None, {"data": "somewhere", "out": "x.parquet", "client": {"model": "m"}})
    assert cfg.client.model == "m" and cfg.data == "somewhere"


def test_settings_build_merge_are_public():
    from gbltr.errors import ConfigError
    from gbltr.settings import build, merge
    from gbltr.config import EvalConfig

    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}
    assert build(EvalConfig, {"ks": [5, 1]}).ks == (1, 5)
    with pytest.raises(ConfigError, match=r"\[eval\] unknown config key\(s\) \['k'\]"):
        build(EvalConfig, {"k": [1]}, "eval")


# --- each fact in one place ----------------------------------------------------------------


def test_human_grades_one_rule_for_training_and_early_stopping(world):
    from gbltr.labels.human import integer_grades
    from gbltr.train.fit import validation_grades

    grades, counts = integer_grades(np.array([-2.0, 0.5, 1.5, 2.0, 2.5, np.nan]))
    assert np.array_equal(grades, [0, 0, 2, 2, 2, np.nan], equal_nan=True)
    assert (counts.negative_to_0, counts.fractional_rounded) == (1, 3)

    class Valid:  # what validation_grades reads
        labels = {"human": np.array([-2.0, 0.5, 1.5, np.nan, 3.0])}

    assert np.array_equal(validation_grades(Valid), integer_grades(np.nan_to_num(Valid.labels["human"]))[0])


def test_gain_table_in_one_place():
    import inspect

    import gbltr.train.fit as fit
    import gbltr.train.fused as fused
    from gbltr.labels.fusion import default_gain, gain_for

    assert gain_for(np.array([0.0, 3.0, np.nan]), np.array([1.0])) == default_gain(3)
    assert gain_for(np.array([0.0])) == default_gain(1) and gain_for(np.array([np.nan])) == default_gain(4)
    for module in (fit, fused):
        assert "default_gain(" not in inspect.getsource(module)


def test_bucket_rule_in_one_place():
    from gbltr.buckets import BUCKETS, BY_FREQUENCY, LOWEST, BucketSpec
    from gbltr.labels.fusion import FusionConfig

    spec = BucketSpec(168, 12)
    f = np.array([0, 11, 12, 100, 167, 168, 5000])
    names = spec.of(f)
    assert names.tolist() == ["low", "low", "medium", "medium", "medium", "high", "high"]
    assert pl.DataFrame({"frequency": f}).select(spec.expr())["bucket"].to_list() == names.tolist()
    assert BY_FREQUENCY == tuple(reversed(BUCKETS)) and LOWEST == "low"
    w = FusionConfig(weight_fn="bucket", weight_params=BUCKET_W).weights(f, high_min=168, medium_min=12)
    assert w.tolist() == [BUCKET_W[b] for b in names]


def test_group_pointers_in_one_place(monkeypatch):
    """evaluate.metrics builds its group pointers through gbltr.groups (the one place)."""
    import gbltr.evaluate.metrics as metrics
    from gbltr.groups import group_ptr_from_ids

    ids = ["a", "a", "b", "c", "c", "c"]
    assert metrics.group_ptr_of(pl.Series(ids)).tolist() == group_ptr_from_ids(np.array(ids)).tolist() == [0, 2, 3, 6]
    calls = []
    monkeypatch.setattr(metrics, "group_ptr_from_ids", lambda a: calls.append(list(a)) or group_ptr_from_ids(a))
    metrics.group_ptr_of(pl.Series(ids))
    assert calls == [ids]


def test_split_names_are_not_overloaded():
    import gbltr.config as config
    import gbltr.schema as schema

    assert not hasattr(config, "SPLITS") and config.SPLIT_MODES == ("source", "random")
    assert schema.SPLITS == ("train", "valid", "test")


def test_fit_help_derives_its_defaults_and_schedule_names():
    from click.testing import CliRunner

    from gbltr.cli.fit import fit
    from gbltr.config import FitConfig
    from gbltr.labels.fusion import named_schedules

    text = " ".join(CliRunner().invoke(fit, ["--help"], terminal_width=10_000).output.split())
    d = FitConfig()
    for flag, value in (("--rounds", d.train.rounds), ("--schedule", d.fusion.schedule), ("--labels", d.labels),
                        ("--famol-form", d.fusion.form), ("--scheduler", d.train.scheduler),
                        ("--click-model", d.click.model), ("--workers", d.train.workers)):
        after = text.split(f" {flag} ", 1)[1]
        assert re.search(r"\[default: ([^\]]*)\]", after).group(1) == str(value), (flag, after[:200])
    assert f"({', '.join(named_schedules())})" in text
