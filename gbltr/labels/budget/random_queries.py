"""``random-queries``: whole queries in a seeded random order (the baseline for listwise plans)."""

from __future__ import annotations

import numpy as np

from gbltr.labels.budget.base import PlanInput, Planner, Scores


class RandomQueries(Planner):
    name = "random-queries"
    description = "whole queries in a seeded random order (baseline)"
    needs_log = False
    baseline = True

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        q = inp.pairs["query_id"].to_numpy()
        uniq, inv = np.unique(q, return_inverse=True)
        per_query = rng.random(uniq.size)
        # a query's pairs come together, in rank order: the rank breaks ties within it
        r = inp.pairs["rank"].to_numpy().astype(np.float64)
        u = per_query[inv] - 1e-9 * r / (r.max() + 1.0)
        return Scores(u, {"random": per_query[inv]})
