"""Held-out evaluation of click models: log-likelihood, perplexity and conditional perplexity.

Chuklin, Markov & de Rijke, *Click Models for Web Search* (2015), sec. 4.2 ("Evaluation") list
log-likelihood, perplexity and conditional perplexity as separate metrics; gbltr reports all three:

- log-likelihood of a session s: ``LL_s = sum_r log P(C_r = c_r^s | C_<r = c_<r^s)`` (natural log),
  the log of the joint click probability of the session; reported as the mean over sessions,
  and per position as the mean of the position's term;
- perplexity at position r: ``p_r = 2 ** (-(1/N_r) sum_s log2 P(C_r = c_r^s))`` over the N_r
  sessions that show a document at r, with the *full* click probability P(C_r = 1), marginalised
  over the earlier clicks (the model sees the session's documents, not its clicks); this is the
  perplexity of Dupret & Piwowarski (2008) and of PyClick's ``Perplexity``;
- conditional perplexity at position r: the same with ``P(C_r = c_r^s | C_<r = c_<r^s)``, the
  probability given the session's earlier clicks (PyClick's ``ConditionalPerplexity``).

Overall (conditional) perplexity is the mean of ``p_r`` over positions. **Models are ranked by the
(full) perplexity.** For CTR, DCTR and PBM the two are equal (no click dependence); for UBM, DBN,
SDBN and cascade they differ.
Perplexity 1 is perfect prediction, 2 a coin flip.

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
    conditional_perplexity: float
    conditional_perplexity_by_position: list
    log_likelihood_by_position: list

    def to_json(self) -> dict:
        return asdict(self)


def evaluate_held_out(fitted: FittedClickModel, test: SessionLog) -> HeldOutScore:
    """Score ``test`` sessions with ``fitted`` (formulas in the module docstring)."""
    mask = scored_mask(test, getattr(fitted.model, "first_click_only", False))
    n_r = mask.sum(axis=0)

    def per_position(p):
        q = np.where(test.click, p, 1.0 - p)
        logq = np.where(mask, np.log(np.clip(q, 1e-300, 1.0)), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ll_r = np.where(n_r > 0, logq.sum(axis=0) / np.maximum(n_r, 1), np.nan)
            return int(((q <= 0) & mask).sum()), logq, ll_r, np.where(n_r > 0, np.exp2(-ll_r / np.log(2.0)), np.nan)

    clipped, logq, ll_r, cond_r = per_position(fitted.predict_click_probs(test))
    clipped_full, _, _, perp_r = per_position(fitted.predict_full_click_probs(test))
    known = fitted.pair_table(test)["known"]
    unseen = int((test.shown & ~known[np.maximum(test.doc, 0)]).sum()) if known.size else int(test.shown.sum())
    return HeldOutScore(
        model=fitted.name, sessions=test.n_sessions, positions_scored=int(mask.sum()),
        skipped_positions=int(test.shown.sum() - mask.sum()), unseen_pair_positions=unseen,
        clipped=max(clipped, clipped_full),
        log_likelihood=float(logq.sum() / max(test.n_sessions, 1)),
        perplexity=_mean(perp_r), perplexity_by_position=_listed(perp_r),
        conditional_perplexity=_mean(cond_r), conditional_perplexity_by_position=_listed(cond_r),
        log_likelihood_by_position=[None if not np.isfinite(x) else float(x) for x in ll_r],
    )


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _listed(x: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in x]


def split_seen_queries(train: SessionLog, test: SessionLog) -> tuple[SessionLog, int]:
    """The ``test`` sessions whose query was seen in ``train``, and how many were left out."""
    seen = np.isin(test.query_ids[test.query], train.query_ids)
    return test.subset(seen), int((~seen).sum())
