"""``auto``: choose a planner on validation queries (never test), then plan with it.

**With masked trials** (``PlanInput.trial``: the LLM labels already exist, as in the budget
curves, a semi-synthetic log or a pilot annotation): each candidate planner makes its plan at
the requested budget, a fused model trains on that plan's LLM labels alone (the rest masked,
cheap settings: :func:`gbltr.labels.budget.trial.trial_config`), and the candidate whose model
scores the highest validation nDCG@10 wins. This is what a planner is for: the fused model it
leads to.

**Without them** (a log with no LLM labels yet) no plan can be tried, and the choice falls back
to a proxy: each candidate scores the validation candidates, its top :data:`TRIAL_SHARE` is
taken, and what those pairs' labels would fix is ``|human grade / max grade - click relevance|
x rank discount``, summed, per unit of cost.

Ties go to any planner before a random baseline, then registry order. The choice and every
candidate's trial value are the plan's reason columns (``part_trial_NAME``; ``part_masked_trials``
is 1 for trained trials, 0 for the proxy).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.errors import DataError
from gbltr.labels.budget.base import PlanInput, Planner, Scores, rank_discount

TRIAL_SHARE = 0.2
"""The share of validation pairs each candidate chooses in the proxy trial."""


def trial_value(planner: Planner, valid: PlanInput, rng: np.random.Generator, share: float = TRIAL_SHARE) -> float:
    """The proxy trial: what ``planner``'s top ``share`` of ``valid``'s pairs would fix, per unit of cost."""
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
    description = "the planner whose plan trains the best fused model on validation queries"
    uses_trials = True

    def __init__(self, candidates: dict[str, Planner]):
        self.candidates = candidates
        self.needs_second_click_model = any(p.needs_second_click_model for p in candidates.values())

    def score(self, inp: PlanInput, rng: np.random.Generator) -> Scores:
        valid = inp.validation
        if valid is None or valid.height == 0 or "human" not in valid.columns:
            raise DataError("planner 'auto' chooses on validation queries with human labels; found none. "
                            "Pick a planner with --planner, or add human labels (labels/human.parquet)")
        if inp.trial is not None:
            chosen_scores, values = {}, {}
            for name, p in self.candidates.items():
                chosen_scores[name] = p.score(inp, np.random.default_rng(rng.integers(2**32)))
                values[name] = inp.trial(chosen_scores[name].score)
            values = {n: (v if np.isfinite(v) else -np.inf) for n, v in values.items()}
            best = max(values, key=lambda n: (values[n], not self.candidates[n].baseline))
            chosen = chosen_scores[best]
        else:
            vin = PlanInput(valid, inp.prior,
                            None if inp.cost is None else np.full(valid.height, float(np.mean(inp.cost))))
            values = {name: trial_value(p, vin, np.random.default_rng(rng.integers(2**32)))
                      for name, p in self.candidates.items()}
            best = max(values, key=lambda n: (values[n], not self.candidates[n].baseline))
            chosen = self.candidates[best].score(inp, rng)
        parts = dict(chosen.parts)
        parts.update({f"trial_{name.replace('-', '_')}": np.full(len(inp), v) for name, v in values.items()})
        parts["masked_trials"] = np.full(len(inp), 1.0 if inp.trial is not None else 0.0)
        return Scores(chosen.score, parts, chosen=best)
