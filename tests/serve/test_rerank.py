"""``gbltr rerank`` and the model round trip, on runs trained on the tiny simulated world.

- A run folder's model, loaded back through the backends' ``load()``, scores the test rows exactly
  as the in-memory booster did in training (both backends).
- Features built for rerank equal the training features for the same pairs (same documents
  table, same frequency source), and the reranked scores are the model's scores of those rows.
- Data missing a feature the model needs is a clear error, not a zero-filled column.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config
from gbltr.errors import DataError
from gbltr.evaluate.report import write_run
from gbltr.pipeline import prepare
from gbltr.serve.rerank import read_trec_run, rerank, rerank_features
from gbltr.serve.run import load_run
from gbltr.train.backends import get_backend
from gbltr.train.fit import evaluate, train_model

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"
BACKENDS = ("lightgbm", "xgboost")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """prep, in-memory models and their run folders, one per backend."""
    old = os.environ.get("GBLTR_CACHE")
    os.environ.setdefault("GBLTR_CACHE", str(tmp_path_factory.mktemp("cache")))
    cfg = load_config(TINY, {"labels": "llm", "train": {"rounds": 15}})
    prep = prepare(cfg)
    models, folders = {}, {}
    for backend in BACKENDS:
        c = replace(cfg, train=replace(cfg.train, backend=backend))
        p = replace(prep, config=c)
        models[backend] = train_model(p, c)
        folders[backend] = write_run(tmp_path_factory.mktemp(backend) / "run", p, models[backend], evaluate(p, models[backend]))
    yield prep, models, folders
    if old is None:
        os.environ.pop("GBLTR_CACHE", None)


def training_rows(prep) -> pl.DataFrame:
    test = prep.test
    qids = np.repeat(test.query_ids.astype(str), np.diff(test.group_ptr))
    frame = pl.DataFrame({"query_id": qids, "doc_id": test.doc_ids.astype(str)})
    return frame.with_columns([pl.Series(n, test.X[:, i]) for i, n in enumerate(prep.feature_names)])


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_and_reloaded_model_scores_as_in_training(trained, backend):
    prep, models, folders = trained
    model = models[backend]
    loaded = get_backend(backend).load(folders[backend] / model.model_file)
    assert loaded.backend == backend and loaded.feature_names == tuple(prep.feature_names)
    assert loaded.best_iteration == model.best_iteration
    np.testing.assert_array_equal(loaded.predict(prep.test.X), model.predict(prep.test.X))
    run = load_run(folders[backend])
    np.testing.assert_array_equal(run.model.predict(prep.test.X), model.predict(prep.test.X))


@pytest.mark.slow
def test_rerank_features_equal_training_features(trained):
    prep, _, folders = trained
    run = load_run(folders["lightgbm"])
    rows = training_rows(prep)
    built, source = rerank_features(run, prep.dataset_path, rows.select("query_id", "doc_id").with_columns(rank=pl.lit(1)))
    assert source == "built"
    joined = rows.join(built, on=["query_id", "doc_id"], suffix="_rerank")
    assert joined.height == rows.height
    for name in prep.feature_names:
        a = joined[name].to_numpy()
        b = joined[f"{name}_rerank"].to_numpy().astype(np.float32)
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_rerank_scores_are_the_models_scores(trained, backend, tmp_path):
    from gbltr.cli import main

    prep, models, folders = trained
    rows = training_rows(prep)
    expected = rows.select("query_id", "doc_id").with_columns(expected=pl.Series(models[backend].predict(prep.test.X)))
    # a first-stage run over the test queries only
    first = tmp_path / "first.trec"
    first.write_text("".join(f"{q} Q0 {d} {i + 1} {-i} bm25\n" for i, (q, d) in enumerate(rows.select("query_id", "doc_id").iter_rows())))
    out = tmp_path / "ranking.trec"
    main(["rerank", str(folders[backend]), "--data", prep.dataset_path, "--run-file", str(first), "--out", str(out)])
    ranked = pl.read_parquet(out.with_suffix(".parquet"))
    assert ranked.height == rows.height
    got = ranked.join(expected, on=["query_id", "doc_id"])
    np.testing.assert_allclose(got["score"].to_numpy(), got["expected"].to_numpy(), rtol=0, atol=1e-12)
    for _, group in ranked.group_by("query_id"):
        g = group.sort("rank")
        assert g["rank"].to_list() == list(range(1, g.height + 1))
        assert (np.diff(g["score"].to_numpy()) <= 0).all()
    trec = read_trec_run(out)
    assert trec.height == rows.height and out.read_text().splitlines()[0].split()[1] == "Q0"


@pytest.mark.slow
def test_rerank_data_missing_a_feature_the_model_needs(trained, tmp_path):
    prep, _, folders = trained
    data = tmp_path / "new"
    data.mkdir()
    src = Path(prep.dataset_path)
    for name in ("queries", "candidates", "impressions"):
        shutil.copy(src / f"{name}.parquet", data)
    docs = pl.read_parquet(src / "documents.parquet")
    assert "pagerank" in docs.columns
    docs.drop("pagerank").write_parquet(data / "documents.parquet")
    with pytest.raises(DataError, match=r"needs feature\(s\) \['doc_pagerank'.*cannot be built"):
        rerank(folders["lightgbm"], data)
    # precomputed features that lack a column
    shutil.copy(src / "documents.parquet", data)
    rows = training_rows(prep).drop("bm25_body")
    rows.write_parquet(data / "features.parquet")
    with pytest.raises(DataError, match=r"needs feature column\(s\) \['bm25_body'\]"):
        rerank(folders["xgboost"], data)
