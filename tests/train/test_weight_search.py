"""``weight_fn = "auto"``: the FAMOL weight search on validation queries."""

import json
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path

import numpy as np
import pytest

from gbltr.config import load_config
from gbltr.evaluate.report import write_run
from gbltr.pipeline import prepare
from gbltr.train.fit import evaluate, train_model
from gbltr.train.weight_search import (KEEP, RUNG_SAMPLE, SEARCH_SHARE, fewest_fit_rounds, grid, label, learnt_weights,
                                       rung_rounds, sample_queries, search_weights, validation_scores)

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
    # every grid candidate on the cheap rung, the KEEP best of it on the middle rung, the best of those in full
    rung1, rung2, (full,) = (r["candidates"] for r in rec["rungs"])
    assert [c["weight_fn"] for c in rung1[: len(grid())]] == [fn for fn, _ in grid()]
    top = sorted(rung1, key=lambda c: -c["valid"]["overall"])[:KEEP]
    assert [c["name"] for c in rung2] == [c["name"] for c in top]
    assert full["name"] == max(rung2, key=lambda c: c["valid"]["overall"])["name"] == rec["choice"]["name"]
    assert rec["choice"]["valid"] == full["valid"]
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
    # the candidate table: every candidate of every rung with its validation score, the cheap rungs' learning rate
    for rung in rec["rungs"]:
        for c in rung["candidates"]:
            assert f"| {c['name']}" in md and f"{c['valid']['overall']:.4f}" in md
    assert f"(learning rate {rec['rungs'][0]['learning_rate']:g})" in md
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


class _Poison:
    """A test split that fails on any read: the search must never touch it."""

    def __getattr__(self, name):
        raise AssertionError(f"the weight search read the test split ({name})")


@pytest.mark.slow
def test_search_reads_no_test_query(prep):
    cfg = load_config(TINY, {**FEW, "train": {"rounds": 12, "early_stopping": 3}})
    model = train_model(replace(prep, test=_Poison()), cfg)
    assert model.info["weight_search"]["choice"]["name"] == train_model(prep, cfg).info["weight_search"]["choice"]["name"]


# A search over fake models whose validation quality is known: each candidate ranks the validation
# documents by grade plus noise, the noise shrinking with the rounds trained and scaled by the
# candidate's own factor (smaller = better). Every candidate's curve improves with rounds and the
# order of candidates is the same at every round ("clear curves"), so the cheap search must choose
# what training every candidate in full and taking the best validation score chooses.

@dataclass
class _Model:
    factor: float
    rounds: int
    noise: np.ndarray
    info: dict = dc_field(default_factory=dict)

    @property
    def best_iteration(self):
        return self.rounds

    @property
    def history(self):
        return [0.0] * self.rounds

    def predict(self, X):
        return X[:, 0] + self.factor * (1.0 + 20.0 / self.rounds) * self.noise


def _fake_world(seed):
    rng = np.random.default_rng(seed)
    n_q, n_d = 150, 20
    grades = rng.integers(0, 5, size=n_q * n_d).astype(np.float64)
    valid = type("Valid", (), {})()
    valid.X = grades[:, None]
    valid.labels = {"human": grades}
    valid.group_ptr = np.arange(n_q + 1) * n_d
    valid.bucket = np.array(["high", "medium", "low"] * (n_q // 3))
    noise = rng.normal(size=grades.size)
    names = [label(fn, params) for fn, params in grid()]
    factors = dict(zip(names, 0.5 * 1.4 ** rng.permutation(len(names))))
    train = type("Train", (), {"bucket": np.array(["high", "medium", "low"] * 40), "n_queries": 120})()
    return type("Prep", (), {"valid": valid, "test": _Poison(), "train": train})(), factors, noise


@pytest.mark.parametrize("continue_training", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_cheap_search_picks_the_exhaustive_choice_when_curves_are_clear(seed, continue_training):
    prep, factors, noise = _fake_world(seed)
    cfg = load_config(None, {"labels": "fused"})
    settings = type("Settings", (), {"eval_at": 10})()
    full_rounds = 100
    calls = []

    def train_one(c, *, rounds=None, init=None, sample=None):
        assert init is None or continue_training
        assert (sample is None) == (rounds is None)  # the rungs train on a sample, the full fit on every query
        name = label(c.fusion.weight_fn, c.fusion.resolved_params())
        calls.append((name, rounds, init is not None, None if sample is None else sample.mean()))
        done = (init.rounds if init is not None else 0) + (full_rounds if rounds is None else rounds)
        return _Model(factors.get(name, 10.0), done, noise)

    model = search_weights(prep, cfg, settings, train_one=train_one, continue_training=continue_training)
    exhaustive = max(factors, key=lambda n: (validation_scores(_Model(factors[n], full_rounds, noise), prep.valid,
                                                                10)["overall"], -list(factors).index(n)))
    rec = model.info["weight_search"]
    assert rec["choice"]["name"] == exhaustive == min(factors, key=factors.get)
    # the cost: every candidate r1 rounds on a quarter of the queries, KEEP of them on to r2 on half, one full fit
    r1, r2 = rung_rounds(cfg.train, len(grid()) + 1, continue_training=continue_training)
    n1 = len(rec["rungs"][0]["candidates"])
    assert [c[1] is None for c in calls].count(True) == 1
    extra = (r2 - r1) if continue_training else r2
    assert rec["rounds_trained"] == n1 * r1 + KEEP * extra + full_rounds
    assert sum(1 for c in calls if c[2]) == (KEEP if continue_training else 0)
    assert sorted({c[3] for c in calls if c[3] is not None}) == [0.25, 0.5]
    spent = n1 * r1 * RUNG_SAMPLE[0] + KEEP * extra * RUNG_SAMPLE[1]
    assert rec["search_full_data_rounds"] == pytest.approx(spent)
    # bounded by the fewest rounds a fit can train (early stopping's patience + 1), so by the fit itself
    assert spent <= SEARCH_SHARE * fewest_fit_rounds(cfg.train) <= SEARCH_SHARE * full_rounds


@pytest.mark.slow
def test_stacked_form_search_returns_the_fixed_weight_model(prep):
    # the stacked form trains on new stacked rows per candidate and bins them by the unstacked
    # rows (bin_reference): reusing those bins across candidates must not change the chosen model
    cfg = load_config(TINY, {**FEW, "fusion": {"form": "stacked"}, "train": {"rounds": 12, "early_stopping": 3}})
    model = train_model(prep, cfg)
    ch = model.info["weight_search"]["choice"]
    fixed = train_model(prep, replace(cfg, fusion=replace(cfg.fusion, weight_fn=ch["weight_fn"], weight_params=ch["params"])))
    np.testing.assert_array_equal(fixed.predict(prep.test.X), model.predict(prep.test.X))


def test_rung_samples_are_nested_per_bucket_and_reproducible():
    bucket = np.array(["high"] * 7 + ["medium"] * 20 + ["low"] * 73)
    quarter, half = (sample_queries(bucket, s, seed=3) for s in (0.25, 0.5))
    for b, n in (("high", 7), ("medium", 20), ("low", 73)):
        m = bucket == b
        assert quarter[m].sum() == int(np.ceil(0.25 * n)) and half[m].sum() == int(np.ceil(0.5 * n))
    assert (half[quarter]).all()  # the middle rung's queries hold the cheap rung's
    assert np.array_equal(quarter, sample_queries(bucket, 0.25, seed=3))
    assert not np.array_equal(quarter, sample_queries(bucket, 0.25, seed=4))
    assert sample_queries(bucket, 1.0, seed=0).all()


def test_rung_rounds_scale_with_the_fit_and_stay_within_its_share():
    cfg = load_config(None, {})
    for rounds, patience in ((300, 30), (3000, 300), (1000, 0), (300, 5)):
        train = replace(cfg.train, rounds=rounds, early_stopping=patience)
        for cont in (True, False):
            r1, r2 = rung_rounds(train, 11, continue_training=cont)
            spent = 11 * r1 * RUNG_SAMPLE[0] + KEEP * (r2 - r1 if cont else r2) * RUNG_SAMPLE[1]
            assert r2 == 3 * r1 and (spent <= SEARCH_SHARE * fewest_fit_rounds(train) or r1 == 1)
    assert rung_rounds(replace(cfg.train, rounds=3000, early_stopping=300), 11)[0] > rung_rounds(cfg.train, 11)[0]
