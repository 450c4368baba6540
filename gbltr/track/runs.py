"""Log gbltr runs to MLflow: ``fit``, ``experiment``, ``ablation`` and ``compare`` with ``--mlflow``.

:func:`tracked` opens a tracking session for one command: it checks the tracking server before
any training (an unreachable one is a :class:`~gbltr.errors.TrackingError`, or a warning and no
tracking with ``optional``) and yields a :class:`TrackedRun`. The MLflow run itself starts at the
first thing logged (after the command's checks: a refused command leaves no run behind) and ends
FINISHED when the command ends normally, FAILED when it raises.

What a fit logs (:meth:`TrackedRun.log_fit`), each read from the record its run-folder file is
written from (one place per fact):

- params: the resolved config, flattened with dotted keys (``train.rounds``), the keys of ``config.json``;
- tags: ``gbltr.dataset_fingerprint`` (report.json's), ``gbltr.dataset`` and the manifest
  (``gbltr.manifest``, as in ``dataset.json``), ``gbltr.command``, ``gbltr.run_folder``;
- metrics: every metric of report.json per view as ``VIEW/METRIC`` with ``@`` written ``_at_``
  (``overall/ndcg_at_10``, ``high/ndcg_at_10``, ...; MLflow names allow no ``@``), the query counts
  per view, and the validation curve ``valid/ndcg_at_K`` with one step per boosting round;
- artefacts: ``report.md``, ``report.json``, ``per_query.parquet`` and every PNG of the run folder;
- the model, through ``mlflow.lightgbm`` / ``mlflow.xgboost`` (the backend's
  :attr:`~gbltr.train.backends.BackendSpec.mlflow_flavour`): the booster cut at its best
  iteration, a signature (feature names, float32 inputs, one float64 score) and the first test rows
  as input example. Beside it (the flavour's ``extra_files/``) the run-folder files ``rerank`` and
  ``export`` read (:data:`REGISTRY_FILES`), so ``models:/NAME/VERSION`` loads exactly what the run
  folder gives (:mod:`gbltr.track.registry`).

Experiments and ablations log a parent run (their summary files and plots) and one child run per
setup x seed or per removed feature group (:meth:`TrackedRun.log_children`), whose metrics are the
views of that child's per-query rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gbltr.errors import TrackingError
from gbltr.track import TrackingConfig, require_mlflow

log = logging.getLogger("gbltr")

REGISTRY_FILES = ("model.txt", "model.json", "config.json", "report.json", "catalogue.toml", "dataset.json",
                  "per_query.parquet")
"""Run-folder files stored beside a logged model (those present): what :func:`gbltr.serve.run.load_run`
and ``compare`` read."""
ARTIFACTS = ("report.md", "report.json", "per_query.parquet")
"""Run-folder files logged as artefacts of a fit (and every ``*.png``)."""
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP connection to an http(s) tracking server before it counts as unreachable."""
PARAM_VALUE_LIMIT = 6000
"""MLflow's longest parameter value; longer values (long lists) are cut with a note."""
TAG_VALUE_LIMIT = 8000


def metric_key(*parts: str) -> str:
    """An MLflow metric name from parts: ``("high", "ndcg@10")`` -> ``high/ndcg_at_10``; characters
    MLflow refuses (``@``, brackets, ...) become ``_at_`` or ``_``."""
    text = "/".join(parts).replace("@", "_at_")
    return re.sub(r"[^\w./\- ]", "_", text)


def flatten(table: dict, prefix: str = "") -> dict[str, str]:
    """A nested table as ``{"train.rounds": "300", ...}``: dotted keys, lists and scalars as JSON."""
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            out[name] = text if len(text) <= PARAM_VALUE_LIMIT else text[: PARAM_VALUE_LIMIT - 20] + " ...(cut)"
    return out


def _reachable(uri: str) -> str | None:
    """None when an http(s) tracking server accepts a TCP connection (other stores: always None);
    else why not (the socket error, without the URI)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


@dataclass
class Session:
    """A checked connection: the config, the mlflow module, the experiment id."""

    config: TrackingConfig
    mlflow: object
    experiment_id: str


def connect(config: TrackingConfig) -> Session | None:
    """Check the tracking store and select the experiment (created if new); None, with a warning,
    when it fails and ``config.optional``; else :class:`TrackingError`."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow prints "View run at: URI/..." with the URI as given, credentials included: gbltr logs the link redacted
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow = require_mlflow()
    shown = config.shown_uri
    why = _reachable(config.uri)
    if why is None:
        try:
            mlflow.set_tracking_uri(config.uri)
            experiment = mlflow.set_experiment(config.experiment)
        except Exception as exc:  # noqa: BLE001 (any store error: a bad URI, a non-MLflow server, a locked file)
            why = _reason(exc)
        else:
            log.info("mlflow: logging to %s, experiment %r", shown, config.experiment)
            return Session(config, mlflow, experiment.experiment_id)
    message = (f"MLflow tracking store {shown} cannot be used ({why}); expected a running tracking server "
               "(`mlflow server --host 127.0.0.1 --port 5000`) or a local store such as sqlite:///mlflow.db")
    if config.optional:
        log.warning("%s; --mlflow-optional: continuing WITHOUT tracking", message)
        return None
    raise TrackingError(f"{message}: fix --mlflow / [mlflow] uri / MLFLOW_TRACKING_URI, or pass --mlflow-optional "
                        "to train without tracking when the server is down")


def _reason(exc: BaseException) -> str:
    """A short reason from an MLflow or transport error, with any URI in it shown without credentials."""
    from gbltr.track import redact

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"[a-z][a-z0-9+.-]*://\S+", lambda m: redact(m.group(0)), text)
    return text[:300]


class TrackedRun:
    """One MLflow run of a command, started at its first log call (see the module docstring)."""

    def __init__(self, session: Session | None, name: str, command: str):
        self.session, self.name, self.command = session, name, command
        self.run_id: str | None = None
        self.model_uri: str | None = None
        self.registered: str | None = None
        self.ended = False

    @property
    def active(self) -> bool:
        return self.session is not None

    @contextlib.contextmanager
    def _calls(self, what: str):
        """MLflow and transport errors inside as :class:`TrackingError` naming ``what`` was logged."""
        try:
            yield
        except TrackingError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise TrackingError(f"MLflow ({self.session.config.shown_uri}): {what} failed: {_reason(exc)}") from None

    def _start(self):
        if self.run_id is None:
            mlflow = self.session.mlflow
            with self._calls("starting the run"):
                run = mlflow.start_run(experiment_id=self.session.experiment_id, run_name=self.name,
                                       tags={"gbltr.command": self.command})
            self.run_id = run.info.run_id
        return self.session.mlflow

    def end(self, status: str) -> None:
        """End the MLflow run (and any child left open) with ``status``; once."""
        if self.run_id is None or self.session is None or self.ended:
            return
        self.ended = True
        mlflow = self.session.mlflow
        try:
            while mlflow.active_run() is not None:
                mlflow.end_run(status=status)
        except Exception as exc:  # noqa: BLE001 (the run's own error, if any, is the one to show)
            log.warning("mlflow: could not mark run %s %s: %s", self.run_id, status, _reason(exc))
        if status == "FINISHED":
            shown = self.session.config.shown_uri
            link = (f" ({shown.rstrip('/')}/#/experiments/{self.session.experiment_id}/runs/{self.run_id})"
                    if shown.startswith(("http://", "https://")) else "")
            log.info("mlflow: run %s (%s) logged to %s%s", self.run_id, self.name, shown, link)
        else:
            log.warning("mlflow: run %s (%s) marked %s", self.run_id, self.name, status)

    # ---------------------------------------------------------------- what is logged

    def log_params(self, params: dict) -> None:
        """``params`` (a nested table, e.g. ``FitConfig.to_json()``) flattened (:func:`flatten`)."""
        if not self.active:
            return
        mlflow = self._start()
        with self._calls("logging params"):
            mlflow.log_params(flatten(params))

    def log_tags(self, tags: dict) -> None:
        if not self.active:
            return
        mlflow = self._start()
        shown = {}
        for k, v in tags.items():
            text = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
            shown[k] = text if len(text) <= TAG_VALUE_LIMIT else text[: TAG_VALUE_LIMIT - 20] + " ...(cut)"
        with self._calls("setting tags"):
            mlflow.set_tags(shown)

    def log_views(self, views: dict, *, prefix: str = "") -> None:
        """Metrics ``VIEW/METRIC`` from ``{view: {metric: value}}`` (None values skipped)."""
        if not self.active:
            return
        mlflow = self._start()
        metrics = {metric_key(*(p for p in (prefix, view, m) if p)): float(v)
                   for view, vals in views.items() for m, v in vals.items() if v is not None}
        with self._calls("logging metrics"):
            mlflow.log_metrics(metrics)

    def log_curve(self, key: str, values) -> None:
        """A metric history: ``values[i]`` at step ``i + 1`` (boosting round)."""
        if not self.active or not len(values):
            return
        mlflow = self._start()
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        with self._calls("logging the validation curve"):
            mlflow.tracking.MlflowClient().log_batch(
                self.run_id, metrics=[Metric(key, float(v), now, i + 1) for i, v in enumerate(values)])

    def log_files(self, folder: Path, names=(), *, pngs: bool = True) -> None:
        """The files ``names`` of ``folder`` that exist, and its ``*.png`` figures, as artefacts."""
        if not self.active:
            return
        mlflow = self._start()
        folder = Path(folder)
        files = [folder / n for n in names if (folder / n).is_file()]
        if pngs:
            files += sorted(p for p in folder.glob("*.png") if p not in files)
        with self._calls("logging artefacts"):
            for f in files:
                mlflow.log_artifact(str(f))

    def log_fit(self, folder: Path, prep, model, report: dict) -> None:
        """Everything a fit logs beyond its params (module docstring): ``report`` is the record
        report.json was written from, ``folder`` the written run folder."""
        if not self.active:
            return
        try:
            self._log_fit(folder, prep, model, report)
        except TrackingError as exc:
            where = f"the run folder {folder} is written in full; the MLflow run {self.run_id} is marked FAILED"
            if not self.session.config.optional:
                raise TrackingError(f"{exc}; {where}") from None
            log.warning("%s; %s (--mlflow-optional: not an error)", exc, where)
            self.end("FAILED")
            self.session = None

    def _log_fit(self, folder: Path, prep, model, report: dict) -> None:
        from gbltr.evaluate.report import run_manifest
        from gbltr.train.fit import validation_cutoff

        manifest = run_manifest(prep)
        fp = report.get("dataset_fingerprint") or {}
        self.log_tags({"gbltr.dataset_fingerprint": fp.get("sha1", ""), "gbltr.dataset_files": fp.get("files", {}),
                       "gbltr.dataset": str(prep.dataset_path), "gbltr.manifest": manifest,
                       "gbltr.run_folder": str(Path(folder).resolve()), "gbltr.labels": report["labels"],
                       "gbltr.backend": report["backend"]})
        self.log_views(report["metrics"])
        self.log_views({v: {"n_queries": n} for v, n in report["n_queries"].items()})
        self.log_views({"": {"best_iteration": report["best_iteration"]}})
        self.log_curve(metric_key("valid", f"ndcg@{validation_cutoff(prep.config)}"), model.history)
        self.log_files(folder, ARTIFACTS)
        self.log_model(folder, prep, model, fingerprint=fp.get("sha1", ""))

    def log_model(self, folder: Path, prep, model, *, fingerprint: str = "") -> None:
        """The booster through its MLflow flavour, with signature, input example and the run-folder
        files of :data:`REGISTRY_FILES` beside it; registered as ``config.register`` if set."""
        import numpy as np

        from gbltr.train.backends import REGISTRY

        mlflow = self._start()
        spec = REGISTRY[model.backend]
        flavour = spec.mlflow_flavour
        register = self.session.config.register
        if flavour is None:
            if register:
                raise TrackingError(f"--register {register}: the {model.backend} backend has no MLflow model "
                                    f"flavour to register; expected --backend "
                                    f"{' / '.join(n for n, x in REGISTRY.items() if x.mlflow_flavour)}")
            log.warning("mlflow: the %s backend has no MLflow flavour; its model is logged as run-folder files only",
                        model.backend)
            with self._calls("logging the model files"):
                for n in REGISTRY_FILES:
                    if (Path(folder) / n).is_file():
                        mlflow.log_artifact(str(Path(folder) / n), artifact_path="model/extra_files")
            return
        names = list(model.feature_names)
        example = _example(prep.test.X[:5].astype(np.float32), names)
        signature = _signature(names)
        extra = [str(Path(folder) / n) for n in REGISTRY_FILES if (Path(folder) / n).is_file()]
        with self._calls("logging the model"):
            module = _flavour_module(flavour)
            library = flavour.rpartition(".")[2]  # mlflow.<library>: the package the model needs to load
            info = module.log_model(model.kept_booster(), name="model", signature=signature, input_example=example,
                                    pip_requirements=[f"{library}=={_installed(library)}"], extra_files=extra,
                                    registered_model_name=register)
        self.model_uri = info.model_uri
        if register:
            v = info.registered_model_version
            self.registered = f"models:/{register}/{v}"
            client = mlflow.tracking.MlflowClient()
            with self._calls("tagging the registered model version"):
                client.set_model_version_tag(register, str(v), "gbltr.dataset_fingerprint", fingerprint)
                client.set_model_version_tag(register, str(v), "gbltr.run_folder", str(Path(folder).resolve()))
            log.info("mlflow: registered %s", self.registered)

    def log_report(self, views: dict, per_query, out, *, stem: str, children: tuple[str, ...]) -> None:
        """A multi-run report (experiment, ablation) on the parent run: ``views`` (``{view: {name:
        value}}``, e.g. each setup's mean) as metrics, the report folder ``out``'s ``STEM.md``,
        ``STEM.json``, ``per_query.parquet`` and figures as artefacts; then one child run per
        distinct ``children`` key of ``per_query`` (:meth:`log_children`)."""
        if not self.active:
            return
        self.log_views(views)
        if out is not None:
            self.log_files(Path(out), (f"{stem}.md", f"{stem}.json", "per_query.parquet"))
        self.log_children(per_query, children)

    def log_children(self, frame, keys: tuple[str, ...], params_of=None) -> None:
        """One nested run per distinct value of ``keys`` in ``frame`` (per-query rows of an experiment
        or ablation), named ``KEY=VALUE ...``, with those keys (and ``params_of(row)``) as params and
        the views of its rows as metrics (:func:`gbltr.evaluate.views.summarise`)."""
        if not self.active:
            return
        import polars as pl

        from gbltr.evaluate.views import summarise

        mlflow = self._start()
        for row in frame.select(keys).unique(maintain_order=True).iter_rows(named=True):
            part = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in row.items()]))
            views = summarise(part)
            name = " ".join(f"{k}={v}" for k, v in row.items())
            with self._calls(f"logging child run {name}"):
                with mlflow.start_run(experiment_id=self.session.experiment_id, run_name=name, nested=True,
                                      tags={"gbltr.command": self.command}):
                    mlflow.log_params(flatten({**{k: str(v) for k, v in row.items()},
                                               **(params_of(row) if params_of else {})}))
                    mlflow.log_metrics({metric_key(view, m): float(v) for view, vals in views.items()
                                        for m, v in vals.items() if v is not None})


def _installed(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _flavour_module(flavour: str):
    """The MLflow flavour module a backend declares (:attr:`BackendSpec.mlflow_flavour`: a registry
    field, never a user string)."""
    import importlib

    return importlib.import_module(flavour)


def _signature(names):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("float", n) for n in names]),
                          outputs=Schema([ColSpec("double", "score")]))


def _example(X, names):
    import pandas as pd

    return pd.DataFrame(X, columns=names)


@contextlib.contextmanager
def tracked(config: TrackingConfig | None, *, name: str, command: str):
    """A :class:`TrackedRun` for ``command`` (inactive when ``config`` is None or an optional
    server is unreachable); the server is checked here, before any work. The run ends FINISHED
    when the block ends normally and FAILED when it raises."""
    session = connect(config) if config is not None else None
    run = TrackedRun(session, name, command)
    try:
        yield run
    except BaseException as exc:
        run.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    run.end("FINISHED")


__all__ = ["REGISTRY_FILES", "TrackedRun", "connect", "flatten", "metric_key", "tracked"]
