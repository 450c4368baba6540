"""``random-pairs``: every unlabelled pair equally likely (the baseline)."""

from __future__ import annotations

import numpy as np

from gbltr.labels.budget.base import PlanInput, Planner, Scores


class RandomPairs(Planner):
    name = "random-pairs"
    description = "pairs in a seeded random order (baseline)"
    needs_log = False
    baseline = True

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        u = rng.random(len(inp))
        return Scores(u, {"random": u})
