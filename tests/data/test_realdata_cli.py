"""Real data end to end through the CLI: import -> simulate --over -> fit / ablation (issue 9's
"done when"), on small slices of ../shared/data (skipped when absent)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from gbltr.buckets import BucketSpec, bucket_counts, bucket_notes, resolve_spec
from gbltr.data.importers import import_dataset
from gbltr.data.simulate.over import OverParams, simulate_over
from gbltr.data.store import read_dataset
from gbltr.errors import ConfigError
from realdata_slices import gbltr, letor_slice, qbqtc_slice

LABELS = ("human", "click", "llm", "fused")


@pytest.fixture
def letor_sim(shared_data, tmp_path):
    src = letor_slice(shared_data("letor"), tmp_path, 900)
    import_dataset([("svmlight", [src])], tmp_path / "letor-ds")
    simulate_over(tmp_path / "letor-ds", tmp_path / "letor-sim", OverParams(seed=3, sessions=4000))
    return tmp_path / "letor-sim"


@pytest.mark.slow
def test_fit_every_label_source_on_letor_simulated_over(letor_sim, tmp_path, capsys):
    for labels in LABELS:
        code, out, err = gbltr("fit", "--labels", labels, "--data", letor_sim, "--split", "random", "--catalogue",
                               "letor4", "--rounds", "8", "--out", tmp_path / labels, capsys=capsys)
        assert code == 0, err
        report = json.loads((tmp_path / labels / "report.json").read_text())
        assert report["labels"] == labels
        assert list(report["n_queries"]) == ["overall", "high", "medium", "low"]
        sources = set(pl.read_parquet(tmp_path / labels / "train_labels.parquet")["source"])
        assert sources == ({"click", "llm"} if labels == "fused" else {labels})
        assert 0 < report["metrics"]["overall"]["ndcg@10"] <= 1


@pytest.mark.slow
def test_ablation_with_the_letor4_catalogue(letor_sim, tmp_path, capsys):
    code, out, err = gbltr("ablation", "--data", letor_sim, "--split", "random", "--catalogue",
                           "features/catalogues/letor4.toml", "--labels", "human,click", "--groups",
                           "document,query_document", "--rounds", "5", "--out", tmp_path / "abl", capsys=capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert summary["features"]["document"] == [f"f{i}" for i in (16, 17, 18, 19, 20, 41, 42, 43, 44, 45, 46)]
    assert len(summary["features"]["query_document"]) == 30
    assert summary["labels"] == ["human", "click"]
    assert {(r["labels"], r["group"]) for r in summary["deltas"]} >= {
        (lab, g) for lab in ("human", "click") for g in ("document", "query_document")}
    assert list(summary["n_queries"]) == ["high", "medium", "low"]  # every bucket, zero included
    md = (tmp_path / "abl" / "ablation.md").read_text()
    assert "Test queries that can rank (a relevant document and two grades) per bucket: high" in md


@pytest.mark.slow
def test_fit_on_qbqtc_simulated_over_uses_its_text_and_source_split(shared_data, tmp_path, capsys):
    src = qbqtc_slice(shared_data("qbqtc"), tmp_path, 400)
    import_dataset([("corpus", [src])], tmp_path / "q")
    simulate_over(tmp_path / "q", tmp_path / "q-sim", OverParams(seed=1))
    for labels in ("human", "fused"):
        code, _, err = gbltr("fit", "--labels", labels, "--data", tmp_path / "q-sim", "--rounds", "10",
                             "--out", tmp_path / labels, capsys=capsys)
        assert code == 0, err
    report = json.loads((tmp_path / "fused" / "report.json").read_text())
    assert "bm25_title" in report["features"]  # built from the titles
    assert report["training"]["split"] == "source"
    assert "bm25_body" in report["features"] or "no document text" not in json.dumps(report["training"]["skipped"])


def test_simulate_over_click_model_and_llm_view(tmp_path):
    """A hand-made dataset: position bias shows in the log; the LLM view keeps ~accuracy of grades."""
    from gbltr.data.store import SearchDataset, write_dataset

    n_q, n_d = 60, 12
    q = [f"q{i}" for i in range(n_q)]
    pairs = pl.DataFrame({"query_id": np.repeat(q, n_d), "doc_id": [f"{a}-{b}" for a in q for b in range(n_d)]})
    cand = pairs.with_columns(rank=pl.int_range(1, n_d + 1).over("query_id").cast(pl.Int32),
                              retrieval_score=pl.lit(None, dtype=pl.Float64))
    rel = np.tile(np.arange(n_d) % 3, n_q).astype(float)
    ds = SearchDataset(
        queries=pl.DataFrame({"query_id": q, "text": [None] * n_q}, schema={"query_id": pl.String, "text": pl.String}),
        documents=pl.DataFrame({"doc_id": pairs["doc_id"], "title": None, "body": None, "url": None},
                               schema={"doc_id": pl.String, "title": pl.String, "body": pl.String, "url": pl.String}),
        candidates=cand, labels={"human": pairs.with_columns(label=pl.Series(rel), source=pl.lit("human"))})
    write_dataset(ds, tmp_path / "src")
    p = OverParams(seed=5, sessions=20000, llm_accuracy=0.7)
    simulate_over(tmp_path / "src", tmp_path / "a", p)
    simulate_over(tmp_path / "src", tmp_path / "b", p)
    a, b = read_dataset(tmp_path / "a"), read_dataset(tmp_path / "b")
    assert a.impressions.equals(b.impressions)  # seeded
    log = a.impressions.join(a.labels["human"].select("query_id", "doc_id", "label"), on=["query_id", "doc_id"])
    ctr = log.filter(pl.col("label") == 2).group_by("position").agg(pl.col("clicked").mean()).sort("position")
    assert ctr["clicked"][0] > 2 * ctr["clicked"][-1]  # same grade, lower position, fewer clicks
    freq = a.impressions.group_by("query_id").agg(pl.col("session_id").n_unique())["session_id"]
    assert freq.sum() == 20000 and freq.max() > 10 * freq.median()  # a power law
    llm = a.labels["human"].join(a.labels["llm"], on=["query_id", "doc_id"], suffix="_llm")
    agree = float((llm["label"] == llm["label_llm"]).mean())
    assert 0.65 < agree < 0.75


def test_quantile_buckets_and_notes():
    f = np.r_[np.ones(50), np.full(40, 5), np.full(10, 300)]
    spec = resolve_spec(BucketSpec(), (0.5, 0.9), f)
    assert (spec.medium_min, spec.high_min) == (3, 35)  # ceil of numpy quantiles 3.0 and 34.5
    assert resolve_spec(BucketSpec(), (), f) == BucketSpec()
    with pytest.raises(ConfigError, match="two increasing numbers"):
        resolve_spec(BucketSpec(), (0.9, 0.5), f)
    counts = bucket_counts(["low", "low", "medium"])
    assert counts == {"high": 0, "medium": 1, "low": 2}
    notes = bucket_notes(counts)
    assert any("'high' has no" in n for n in notes) and any("'medium' has 1" in n for n in notes)
