"""Threads must not change a model (issue 22): ``train.threads`` 1 and 2 train the same trees.

gbltr's default thread count follows the machine (:func:`gbltr.threads.thread_count`), so a
model may only depend on the data, the config and the seed, never on how many threads trained it.
Compared: each backend's built-in ranking objective and the FAMOL custom objective (numba
kernel, ``parallel=True`` over queries), through the backend's own tree export
(:meth:`Backend.forest`) and the scores, bit for bit, in one process.
"""

from __future__ import annotations

import numpy as np
import pytest

from gbltr.config import TrainConfig
from gbltr.groups import group_ptr_from_sizes
from gbltr.train.backends import NAMES, TrainRequest, get_backend
from gbltr.train.backends.custom import make_famol_objective

GAIN = [2.0**i - 1 for i in range(5)]


def _data(seed: int, n_queries: int, per: int = 20, features: int = 8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_queries * per, features))
    signal = X[:, :3] @ np.array([1.0, 0.6, 0.3])
    y = np.clip(np.floor(signal + rng.normal(size=X.shape[0]) + 1.5), 0, 4)
    llm = np.clip(np.floor(signal + rng.normal(scale=0.5, size=X.shape[0]) + 1.5), 0, 4)
    return X, y, llm.astype(np.int32), np.full(n_queries, per)


@pytest.mark.parametrize("objective", ["built-in", "famol"])
@pytest.mark.parametrize("name", NAMES)
def test_thread_count_does_not_change_the_model(name, objective):
    X, y, llm, groups = _data(0, 400)
    vX, vy, _, vgroups = _data(1, 40)
    backend = get_backend(name)
    models = {}
    for threads in (1, 2):
        cfg = TrainConfig(backend=name, rounds=15, early_stopping=0, num_leaves=15, threads=threads,
                          learning_rate=0.3)
        kw = {}
        if objective == "famol":
            w = np.linspace(0.2, 0.8, groups.size)
            kw["objective"] = make_famol_objective(y.astype(np.int32), llm, group_ptr_from_sizes(groups), w, 1.0 - w,
                                                   click_gain=GAIN, llm_gain=GAIN)
        models[threads] = backend.train(TrainRequest(X, y, groups, vX, vy, vgroups, cfg, seed=0,
                                                     label_gain=GAIN, **kw))
    one, two = models[1], models[2]
    assert backend.forest(one) == backend.forest(two)
    np.testing.assert_array_equal(one.predict(vX), two.predict(vX))
    np.testing.assert_array_equal(one.predict(X), two.predict(X))
