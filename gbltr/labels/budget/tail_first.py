"""``tail-first``: the least frequent queries first (LLM labels help most where clicks are
sparse: Yu, Bi, Guo et al., arXiv:2511.06635); within a query, the top of the first-stage ranking first."""

from __future__ import annotations

import numpy as np

from gbltr.labels.budget.base import PlanInput, Planner, Scores, rank_discount


class TailFirst(Planner):
    name = "tail-first"
    description = "lowest query frequency first, then first-stage rank"

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        f = inp.pairs["frequency"].fill_null(0).to_numpy().astype(np.float64)
        tail = -np.log1p(f)
        d = rank_discount(inp)
        return Scores(tail + 1e-3 * d, {"neg_log_frequency": tail, "rank_discount": d})
