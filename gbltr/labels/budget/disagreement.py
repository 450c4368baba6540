"""``disagreement``: pairs that click evidence and the first-stage ranker order differently.

Per query, each pair's rank by the click model's relevance and by the first-stage
``retrieval_score`` (both as fractions of the query's list); the score is their absolute
difference, shrunk by the click evidence's posterior spread (a disagreement that rests on one
impression is mostly noise: ``|Δrank| * (1 - 2 * spread)``)."""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.labels.budget.base import PlanInput, Planner, Scores, posterior_spread


def _rank_fraction(frame: pl.DataFrame, column: str) -> np.ndarray:
    n = pl.len().over("query_id").cast(pl.Float64)
    return frame.select(
        ((pl.col(column).rank("ordinal", descending=True).over("query_id").cast(pl.Float64) - 1.0)
         / pl.max_horizontal(n - 1.0, pl.lit(1.0))).alias("r")
    )["r"].to_numpy()


class Disagreement(Planner):
    name = "disagreement"
    description = "click order vs first-stage order differ most first"

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        a, b = inp.prior
        frame = inp.pairs.with_columns(pl.col("click_score").fill_null(a / (a + b) if a + b else 0.5))
        click = _rank_fraction(frame, "click_score")
        first = _rank_fraction(frame, "retrieval_score")
        gap = np.abs(click - first)
        trust = np.clip(1.0 - 2.0 * posterior_spread(inp), 0.0, 1.0)
        return Scores(gap * trust, {"rank_gap": gap, "click_trust": trust})
