"""Training backends by name. Each module exposes ``train(...) -> FittedRanker`` and ``load(path)``.

The registry maps names to modules, imported only when used, so ``import gbltr`` imports
neither LightGBM nor XGBoost.
"""

from __future__ import annotations

import importlib

from gbltr.errors import unknown_choice
from gbltr.threads import prepare_openmp

BACKENDS = {
    "lightgbm": "gbltr.train.backends.lightgbm",
    "xgboost": "gbltr.train.backends.xgboost",
}


def get_backend(name: str):
    if name not in BACKENDS:
        raise unknown_choice("backend", name, BACKENDS)
    prepare_openmp()  # before LightGBM / XGBoost load OpenMP (see gbltr.threads)
    return importlib.import_module(BACKENDS[name])
