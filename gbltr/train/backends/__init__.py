"""Training backends: the one registry.

:data:`REGISTRY` names each backend with what is known without importing its library: the
module that implements it (a :class:`~gbltr.train.backends.base.Backend`, loaded only by
:func:`get_backend`), the model file it writes, its :class:`Capabilities` and a one-line
summary. The config (``train.backend``), the CLI's ``--backend`` choices and the docs read
:data:`NAMES` from here, so ``import gbltr`` (and ``gbltr.config``) imports neither LightGBM nor
XGBoost. The contract itself (:class:`Backend`, :class:`TrainRequest`) is
:mod:`gbltr.train.backends.base`; the Dask engine that trains either backend on a cluster is
:mod:`gbltr.train.backends.dask` (:func:`open_backend` picks it).
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import unknown_choice
from gbltr.threads import prepare_openmp
from gbltr.train.backends.base import Backend, Capabilities, TrainRequest, TrainSettings

__all__ = ["REGISTRY", "NAMES", "DEFAULT", "Backend", "BackendSpec", "Capabilities", "TrainRequest", "TrainSettings",
           "get_backend", "open_backend", "spec", "spec_for_model_file"]


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: ``module`` holds its ``BACKEND`` instance; ``model_file`` is the
    file it writes into a run folder; ``suffixes`` the model-file suffixes it reads;
    ``mlflow_flavour`` the module of the MLflow model flavour its booster is logged through
    (``mlflow.<library>``, whose ``log_model`` takes the native booster; :mod:`gbltr.track.runs`),
    None where MLflow has none."""

    name: str
    module: str
    model_file: str
    suffixes: tuple[str, ...]
    capabilities: Capabilities
    summary: str
    mlflow_flavour: str | None = None


REGISTRY: dict[str, BackendSpec] = {s.name: s for s in (
    BackendSpec(
        "lightgbm", "gbltr.train.backends.lightgbm", "model.txt", (".txt",),
        Capabilities(row_weights=True, group_weights=False, positions=True, custom_objective=True, gpu=True,
                     bin_reference=True, min_data_in_leaf=True, continue_training=True),
        "LightGBM lambdarank (per-row weights; CUDA only with a CUDA build of LightGBM)", "mlflow.lightgbm"),
    BackendSpec(
        "xgboost", "gbltr.train.backends.xgboost", "model.json", (".json", ".ubj"),
        Capabilities(row_weights=False, group_weights=True, positions=True, custom_objective=True, gpu=True,
                     bin_reference=False, min_data_in_leaf=False, continue_training=True),
        "XGBoost rank:ndcg (one weight per query; --device cuda on a GPU)", "mlflow.xgboost"),
)}
NAMES: tuple[str, ...] = tuple(REGISTRY)
DEFAULT = NAMES[0]
"""``train.backend`` when none is given: the first registered."""


def spec(name: str) -> BackendSpec:
    """The registry entry of ``name``; ConfigError listing the choices when there is none."""
    if name not in REGISTRY:
        raise unknown_choice("backend", name, REGISTRY)
    return REGISTRY[name]


def spec_for_model_file(path: str | Path) -> BackendSpec | None:
    """The backend that reads ``path``: by its exact run-folder file name, else by suffix."""
    p = Path(path)
    for s in REGISTRY.values():
        if p.name == s.model_file:
            return s
    return next((s for s in REGISTRY.values() if p.suffix in s.suffixes), None)


def get_backend(name: str) -> Backend:
    """The backend ``name`` (its library imported now, not before)."""
    entry = spec(name)
    prepare_openmp()  # the OpenMP wait, before LightGBM / XGBoost load OpenMP (see gbltr.threads)
    return importlib.import_module(entry.module).BACKEND


@contextmanager
def open_backend(cfg):
    """The backend a ``TrainConfig`` asks for, on its engine: one machine (``engine = "single"``)
    or a Dask cluster (``"dask"``: one connection for every model trained inside the block)."""
    if cfg.engine == "dask":
        prepare_openmp()  # before this process loads OpenMP and before local workers inherit the environment
        from gbltr.train.backends.dask import DaskBackend

        with DaskBackend(cfg.backend, cfg.scheduler, cfg.workers) as backend:
            yield backend
        return
    yield get_backend(cfg.backend)
