"""The backends' ``load()`` and :func:`gbltr.train.model.load_model`: a saved booster reloads
with the same feature names, the kept number of rounds and bit-identical scores; a missing,
truncated or foreign model file is a :class:`ModelError` naming the file, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

from gbltr.config import TrainConfig
from gbltr.errors import ModelError
from gbltr.train.backends import TrainRequest, get_backend
from gbltr.train.model import load_model

NAMES = ("f0", "f1", "f2")


def trained(backend: str, rounds: int = 12, early_stopping: int = 0):
    rng = np.random.default_rng(0)
    X = rng.random((400, 3)).astype(np.float32)
    X[rng.random(400) < 0.1, 1] = np.nan
    y = np.clip(np.rint(X[:, 0] * 4), 0, 4)
    vX = rng.random((200, 3)).astype(np.float32)
    vy = np.clip(np.rint(vX[:, 0] * 4), 0, 4)
    cfg = TrainConfig(backend=backend, rounds=rounds, early_stopping=early_stopping, min_data_in_leaf=5)
    model = get_backend(backend).train(TrainRequest(X, y, np.full(40, 10), vX, vy, np.full(20, 10), cfg, seed=0,
                                       label_gain=[2.0**i - 1 for i in range(5)], feature_names=NAMES))
    return model, X


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_load_round_trip(backend, tmp_path):
    model, X = trained(backend)
    path = model.save(tmp_path)
    assert path.name == model.model_file
    for loaded in (get_backend(backend).load(path), load_model(tmp_path), load_model(path)):
        assert loaded.backend == backend and loaded.feature_names == NAMES
        assert loaded.best_iteration == model.best_iteration
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_saved_model_keeps_only_the_best_iteration(backend, tmp_path):
    model, X = trained(backend, rounds=60, early_stopping=3)
    assert model.best_iteration < 60  # early stopping cut it: the saved file must hold the kept trees only
    loaded = load_model(model.save(tmp_path))
    assert loaded.best_iteration == model.best_iteration
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_truncated_or_foreign_model_files_are_clear_errors(backend, tmp_path):
    model, _ = trained(backend, rounds=3)
    path = model.save(tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ModelError, match="corrupt|does not load"):
        get_backend(backend).load(path)
    path.write_text("this is not a model\n")
    with pytest.raises(ModelError, match=path.name):
        load_model(tmp_path)
    path.unlink()
    with pytest.raises(ModelError, match="has no model file"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "model.json")
