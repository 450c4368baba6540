"""``auto``: choose a planner on validation queries (never test), cheaply, then plan with it.

For each candidate planner the validation candidates are scored as if they were to be labelled,
and the top :data:`TRIAL_SHARE` of them (the planner's own order) is taken. With human grades on
validation queries the label that LLM annotation would bring is known up to the LLM's error, so
the trial measures what each choice would fix: the sum over the chosen pairs of
``|human grade / max grade - click relevance| x rank discount``, per unit of cost. No model is
trained: it costs one scoring pass per candidate. The planner with the largest value wins (ties:
any planner before a random baseline, then registry order). The choice and every candidate's trial value are the plan's reason columns.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.errors import DataError
from gbltr.labels.budget.base import PlanInput, Planner, Scores, rank_discount

TRIAL_SHARE = 0.2
"""The share of validation pairs each candidate chooses in the trial."""


def trial_value(planner: Planner, valid: PlanInput, rng: np.random.Generator, share: float = TRIAL_SHARE) -> float:
    """What ``planner``'s top ``share`` of ``valid``'s pairs would fix, per unit of cost."""
    s = planner.score(valid, rng).score
    k = max(1, int(round(share * len(valid))))
    top = np.argsort(-s, kind="stable")[:k]
    human = valid.pairs["human"].cast(pl.Float64).to_numpy()
    top_grade = np.nanmax(human) if np.isfinite(human).any() else 1.0
    a, b = valid.prior
    click = valid.pairs["click_score"].fill_null(a / (a + b) if a + b else 0.5).to_numpy()
    fix = np.abs(np.nan_to_num(human / max(top_grade, 1.0), nan=0.0) - click) * rank_discount(valid)
    cost = np.ones(len(valid)) if valid.cost is None else np.asarray(valid.cost, float)
    return float(fix[top].sum() / max(cost[top].sum(), 1e-12))


class Auto(Planner):
    name = "auto"
    description = "the planner whose top choices on validation queries would fix most per dollar"

    def __init__(self, candidates: dict[str, Planner]):
        self.candidates = candidates

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        valid = inp.validation
        if valid is None or valid.height == 0 or "human" not in valid.columns:
            raise DataError("planner 'auto' chooses on validation queries with human labels; found none. "
                            "Pick a planner with --planner, or add human labels (labels/human.parquet)")
        vin = PlanInput(valid, inp.prior, None if inp.cost is None else np.full(valid.height, float(np.mean(inp.cost))))
        values = {name: trial_value(p, vin, np.random.default_rng(rng.integers(2**32)))
                  for name, p in self.candidates.items()}
        # ties: a planner before a random baseline, then registry order
        best = max(values, key=lambda n: (values[n], not self.candidates[n].baseline))
        chosen = self.candidates[best].score(inp, rng)
        parts = dict(chosen.parts)
        parts.update({f"trial_{name.replace('-', '_')}": np.full(len(inp), v) for name, v in values.items()})
        return Scores(chosen.score, parts, chosen=best)
