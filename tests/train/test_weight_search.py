"""``weight_fn = "auto"``: the FAMOL weight search on validation queries."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gbltr.config import load_config
from gbltr.evaluate.report import write_run
from gbltr.pipeline import prepare
from gbltr.train.fit import evaluate, train_model
from gbltr.train.weight_search import grid, learnt_weights

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"
FEW = {"labels": "fused", "train": {"rounds": 4, "early_stopping": 0}}


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    import os

    old = os.environ.get("GBLTR_CACHE")
    os.environ["GBLTR_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield prepare(load_config(TINY, FEW))
    if old is None:
        os.environ.pop("GBLTR_CACHE")
    else:
        os.environ["GBLTR_CACHE"] = old


def _search(model):
    rec = dict(model.info["weight_search"])
    rec.pop("seconds"), rec.pop("cpu_seconds")  # timings vary run to run
    return rec


def test_learnt_weights_per_bucket_monotone_and_empty_bucket_fallback():
    # constant w -> validation nDCG overall and per bucket (hand-made)
    scores = {
        0.0: {"overall": 0.70, "high": 0.60, "medium": 0.70, "low": 0.90},
        0.5: {"overall": 0.80, "high": 0.70, "medium": 0.85, "low": 0.80},
        1.0: {"overall": 0.75, "high": 0.90, "medium": 0.60, "low": 0.70},
    }
    out = learnt_weights(scores, {"high": 10, "medium": 10, "low": 10})
    assert out["per_bucket_best"] == {"high": 1.0, "medium": 0.5, "low": 0.0}
    assert out["params"] == {"high": 1.0, "medium": 0.5, "low": 0.0} and out["fallback_buckets"] == []
    # a violation of monotonicity (low prefers more click weight than medium) is pooled,
    # weighted by the buckets' validation query counts: (1.0 * 30 + 0.0 * 10) / 40 = 0.75
    scores[0.0]["medium"], scores[1.0]["low"] = 0.99, 0.99
    out = learnt_weights(scores, {"high": 10, "medium": 10, "low": 30})
    assert out["per_bucket_best"] == {"high": 1.0, "medium": 0.0, "low": 1.0}
    assert out["params"] == {"high": 1.0, "medium": 0.75, "low": 0.75}
    # no validation queries in 'high': it takes the best constant over all validation queries (0.5)
    scores = {w: {**v, "high": None} for w, v in scores.items()}
    out = learnt_weights(scores, {"high": 0, "medium": 10, "low": 10})
    assert out["fallback_buckets"] == ["high"]
    assert out["per_bucket_best"]["high"] == 0.5


@pytest.mark.slow
def test_choice_is_reproducible_and_never_reads_test_labels(prep, tmp_path):
    cfg = load_config(TINY, FEW)
    assert cfg.fusion.weight_fn == "auto"  # the default
    model = train_model(prep, cfg)
    rec = _search(model)
    # every grid candidate on the cheap rung, then KEEP finalists trained in full
    assert [c["weight_fn"] for c in rec["rungs"][0]["candidates"][: len(grid())]] == [fn for fn, _ in grid()]
    assert len(rec["rungs"][1]["candidates"]) == 3
    finals = rec["rungs"][1]["candidates"]
    assert rec["choice"]["valid"]["overall"] == max(c["valid"]["overall"] for c in finals)
    # scrambled (and NaN) test labels: the same search, candidate by candidate
    rng = np.random.default_rng(1)
    human = rng.permutation(prep.test.labels["human"])
    human[::7] = np.nan
    scrambled = replace(prep, test=replace(prep.test, labels={**prep.test.labels, "human": human}))
    assert _search(train_model(scrambled, cfg)) == rec
    # the chosen model is the fixed-weight model it stands for (no retraining, same seed)
    chosen = replace(cfg, fusion=replace(cfg.fusion, weight_fn=rec["choice"]["weight_fn"],
                                         weight_params=rec["choice"]["params"]))
    fixed = train_model(prep, chosen)
    np.testing.assert_array_equal(fixed.predict(prep.test.X), model.predict(prep.test.X))
    # the run folder shows the search and plots the chosen function
    folder = write_run(tmp_path / "run", prep, model, evaluate(prep, model))
    report = json.loads((folder / "report.json").read_text())
    assert report["fusion"]["weight_fn"] == "auto"
    assert report["fusion"]["chosen"]["weight_fn"] == rec["choice"]["weight_fn"]
    assert report["weight_search"]["choice"] == rec["choice"]
    md = (folder / "report.md").read_text()
    assert "FAMOL weight search" in md and f"**Chosen: {rec['choice']['name']}**" in md
    assert (folder / "weights.png").stat().st_size > 0


@pytest.mark.slow
def test_no_validation_queries_in_a_bucket_is_handled_and_reported(prep):
    valid = prep.valid
    p = replace(prep, valid=valid.subset_queries(valid.bucket != "high"))
    model = train_model(p, load_config(TINY, FEW))
    rec = model.info["weight_search"]
    assert rec["n_valid_queries"]["high"] == 0
    assert rec["learnt"]["fallback_buckets"] == ["high"]
    assert all(c["valid"]["high"] is None for c in rec["rungs"][0]["candidates"])
    assert np.isfinite(rec["choice"]["valid"]["overall"])
