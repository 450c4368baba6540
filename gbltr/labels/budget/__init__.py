"""Annotation planners: which (query, document) pairs to give the LLM under a budget.

One module per planner, registered by name in :data:`PLANNERS` (the CLI's ``--planner``
choices); the plan file and its budget are :mod:`gbltr.labels.budget.plan`.
"""

from __future__ import annotations

from gbltr.errors import unknown_choice
from gbltr.labels.budget.auto import Auto
from gbltr.labels.budget.base import PlanInput, Planner, Scores
from gbltr.labels.budget.click_uncertainty import ClickUncertainty
from gbltr.labels.budget.disagreement import Disagreement
from gbltr.labels.budget.random_pairs import RandomPairs
from gbltr.labels.budget.random_queries import RandomQueries
from gbltr.labels.budget.tail_first import TailFirst
from gbltr.labels.budget.value import ValuePerDollar

_BASE: dict[str, Planner] = {p.name: p for p in (RandomPairs(), RandomQueries(), TailFirst(), ClickUncertainty(),
                                                 Disagreement(), ValuePerDollar())}
PLANNERS: dict[str, Planner] = {**_BASE, "auto": Auto(_BASE)}
"""Every planner by name."""
DEFAULT_PLANNER = "value-per-dollar"
RANDOM = "random-pairs"


def get_planner(name: str) -> Planner:
    if name not in PLANNERS:
        raise unknown_choice("planner", name, PLANNERS)
    return PLANNERS[name]


__all__ = ["PLANNERS", "DEFAULT_PLANNER", "RANDOM", "PlanInput", "Planner", "Scores", "get_planner"]
