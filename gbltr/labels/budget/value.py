"""``value-per-dollar``: the expected change a label makes to the fused model's ranking target,
per dollar (per token without a price table).

The expected change of a pair's target is the expected distance between what the LLM will say
and what clicks say now, which the click model's posterior spread bounds
(:func:`~gbltr.labels.budget.base.posterior_spread`); it matters in proportion to where the pair
sits in the ranking (nDCG's discount at its first-stage rank). Value = spread x discount / cost.
In the spirit of expected-loss active learning for ranking (Long et al., SIGIR 2010), with the
label's price in the denominator."""

from __future__ import annotations

import numpy as np

from gbltr.labels.budget.base import PlanInput, Planner, Scores, posterior_spread, rank_discount


class ValuePerDollar(Planner):
    name = "value-per-dollar"
    description = "expected change of the ranking target (spread x rank discount) per dollar"

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        s = posterior_spread(inp)
        d = rank_discount(inp)
        cost = np.ones(len(inp)) if inp.cost is None else np.maximum(np.asarray(inp.cost, float), 1e-12)
        value = s * d
        return Scores(value / cost, {"posterior_std": s, "rank_discount": d, "expected_change": value, "cost": cost})
