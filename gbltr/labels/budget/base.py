"""The planner contract: what a planner sees (:class:`PlanInput`) and what it returns (:class:`Scores`).

A planner scores every candidate pair of the training queries that has no LLM label yet; the
plan (:mod:`gbltr.labels.budget.plan`) turns the scores into units (pairs, or whole queries for
listwise strategies), orders them and spends the budget. Higher score = annotate sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

PAIR_COLUMNS = ("query_id", "doc_id", "rank", "retrieval_score", "frequency", "bucket", "click_score",
                "impressions", "clicks", "propensity")
"""The columns of :attr:`PlanInput.pairs`: a candidate, its query's log frequency and bucket, and
the fitted click model's evidence (``click_score``: the model's relevance on its pinned scale,
null when the pair was never shown; ``impressions``, ``clicks``; ``propensity``: examination
averaged over its displayed positions)."""


@dataclass(frozen=True)
class PlanInput:
    """The pairs a planner may choose among, and what it may use to choose.

    ``pairs``: :data:`PAIR_COLUMNS`, one row per unlabelled training candidate, sorted by
    (query, rank). ``prior``: the click model's attractiveness Beta pseudo-counts (a, b), as fitted
    (:attr:`gbltr.labels.budget.plan.Candidates.prior`; learnt from the log by default).
    ``cost``: float64 (n_pairs,) the expected cost of labelling each pair alone (dollars with a
    price table, else tokens): what value-per-dollar planners divide by.
    ``validation``: the same columns for validation queries with a ``human`` grade column (what
    ``value-per-dollar`` learns from and ``auto`` may choose on; never test queries), or None.
    ``trial``: a function ``scores (n_pairs,) -> validation nDCG`` of the fused model trained on
    the plan those scores would make at this budget, the other LLM labels masked
    (:mod:`gbltr.labels.budget.trial`), or None where no LLM labels exist to try plans with.
    """

    pairs: pl.DataFrame
    prior: tuple[float, float] = (1.0, 3.0)
    cost: np.ndarray | None = None
    validation: pl.DataFrame | None = None
    trial: Callable[[np.ndarray], float] | None = None

    def __len__(self) -> int:
        return self.pairs.height


@dataclass(frozen=True)
class Scores:
    """A planner's answer: ``score`` float64 (n_pairs,), higher first, and its named ``parts``
    (each float64 (n_pairs,)), written to the plan as ``part_NAME`` columns (the reason)."""

    score: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    chosen: str = ""  # auto: the planner it chose


class Planner:
    """One way to choose what to annotate. Subclasses set ``name`` and ``description`` and
    implement :meth:`score`. ``needs_log``: the planner reads click evidence; ``baseline``: a
    random baseline (``auto`` prefers any other planner on a tie); ``needs_second_click_model``:
    the planner reads a second click model's relevance (column ``click_score_alt``,
    :mod:`gbltr.labels.budget.disagreement`), which :func:`~gbltr.labels.budget.plan.candidates`
    fits only when asked; ``uses_trials``: the planner tries plans by training on them
    (``PlanInput.trial``), which its caller provides where the LLM labels exist."""

    name: str = ""
    description: str = ""
    needs_log: bool = True
    baseline: bool = False
    needs_second_click_model: bool = False
    uses_trials: bool = False

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        raise NotImplementedError


def posterior_spread(inp: PlanInput) -> np.ndarray:
    """Standard deviation of the Beta posterior of each pair's relevance: mean the click model's
    relevance (the prior mean when never shown), ``impressions * propensity`` examinations plus the
    prior's ``a + b`` pseudo-counts: ``sqrt(m (1 - m) / (n + a + b + 1))``."""
    a, b = inp.prior
    p = inp.pairs
    m = p["click_score"].fill_null(a / (a + b) if a + b > 0 else 0.5).to_numpy().astype(np.float64)
    m = np.clip(m, 0.0, 1.0)
    n = (p["impressions"].fill_null(0).cast(pl.Float64) * p["propensity"].fill_null(1.0)).to_numpy()
    return np.sqrt(m * (1.0 - m) / (n + a + b + 1.0))


def rank_discount(inp: PlanInput) -> np.ndarray:
    """``1 / log2(rank + 1)``: how much a pair at its first-stage rank weighs in nDCG."""
    r = inp.pairs["rank"].cast(pl.Float64).to_numpy()
    return 1.0 / np.log2(np.maximum(r, 1.0) + 1.0)
