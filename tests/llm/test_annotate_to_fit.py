"""The annotator's label set feeds training: gbltr annotate --data DIR, then gbltr fit --labels llm --llm-labels."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from gbltr.cli import main
from gbltr.data.simulate import WorldParams, write_world

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"


def _run(args):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


@pytest.mark.slow
def test_annotated_labels_train_a_model(fake_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    world = write_world(WorldParams(queries=600, sessions=20000, test_queries_per_bucket=25,
                                    valid_queries_per_bucket=15, min_train_queries_per_bucket=10), tmp_path / "world")
    labels = tmp_path / "llm.parquet"
    _run(["annotate", "--strategy", "list", "--data", str(world), "--model", "fake", "--base-url", fake_server.base_url,
          "--out", str(labels), "--limit-queries", "80", "--no-progress"])
    lab = pl.read_parquet(labels)
    assert lab["query_id"].n_unique() == 80 and lab["label"].null_count() < lab.height
    _run(["fit", "--labels", "llm", "--llm-labels", str(labels), "--data", str(world), "--config", str(TINY),
          "--out", str(tmp_path / "run")])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["labels"] == "llm" and report["n_queries"]["overall"] == 75
    # only annotated training queries can have entered training
    assert 0 < sum(report["training"]["n_labelled_train_queries"]["llm"].values()) <= 80
