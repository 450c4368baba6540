"""Issue 19: gbltr plan -> gbltr annotate --plan (exactly the plan) -> gbltr fit --labels fused."""

from __future__ import annotations

import json

import polars as pl

from gbltr.cli import main
from gbltr.data.simulate import WorldParams, write_world

TINY = dict(queries=240, sessions=12000, test_queries_per_bucket=8, valid_queries_per_bucket=6,
            min_train_queries_per_bucket=5, vocab_size=800, topics=8, candidates_min=6, candidates_max=10)


def _run(args):
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def test_plan_annotate_fit(fake_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    world = write_world(WorldParams(seed=1, **TINY), tmp_path / "world")
    (world / "labels" / "llm.parquet").unlink()
    manifest = json.loads((world / "dataset.json").read_text())
    manifest["labels"].pop("llm")
    (world / "dataset.json").write_text(json.dumps(manifest))
    plan = tmp_path / "plan.parquet"
    _run(["plan", "--data", str(world), "--budget", "60", "--planner", "tail-first",
          "--strategy", "list", "--out", str(plan)])
    labels = tmp_path / "llm.parquet"
    _run(["annotate", "--data", str(world), "--plan", str(plan), "--strategy", "list", "--model", "fake", "--base-url", fake_server.base_url,
          "--out", str(labels), "--no-progress"])
    planned = pl.read_parquet(plan).select("query_id", "doc_id").sort("query_id", "doc_id")
    got = pl.read_parquet(labels)
    assert got.select("query_id", "doc_id").sort("query_id", "doc_id").equals(planned)  # exactly the plan
    cfg = tmp_path / "fast.toml"
    cfg.write_text('[train]\nrounds = 3\nearly_stopping = 0\nthreads = 1\n[fusion]\nweight_fn = "sigmoid"\n')
    _run(["fit", "--labels", "fused", "--llm-labels", str(labels), "--data", str(world), "--config", str(cfg),
          "--out", str(tmp_path / "run")])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    partial = report["training"]["partial_llm"]
    with_llm = sum(v["queries_with_llm"] for v in partial.values())
    assert 0 < with_llm <= planned["query_id"].n_unique()
    assert sum(v["click_only_queries"] for v in partial.values()) > 0
