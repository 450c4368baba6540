"""Click labels for training: fit the configured click model on the training queries' sessions
and turn its relevance into grades (:mod:`gbltr.labels.clicks.grades`); see the package docstring."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from gbltr.errors import DataError
from gbltr.labels.clicks.base import FittedClickModel
from gbltr.labels.clicks.config import ClickLabelConfig
from gbltr.labels.clicks.grades import ips_weights, quantile_cuts, threshold_grades
from gbltr.labels.clicks.registry import get_model
from gbltr.labels.clicks.sessions import SessionLog, sessions_from_impressions


@dataclass(frozen=True)
class ClickLabels:
    """Click labels of the candidates of some queries.

    ``frame``: query_id, doc_id, label (Float64 grade; null = missing under ``unshown='drop'``),
    source='click', score (model relevance, pinned scale; null when unshown), impressions,
    clicks, position (the pair's most frequent displayed position; null when unshown),
    propensity (examination averaged over its displayed positions) and ips_weight
    (:mod:`gbltr.labels.clicks.grades`; 1 when unshown).
    ``propensities``: the model's examination by position; ``model``: the fitted click model;
    ``sessions``: the counts of what reading the log skipped or noticed (``sessions.py``).
    """

    frame: pl.DataFrame
    propensities: np.ndarray | None
    config: ClickLabelConfig
    model: FittedClickModel | None = None
    sessions: dict = field(default_factory=dict)
    cuts: tuple[float, ...] = ()


def fit_click_model(log_: SessionLog, config: ClickLabelConfig = ClickLabelConfig(), name: str | None = None
                    ) -> FittedClickModel:
    """Fit ``name`` (default ``config.model``) on ``log_`` with the config's priors (learnt or
    fixed: ``config.priors.choice``) and EM settings."""
    return get_model(name or config.model).fit(log_, config.priors.priors(), config.em, config.priors.learn)


def click_labels(
    impressions: pl.DataFrame,
    candidates: pl.DataFrame,
    query_ids: pl.Series,
    config: ClickLabelConfig = ClickLabelConfig(),
) -> ClickLabels:
    """Click labels for every candidate of ``query_ids`` from ``impressions``.

    Only impressions of ``query_ids`` are read: the clicks of held-out queries never enter.
    """
    if impressions is None or impressions.height == 0:
        raise DataError(
            "click labels need a search log, but the impressions table is empty or absent; "
            "expected rows of session_id, query_id, position, doc_id, clicked"
        )
    ids = pl.DataFrame({"query_id": query_ids.unique()})
    log_rows = impressions.join(ids, on="query_id", how="semi")
    cand = candidates.join(ids, on="query_id", how="semi").select("query_id", "doc_id")
    stray = log_rows.select("query_id", "doc_id").unique().join(cand, on=["query_id", "doc_id"], how="anti")
    if stray.height:
        raise DataError(
            f"{stray.height} (query_id, doc_id) pair(s) were shown in the log but are not candidates "
            f"of their query, e.g. {stray.row(0)}; expected every shown document among the candidates"
        )
    if log_rows.height == 0:
        raise DataError("no impressions of the training queries; expected some sessions to fit a click model on")
    sessions = sessions_from_impressions(log_rows, max_positions=config.max_positions, where="training impressions")
    fitted = fit_click_model(sessions, config)
    exam = fitted.examination()
    # per pair: most frequent displayed position and mean examination over its impressions
    s, r = np.nonzero(sessions.shown)
    d = sessions.doc[s, r]
    n_pairs = sessions.pairs.height
    imp = np.bincount(d, minlength=n_pairs)
    prop = np.bincount(d, weights=np.nan_to_num(exam[r], nan=1.0), minlength=n_pairs) / np.maximum(imp, 1)
    counts = np.zeros((n_pairs, sessions.n_positions), np.int64)
    np.add.at(counts, (d, r), 1)
    mode = counts.argmax(axis=1) + 1
    pair_pos = sessions.pairs.with_columns(position=pl.Series(mode.astype(np.int32)), propensity=pl.Series(prop))
    frame, cuts = pair_labels(fitted, pair_pos, cand, config)
    return ClickLabels(frame, exam, config, fitted, sessions.issues, cuts)


def pair_labels(fitted: FittedClickModel, pair_pos: pl.DataFrame, cand: pl.DataFrame, config: ClickLabelConfig
                ) -> tuple[pl.DataFrame, tuple[float, ...]]:
    """The labels frame of :class:`ClickLabels` (sorted by query_id, doc_id) and the grade cuts, from
    the fitted model and ``pair_pos`` (query_id, doc_id, position = most frequent displayed
    position, propensity) of every shown pair; ``cand``: the candidates to label."""
    per_pair = fitted.pairs.select("query_id", "doc_id", pl.col("relevance").alias("score"), "impressions", "clicks")
    per_pair = per_pair.join(pair_pos, on=["query_id", "doc_id"], how="left")
    score = per_pair["score"].to_numpy()
    if config.grading == "threshold":
        cuts = tuple(config.thresholds)
    else:
        cuts = tuple(float(x) for x in quantile_cuts(score, config.quantiles))
    per_pair = per_pair.with_columns(
        label=pl.Series(np.where(per_pair["clicks"].to_numpy() > 0, threshold_grades(score, cuts), 0.0)),
        ips_weight=pl.Series(ips_weights(per_pair["propensity"].to_numpy(), config.min_propensity)),
    )
    frame = cand.join(per_pair, on=["query_id", "doc_id"], how="left")
    unshown_label = pl.lit(0.0) if config.unshown == "zero" else pl.lit(None, dtype=pl.Float64)
    frame = frame.with_columns(
        label=pl.when(pl.col("score").is_null()).then(unshown_label).otherwise(pl.col("label")),
        impressions=pl.col("impressions").fill_null(0),
        clicks=pl.col("clicks").fill_null(0),
        ips_weight=pl.col("ips_weight").fill_null(1.0),
        source=pl.lit("click"),
    ).select("query_id", "doc_id", "label", "source", "score", "impressions", "clicks", "position",
             "propensity", "ips_weight")
    return frame.sort("query_id", "doc_id"), cuts


def zero_click_report(labels: pl.DataFrame, stats: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per bucket: training queries, and those whose click labels are all equal (no gradient)."""
    per_query = labels.group_by("query_id").agg(
        flat=(pl.col("label").drop_nulls().n_unique() <= 1)
    )
    joined = per_query.join(stats.select("query_id", "bucket"), on="query_id", how="left")
    out = {}
    for row in joined.group_by("bucket").agg(queries=pl.len(), no_gradient=pl.col("flat").sum()).iter_rows(named=True):
        out[row["bucket"]] = {"queries": int(row["queries"]), "no_gradient": int(row["no_gradient"])}
    return out
