"""Click labels from a search log.

Two click models, chosen by name (:data:`CLICK_MODELS`):

``ctr``
    Click-through rate of each (query, document) over all its impressions, binned to grades
    0-4 at ``ctr_thresholds`` (default 0.05, 0.15, 0.30, 0.50: grade = number of thresholds
    <= CTR). Position bias is left in: documents shown higher get more clicks.
``pbm``
    The position-based model, P(click) = theta_position * gamma_(query, doc) (Richardson et al.
    2007; Craswell et al. 2008; see Chuklin, Markov & de Rijke, *Click Models for Web Search*,
    2015, ch. 3), fitted by EM on the log itself, so the examination propensities theta are
    estimated from the same log (Wang et al., WSDM 2018, "Position bias estimation for unbiased
    learning to rank in personal search"). The attractiveness gamma is the position-debiased
    relevance estimate, binned to grades at ``pbm_thresholds`` (default 0.10, 0.25, 0.45, 0.65).

Candidates never shown to any user have no click evidence. ``unshown`` chooses how they enter
training: ``zero`` (default) gives them label 0: they ranked below every shown document in
first-stage retrieval, so 0 is the honest prior; ``drop`` gives them a missing label, and they
take no part in the click loss (they still get LLM labels in fusion). They are never smoothed
towards a mean CTR: that would rank them above documents that were shown and skipped, and the
model would learn to invert the ranking.

A query whose click labels are all equal (no clicks at all, say) contributes no ranking
gradient; :func:`zero_click_report` counts them per bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gbltr.errors import ConfigError, DataError, unknown_choice

CLICK_MODELS = ("ctr", "pbm")
UNSHOWN_POLICIES = ("zero", "drop")


@dataclass(frozen=True)
class ClickLabelConfig:
    """How click labels are made from the log."""

    model: str = "pbm"
    unshown: str = "zero"
    ctr_thresholds: tuple[float, ...] = (0.05, 0.15, 0.30, 0.50)
    pbm_thresholds: tuple[float, ...] = (0.10, 0.25, 0.45, 0.65)
    em_iterations: int = 100
    em_tolerance: float = 1e-6

    def __post_init__(self):
        if self.model not in CLICK_MODELS:
            raise unknown_choice("click model", self.model, CLICK_MODELS)
        if self.unshown not in UNSHOWN_POLICIES:
            raise unknown_choice("unshown-candidate policy", self.unshown, UNSHOWN_POLICIES)
        for name in ("ctr_thresholds", "pbm_thresholds"):
            t = list(getattr(self, name))
            if t != sorted(t) or not all(0 < x < 1 for x in t):
                raise ConfigError(f"{name}={t}; expected increasing numbers in (0, 1)")
        if self.em_iterations < 1:
            raise ConfigError(f"em_iterations={self.em_iterations}; expected >= 1")


@dataclass(frozen=True)
class ClickLabels:
    """Click labels of the candidates of some queries.

    ``frame``: query_id, doc_id, label (Float64; null = missing under ``unshown='drop'``),
    source='click', score (CTR or gamma; null when unshown), impressions, clicks.
    ``propensities``: examination probability per position (PBM), or None for CTR.
    """

    frame: pl.DataFrame
    propensities: np.ndarray | None
    config: ClickLabelConfig


def fit_pbm(agg: pl.DataFrame, *, iterations: int = 100, tolerance: float = 1e-6):
    """Fit the position-based model by EM on aggregated impressions.

    ``agg``: one row per (pair index ``pair``, ``position``) with ``n`` impressions and ``c``
    clicks. Returns (gamma per pair index, theta per position 1..max).
    Updates (Chuklin et al. 2015, sec. 4.2): for a skip, P(examined and not attractive) =
    theta (1 - gamma) / (1 - theta gamma) and P(attractive, not examined) =
    (1 - theta) gamma / (1 - theta gamma); a click sets both to 1.
    """
    pair = agg["pair"].to_numpy()
    pos = agg["position"].to_numpy().astype(np.int64) - 1
    n = agg["n"].to_numpy().astype(float)
    c = agg["c"].to_numpy().astype(float)
    n_pairs = int(pair.max()) + 1 if pair.size else 0
    n_pos = int(pos.max()) + 1 if pos.size else 0
    theta = np.full(n_pos, 0.5)
    gamma = np.full(n_pairs, 0.5)
    pair_n = np.bincount(pair, weights=n, minlength=n_pairs)
    pos_n = np.bincount(pos, weights=n, minlength=n_pos)
    skips = n - c
    for _ in range(iterations):
        t = theta[pos]
        g = gamma[pair]
        denom = np.maximum(1.0 - t * g, 1e-12)
        exam = c + skips * t * (1.0 - g) / denom
        attr = c + skips * (1.0 - t) * g / denom
        new_theta = np.bincount(pos, weights=exam, minlength=n_pos) / np.maximum(pos_n, 1e-12)
        new_gamma = np.bincount(pair, weights=attr, minlength=n_pairs) / np.maximum(pair_n, 1e-12)
        delta = max(np.abs(new_theta - theta).max(initial=0.0), np.abs(new_gamma - gamma).max(initial=0.0))
        theta, gamma = new_theta, new_gamma
        if delta < tolerance:
            break
    return gamma, theta


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
    log = impressions.join(ids, on="query_id", how="semi")
    cand = candidates.join(ids, on="query_id", how="semi").select("query_id", "doc_id")
    stray = log.select("query_id", "doc_id").unique().join(cand, on=["query_id", "doc_id"], how="anti")
    if stray.height:
        raise DataError(
            f"{stray.height} (query_id, doc_id) pair(s) were shown in the log but are not candidates "
            f"of their query, e.g. {stray.row(0)}; expected every shown document among the candidates"
        )
    per_pair = log.group_by("query_id", "doc_id").agg(
        impressions=pl.len().cast(pl.Int64), clicks=pl.col("clicked").sum().cast(pl.Int64)
    )
    propensities = None
    if config.model == "ctr":
        scored = per_pair.with_columns(score=pl.col("clicks") / pl.col("impressions"))
        thresholds = config.ctr_thresholds
    else:
        pairs = per_pair.select("query_id", "doc_id").sort("query_id", "doc_id").with_row_index("pair")
        agg = (
            log.group_by("query_id", "doc_id", "position")
            .agg(n=pl.len(), c=pl.col("clicked").sum())
            .join(pairs, on=["query_id", "doc_id"])
        )
        gamma, theta = fit_pbm(agg, iterations=config.em_iterations, tolerance=config.em_tolerance)
        propensities = theta
        scored = per_pair.join(
            pairs.with_columns(score=pl.Series(gamma[pairs["pair"].to_numpy()])).drop("pair"),
            on=["query_id", "doc_id"],
        )
        thresholds = config.pbm_thresholds
    frame = cand.join(scored, on=["query_id", "doc_id"], how="left")
    grade = pl.lit(0.0)
    for t in thresholds:
        grade = grade + (pl.col("score") >= t).cast(pl.Float64)
    unshown_label = pl.lit(0.0) if config.unshown == "zero" else pl.lit(None, dtype=pl.Float64)
    frame = frame.with_columns(
        label=pl.when(pl.col("score").is_null()).then(unshown_label).otherwise(grade),
        impressions=pl.col("impressions").fill_null(0),
        clicks=pl.col("clicks").fill_null(0),
        source=pl.lit("click"),
    ).select("query_id", "doc_id", "label", "source", "score", "impressions", "clicks")
    return ClickLabels(frame.sort("query_id", "doc_id"), propensities, config)


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
