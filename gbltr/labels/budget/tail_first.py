"""``tail-first``: the least frequent queries first (LLM labels help most where clicks are
sparse: Yu, Bi, Guo et al., arXiv:2511.06635); within a query, the top of the first-stage ranking first."""

from __future__ import annotations

import numpy as np

from gbltr.labels.budget.base import PlanInput, Planner, Scores, rank_discount


class TailFirst(Planner):
    name = "tail-first"
    description = "lowest query frequency first, whole queries, in first-stage rank order"

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        """Order: frequency (ascending), then whole queries in a seeded random order, then rank;
        the score is the pair's place in that order (higher first)."""
        f = inp.pairs["frequency"].fill_null(0).to_numpy().astype(np.float64)
        _, query = np.unique(inp.pairs["query_id"].to_numpy(), return_inverse=True)
        shuffled = rng.permutation(int(query.max()) + 1 if query.size else 0)[query]
        rank = inp.pairs["rank"].to_numpy()
        order = np.lexsort((rank, shuffled, f))
        place = np.empty(len(inp))
        place[order] = np.arange(len(inp), 0, -1, dtype=np.float64)
        return Scores(place, {"neg_log_frequency": -np.log1p(f), "rank_discount": rank_discount(inp)})
