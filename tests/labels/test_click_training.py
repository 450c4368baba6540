"""Click labels in training: every click model feeds ``gbltr fit``; --debias trains LightGBM's
``position`` and XGBoost's ``lambdarank_unbiased`` on rows in displayed order; IPS weights; the
run folder keeps the click labels."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config
from gbltr.errors import ConfigError
from gbltr.labels.clicks import CLICK_MODELS
from gbltr.pipeline import prepare
from gbltr.train.fit import click_debiasing, fit, train_model

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GBLTR_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def cfg_of(**click):
    return load_config(TINY, {"labels": "click", "click": click, "train": {"rounds": 20}})


@pytest.mark.slow
@pytest.mark.parametrize("model", CLICK_MODELS)
def test_every_click_model_trains(model):
    prep = prepare(cfg_of(model=model))
    assert prep.log.click.click_model == model and prep.log.click.click_fit["iterations"] >= 1
    assert train_model(prep).best_iteration >= 1


@pytest.mark.slow
def test_debias_orders_rows_by_displayed_position_and_trains_both_backends(tmp_path):
    prep = prepare(cfg_of(model="pbm", debias=True))
    part = prep.train.labelled_by("click")
    pos = click_debiasing(part, prep.config).position
    for a, b in zip(part.group_ptr[:-1], part.group_ptr[1:]):
        assert np.all(np.diff(pos[a:b]) >= 0)  # displayed order, unshown last
    assert pos.min() == 0 and pos.max() <= prep.config.click.max_positions
    lgb_model = train_model(prep)
    assert lgb_model.booster.params.get("objective") == "lambdarank" and lgb_model.best_iteration >= 1
    xgb_cfg = load_config(TINY, {"labels": "click", "click": {"model": "pbm", "debias": True},
                                 "train": {"rounds": 20, "backend": "xgboost"}})
    booster = train_model(prep, xgb_cfg).booster
    assert '"lambdarank_unbiased":"1"' in booster.save_config().replace(" ", "")
    # the run folder keeps the click labels it trained on, and the click model
    folder = fit(cfg_of(model="pbm", debias=True), out=tmp_path / "run")
    saved = pl.read_parquet(folder / "click_labels.parquet")
    assert saved.equals(prep.click.frame)
    assert (folder / "click_model" / "model.json").exists()


@pytest.mark.slow
def test_ips_weights_reach_lightgbm_and_are_refused_by_xgboost():
    prep = prepare(cfg_of(ips_weights=True))
    w = click_debiasing(prep.train.labelled_by("click"), prep.config).row_weight
    assert np.all(w >= 1) and w.max() > 1  # 1 / examination, examination <= 1 relative to position 1
    assert train_model(prep).best_iteration >= 1
    xgb = load_config(TINY, {"labels": "click", "click": {"ips_weights": True}, "train": {"backend": "xgboost", "rounds": 5}})
    with pytest.raises(ConfigError, match="one weight per query group"):
        train_model(prep, xgb)


@pytest.mark.slow
def test_clicks_fit_reads_a_dataset_folder_with_human_labels(tmp_path):
    from gbltr.labels.clicks.report import fit_log
    from gbltr.pipeline import builtin_world

    world = builtin_world(load_config(TINY).world)
    rep = fit_log(world, ["dctr", "pbm"], tmp_path / "r", test_share=0.25, seed=1)
    assert rep["held_out"].startswith("seeded split by session") and rep["held_out_sessions_scored"] > 0
    assert {r["bucket"] for r in rep["agreement"]["pbm"]} == {"overall", "high", "medium", "low"}
    # the simulated world's clicks follow a PBM: it beats the document-CTR baseline
    perp = {m["model"]: m["perplexity"] for m in rep["models"]}
    assert perp["pbm"] < perp["dctr"]
