"""``gbltr fit``: train one model on prepared data, evaluate it per query, write a run folder.

The data side (dataset, splits, features, labels, ranking datasets) is :mod:`gbltr.pipeline`.
:func:`train_model` trains one model for ``--labels click|llm|fused``; :func:`evaluate` scores
the test queries; :func:`fit` does all of it and writes a run folder (:mod:`gbltr.evaluate.report`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.config import FitConfig
from gbltr.errors import ConfigError
from gbltr.evaluate.metrics import excluded_column, metric_names, ndcg_per_query, query_status
from gbltr.evaluate.report import run_folder, write_run_files
from gbltr.labels.fusion import gain_for
from gbltr.labels.human import integer_grades
from gbltr.checkpoint import checkpoint
from gbltr.pipeline import Prepared, prepare, read_named_files
from gbltr.train.backends import TrainSettings, open_backend
from gbltr.train.dataset import RankingDataset
from gbltr.train.fused import train_fused
from gbltr.train.model import FittedRanker

log = logging.getLogger("gbltr")


def validation_grades(valid: RankingDataset) -> np.ndarray:
    """Human labels as the backends' early-stopping metric takes them: integer grades >= 0.

    Negative labels (TREC spam, -2) become 0, as in evaluation; fractional labels (averaged
    judgements) are rounded, with a log line. Evaluation itself uses the labels unrounded.
    """
    graded, counts = integer_grades(np.nan_to_num(valid.labels["human"], nan=0.0))
    if counts.fractional_rounded:
        log.info("validation: %d fractional human label(s) rounded for early stopping", counts.fractional_rounded)
    return graded


def train_model(prep: Prepared, cfg: FitConfig | None = None, *, seed: int | None = None,
                reuse: dict | None = None) -> FittedRanker:
    """Train one model on ``prep`` for ``cfg.labels`` (click, llm, human or fused).

    ``reuse``: FAMOL models already trained on ``prep`` with the same settings, which the
    ``auto`` weight search may take instead of training them again (:mod:`gbltr.train.weight_search`)."""
    cfg = cfg or prep.config
    seed = cfg.seed if seed is None else seed
    # one backend for every model of this call (on Dask: one cluster connection; the auto weight search trains many)
    with open_backend(cfg.train) as backend:
        return _train_with(backend, prep, cfg, seed, reuse)


def _train_with(backend, prep: Prepared, cfg: FitConfig, seed: int, reuse: dict | None) -> FittedRanker:
    train, valid = prep.train, prep.valid
    if tuple(train.feature_names) != tuple(prep.feature_names):
        raise ConfigError("prepared datasets and feature names disagree")
    vy = validation_grades(valid)
    settings = TrainSettings(cfg.train, seed, validation_cutoff(cfg), tuple(train.feature_names))
    if cfg.labels in ("click", "llm", "human"):
        part = train.labelled_by(cfg.labels)
        y = part.grades(cfg.labels)
        gain = gain_for(part.labels[cfg.labels], valid.labels["human"])
        debias = click_debiasing(part, cfg)
        return backend.train(settings.request(part.X, y, part.group_sizes, valid.X, vy, valid.group_sizes,
                                              label_gain=gain, position=debias.position,
                                              row_weight=debias.row_weight))
    if cfg.click.debias or cfg.click.ips_weights:
        raise ConfigError(f"click debias / ips_weights apply to --labels click only; found --labels {cfg.labels}")

    return train_fused(prep, cfg, backend, vy, settings, reuse=reuse)


def validation_cutoff(cfg: FitConfig) -> int:
    """The k of the validation nDCG@k that early stopping watches (:attr:`FittedRanker.history`
    holds it per round): the largest evaluated cut-off up to 10, else the largest one."""
    ks = cfg.eval.ks
    return max(k for k in ks if k <= 10) if any(k <= 10 for k in ks) else max(ks)


@dataclass(frozen=True)
class ClickDebiasing:
    """What debiased click training adds to a :class:`TrainRequest`: ``position`` [n_rows] (rows
    already in displayed order; 0-based displayed position, unshown candidates one past the last)
    with ``click.debias``, and ``row_weight`` [n_rows] = inverse-propensity weights with
    ``click.ips_weights``; None where not asked."""

    position: np.ndarray | None = None
    row_weight: np.ndarray | None = None


def click_debiasing(part: RankingDataset, cfg: FitConfig) -> ClickDebiasing:
    """The displayed positions and inverse-propensity weights of ``part`` that ``cfg`` asks for
    (``--labels click`` only)."""
    if cfg.labels != "click":
        return ClickDebiasing()
    position = row_weight = None
    if cfg.click.debias:
        pos = part.row_info["position"]
        position = np.where(np.isnan(pos), cfg.click.max_positions + 1, pos).astype(np.int32) - 1
    if cfg.click.ips_weights:
        row_weight = part.row_info["ips_weight"]
    return ClickDebiasing(position, row_weight)


def evaluate(prep: Prepared, model: FittedRanker, ks=None) -> pl.DataFrame:
    """Per-query nDCG on the test queries: query_id, bucket, frequency, ndcg@k ..., excluded (null, or why the
    query cannot rank: :data:`gbltr.evaluate.metrics.EXCLUSIONS`)."""
    ks = tuple(ks or prep.config.eval.ks)
    test = prep.test
    scores = model.predict(test.X)
    values = ndcg_per_query(scores, test.labels["human"], test.group_ptr, ks=ks)
    frame = pl.DataFrame({"query_id": test.query_ids.astype(str)})
    frame = frame.join(prep.stats.select("query_id", "frequency", "bucket"), on="query_id", how="left")
    return frame.with_columns([pl.Series(name, values[:, i]) for i, name in enumerate(metric_names(ks))]
                              + [excluded_column(query_status(test.labels["human"], test.group_ptr))])


def fit(cfg: FitConfig, out: str | Path | None = None, *, name: str | None = None, overwrite: bool = False,
        tracking=None) -> Path:
    """Prepare, train, evaluate and write a run folder; returns the folder.

    The run folder is checked and claimed before any work (an existing one is refused unless
    ``overwrite``) and written atomically (:func:`gbltr.evaluate.report.run_folder`).
    ``tracking`` (:class:`gbltr.track.TrackingConfig`): also log the run to MLflow
    (:mod:`gbltr.track.runs`); the server is checked before any work, the params are logged
    when training starts (a failure after that marks the MLflow run FAILED), the rest once the
    run folder is in place, from the records it was written from.
    """
    from gbltr.track.runs import tracked

    folder = Path(out or cfg.out or default_run_dir(cfg))
    with tracked(tracking, name=folder.name, command="fit") as track:
        with run_folder(folder, overwrite=overwrite, command="fit", inputs=cfg.inputs()) as tmp:
            named = read_named_files(cfg)
            checkpoint("fit")
            track.log_params(cfg.to_json())
            prep = prepare(cfg, named=named)
            t0 = time.perf_counter()
            model = train_model(prep)
            train_seconds = time.perf_counter() - t0
            per_query = evaluate(prep, model)
            report = write_run_files(tmp, prep, model, per_query, name=name, train_seconds=train_seconds)
        track.log_fit(folder, prep, model, report)
    return folder


def default_run_dir(cfg: FitConfig) -> Path:
    tag = cfg.labels if cfg.labels != "fused" else f"fused-{cfg.fusion.method}"
    return Path("runs") / f"{tag}-{cfg.train.backend}-seed{cfg.seed}"
