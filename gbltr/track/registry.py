"""Registered models as run folders: ``models:/NAME/VERSION`` for ``rerank``, ``export`` and ``compare``.

A model logged by ``gbltr fit --mlflow`` (:mod:`gbltr.track.runs`) carries, beside its MLflow
flavour files, the run-folder files ``rerank`` and ``export`` read (the native model file,
``config.json``, ``report.json``, ``catalogue.toml``; ``per_query.parquet`` for ``compare``) in
the flavour's ``extra_files/``. :func:`registered_folder` downloads them to a temporary folder,
which :func:`gbltr.serve.run.load_run` then reads exactly as it reads a run folder: the scores
equal the run folder's bit for bit.

The tracking URI is the standard ``MLFLOW_TRACKING_URI`` (else :data:`gbltr.track.DEFAULT_STORE`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from gbltr.errors import ModelError, TrackingError
from gbltr.track import DEFAULT_STORE, MODEL_URI_PREFIX, check_uri, redact, require_mlflow

MODEL_URI_FORM = "models:/NAME/VERSION (or models:/NAME@ALIAS)"


def tracking_uri() -> str:
    """Where registered models are looked up: ``MLFLOW_TRACKING_URI``, else :data:`DEFAULT_STORE`."""
    return check_uri(os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE)


def parse_model_uri(uri: str) -> tuple[str, str]:
    """(NAME, VERSION or @ALIAS) of ``models:/NAME/VERSION`` / ``models:/NAME@ALIAS``; else :class:`ModelError`."""
    rest = str(uri)[len(MODEL_URI_PREFIX):]
    m = re.fullmatch(r"([^/@]+)/(\d+)", rest) or re.fullmatch(r"([^/@]+)(@[\w-]+)", rest)
    if m is None:
        raise ModelError(f"model URI {uri!r}: expected {MODEL_URI_FORM}, e.g. models:/ranker/1")
    return m.group(1), m.group(2)


@contextlib.contextmanager
def registered_folder(uri: str):
    """A temporary folder holding the run-folder files stored beside registered model ``uri``;
    removed when the block ends. :class:`ModelError` when no such model is registered or it was
    not logged by gbltr; :class:`TrackingError` when the store cannot be reached."""
    name, version = parse_model_uri(uri)
    mlflow = require_mlflow()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    store = tracking_uri()
    from gbltr.track.runs import _reachable, _reason

    why = _reachable(store)
    if why is not None:
        raise TrackingError(f"{uri}: MLflow tracking server {redact(store)} cannot be reached ({why}); expected "
                            "MLFLOW_TRACKING_URI to name a running server")
    mlflow.set_tracking_uri(store)
    client = mlflow.tracking.MlflowClient()
    try:
        if version.startswith("@"):
            client.get_model_version_by_alias(name, version[1:])
        else:
            client.get_model_version(name, version)
    except Exception as exc:  # noqa: BLE001 (MLflow's RESOURCE_DOES_NOT_EXIST, or a store error)
        raise ModelError(f"{uri}: no such registered model version at {redact(store)} ({_reason(exc)}); "
                         f"expected one of the registered models {_known(client)}, as {MODEL_URI_FORM}") from None
    tmp = Path(tempfile.mkdtemp(prefix="gbltr-registry-"))
    try:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp)))
        except Exception as exc:  # noqa: BLE001
            raise TrackingError(f"{uri}: downloading the model from {redact(store)} failed: {_reason(exc)}") from None
        folder = local / "extra_files"
        if not (folder / "config.json").is_file():
            found = sorted(p.name for p in local.iterdir()) if local.is_dir() else []
            raise ModelError(f"{uri} was not logged by 'gbltr fit --mlflow': expected extra_files/config.json beside "
                             f"the model, found {found}; register a model with 'gbltr fit --mlflow --register NAME'")
        yield folder
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _known(client) -> list[str]:
    try:
        return sorted(m.name for m in client.search_registered_models(max_results=20))
    except Exception:  # noqa: BLE001
        return []


def load_registered(uri: str):
    """The :class:`gbltr.serve.run.TrainedRun` of registered model ``uri`` (its ``folder`` is the URI)."""
    from dataclasses import replace

    from gbltr.serve.run import load_run_folder

    with registered_folder(uri) as folder:
        run = load_run_folder(folder)
    return replace(run, folder=Path(uri), origin=uri)


__all__ = ["load_registered", "parse_model_uri", "registered_folder", "tracking_uri"]
