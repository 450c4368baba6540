"""``disagreement``: pairs whose order the evidence disputes: click evidence against the
first-stage ranker, or two click models against each other.

Per query, each pair's rank as a fraction of the query's list by three orders: the fitted click
model's relevance (``click_score``), the first stage's (its ``rank``; imported runs may carry no
retrieval scores) and, when the planner is
given one (:data:`ALT_COLUMN`), a second click model's relevance
(:func:`second_model`: DBN beside PBM, PBM beside anything else). Two click models that explain
the same clicks with different examination assumptions (position bias alone, or a cascade with
satisfaction: Chuklin, Markov & de Rijke, *Click Models for Web Search*, 2015) and still order a
pair differently say that the clicks do not settle its relevance.

The score is the larger of the two gaps, ``|click - first stage|`` and ``|click - second click
model|``, shrunk by the click evidence's posterior spread (a disagreement that rests on one
impression is mostly noise: ``gap * (1 - 2 * spread)``). The parts say which: ``gap_first_stage``,
``gap_click_models`` (0 without a second model), ``click_models_larger`` (1 where the click
models' disagreement is the one scored) and ``click_trust``."""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.labels.budget.base import PlanInput, Planner, Scores, posterior_spread

ALT_COLUMN = "click_score_alt"
"""The extra pair column a planner with ``needs_second_click_model`` reads: the second click
model's relevance (null when the pair was never shown)."""


def second_model(first: str) -> str:
    """The click model to set beside ``first``: DBN beside PBM (or any other), PBM beside DBN."""
    return "pbm" if first == "dbn" else "dbn"


def _rank_fraction(frame: pl.DataFrame, column: str) -> np.ndarray:
    n = pl.len().over("query_id").cast(pl.Float64)
    return frame.select(
        ((pl.col(column).rank("ordinal", descending=True).over("query_id").cast(pl.Float64) - 1.0)
         / pl.max_horizontal(n - 1.0, pl.lit(1.0))).alias("r")
    )["r"].to_numpy()


class Disagreement(Planner):
    name = "disagreement"
    description = "click order vs first-stage order, or vs a second click model's order, differ most first"
    needs_second_click_model = True

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        a, b = inp.prior
        prior_mean = a / (a + b) if a + b else 0.5
        frame = inp.pairs.with_columns(pl.col("click_score").fill_null(prior_mean))
        click = _rank_fraction(frame, "click_score")
        # the first-stage order is the candidates' rank (an imported run may carry no retrieval scores)
        gap_first = np.abs(click - _rank_fraction(frame.with_columns((-pl.col("rank")).alias("_first")), "_first"))
        if ALT_COLUMN in frame.columns:
            frame = frame.with_columns(pl.col(ALT_COLUMN).fill_null(prior_mean))
            gap_models = np.abs(click - _rank_fraction(frame, ALT_COLUMN))
        else:
            gap_models = np.zeros(len(inp))
        trust = np.clip(1.0 - 2.0 * posterior_spread(inp), 0.0, 1.0)
        models_larger = gap_models > gap_first
        gap = np.where(models_larger, gap_models, gap_first)
        return Scores(gap * trust, {"gap_first_stage": gap_first, "gap_click_models": gap_models,
                                    "click_models_larger": models_larger.astype(np.float64), "click_trust": trust})
