"""``click-uncertainty``: the pairs whose click-model relevance is least certain first: the
posterior spread from the model's Beta pseudo-counts and the pair's examinations
(:func:`gbltr.labels.budget.base.posterior_spread`). A pair shown 10,000 times has a narrow
posterior; one shown once keeps nearly the prior's spread."""

from __future__ import annotations

import numpy as np

from gbltr.labels.budget.base import PlanInput, Planner, Scores, posterior_spread


class ClickUncertainty(Planner):
    name = "click-uncertainty"
    description = "widest posterior of the click model's relevance first"

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        s = posterior_spread(inp)
        return Scores(s, {"posterior_std": s})
