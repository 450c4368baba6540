"""Issue 18 (core): typed pipeline records, the one resolved bucket spec, config parsing apart
from the frozen config, and each fact in one place."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config

from .conftest import FAST, TINY, fast_config, run_cli

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
