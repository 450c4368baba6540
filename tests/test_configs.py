"""Every example config in configs/ loads, round-trips through its saved JSON, and trains: on the
tiny world (configs/tiny-world.toml's [world]) for a few rounds, so that a config that rots fails
here. Every named schedule (package data in gbltr/train/schedules/) loads, by name and by path."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from gbltr.config import load_config
from gbltr.errors import DeviceError
from gbltr.train.fit import evaluate, prepare, train_model
from gbltr.train.fused import load_schedule, named_schedules

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY_WORLD = tomllib.loads((CONFIGS / "tiny-world.toml").read_text())["world"]
CHEAP = {"world": TINY_WORLD, "train": {"rounds": 3, "early_stopping": 0}}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GBLTR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def test_the_examples_are_all_here():
    assert sorted(p.name for p in CONFIGS.glob("*.toml")) == [
        "clicks-dbn-debias.toml", "control-world.toml", "fused-famol.toml", "fused-schedule.toml", "tiny-world.toml", "xgboost-cuda.toml",
    ]


def _assert_holds(written, held, where):
    """Every key the file writes, at any depth, holds that value; keys it leaves out take defaults."""
    if isinstance(written, dict):
        assert isinstance(held, dict), (where, held)
        for key, value in written.items():
            assert key in held, where + (key,)
            _assert_holds(value, held[key], where + (key,))
    else:
        assert held == written, where


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.stem)
def test_each_config_loads_round_trips_and_trains_on_the_tiny_world(path, tmp_path):
    cfg = load_config(path)
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(cfg.to_json()))
    assert load_config(saved) == cfg
    as_json = cfg.to_json()
    _assert_holds(tomllib.loads(path.read_text()), as_json, ())  # what the file says is what the config holds
    cheap = load_config(path, CHEAP)
    prep = prepare(cheap)
    if cheap.train.device == "cuda":
        try:
            model = train_model(prep, cheap)
        except DeviceError as exc:  # no GPU here: the refusal must say how to run on CPU
            assert "--device cpu" in str(exc)
            return
    else:
        model = train_model(prep, cheap)
    per_query = evaluate(prep, model)
    assert per_query.height == prep.test.n_queries > 0


@pytest.mark.parametrize("name", sorted(named_schedules()))
def test_each_named_schedule_loads(name):
    stages = load_schedule(name)
    assert stages and load_schedule(str(named_schedules()[name])) == stages
