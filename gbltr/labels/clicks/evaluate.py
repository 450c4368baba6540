"""Held-out evaluation of click models: log-likelihood and perplexity.

Chuklin, Markov & de Rijke, *Click Models for Web Search* (2015), sec. 4.2 ("Evaluation"):

- log-likelihood of a session s: ``LL_s = sum_r log P(C_r = c_r^s | C_<r = c_<r^s)`` (natural log),
  the log of the joint click probability of the session; reported as the mean over sessions,
  and per position as the mean of the position's term;
- perplexity at position r: ``p_r = 2 ** (-(1/N_r) sum_s log2 P(C_r = c_r^s | C_<r))`` over the
  N_r sessions that show a document at r; overall perplexity is the mean of p_r over positions
  (the book's definition). For CTR, DCTR and PBM the conditional probability equals the full
  one; for UBM, DBN, SDBN and cascade it uses the session's earlier clicks, as in the models'
  definitions. Perplexity 1 is perfect prediction, 2 a coin flip.

Unseen parts: a held-out (query, doc) pair never seen in training gets the prior mean of each
per-pair parameter (``unseen_pair_positions`` counts them). Sessions of queries never seen in
training are left to the caller (:func:`split_seen_queries` keeps them out and counts them).
Cascade gives a second click probability 0, so it is scored only at and above each session's
first click; ``skipped_positions`` counts the rest. No probability is clipped except at 1e-300
to keep a log finite (``clipped`` counts those; a count above 0 means the model said "impossible").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gbltr.labels.clicks.base import FittedClickModel
from gbltr.labels.clicks.dbn import scored_mask
from gbltr.labels.clicks.sessions import SessionLog


@dataclass
class HeldOutScore:
    """One model's held-out numbers (see the module docstring)."""

    model: str
    sessions: int
    positions_scored: int
    skipped_positions: int
    unseen_pair_positions: int
    clipped: int
    log_likelihood: float
    perplexity: float
    perplexity_by_position: list
    log_likelihood_by_position: list

    def to_json(self) -> dict:
        return asdict(self)


def evaluate_held_out(fitted: FittedClickModel, test: SessionLog) -> HeldOutScore:
    """Score ``test`` sessions with ``fitted`` (formulas in the module docstring)."""
    p = fitted.predict_click_probs(test)
    mask = scored_mask(test, getattr(fitted.model, "first_click_only", False))
    q = np.where(test.click, p, 1.0 - p)
    clipped = int(((q <= 0) & mask).sum())
    logq = np.where(mask, np.log(np.clip(q, 1e-300, 1.0)), 0.0)
    n_r = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ll_r = np.where(n_r > 0, logq.sum(axis=0) / np.maximum(n_r, 1), np.nan)
        perp_r = np.where(n_r > 0, np.exp2(-ll_r / np.log(2.0)), np.nan)
    known = fitted.pair_table(test)["known"]
    unseen = int((test.shown & ~known[np.maximum(test.doc, 0)]).sum()) if known.size else int(test.shown.sum())
    return HeldOutScore(
        model=fitted.name, sessions=test.n_sessions, positions_scored=int(mask.sum()),
        skipped_positions=int(test.shown.sum() - mask.sum()), unseen_pair_positions=unseen, clipped=clipped,
        log_likelihood=float(logq.sum() / max(test.n_sessions, 1)),
        perplexity=float(np.nanmean(perp_r)) if np.isfinite(perp_r).any() else float("nan"),
        perplexity_by_position=[None if not np.isfinite(x) else float(x) for x in perp_r],
        log_likelihood_by_position=[None if not np.isfinite(x) else float(x) for x in ll_r],
    )


def split_seen_queries(train: SessionLog, test: SessionLog) -> tuple[SessionLog, int]:
    """The ``test`` sessions whose query was seen in ``train``, and how many were left out."""
    seen = np.isin(test.query_ids[test.query], train.query_ids)
    return test.subset(seen), int((~seen).sum())
