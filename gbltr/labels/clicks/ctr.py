"""Click-through-rate models: CTR (rank-based) and DCTR (document-based).

Chuklin, Markov & de Rijke, *Click Models for Web Search* (2015), sec. 3.1 (and the MLE of
sec. 4.1):

``ctr``
    The rank-based CTR model (RCTR): P(C_r = 1) = rho_r, one click rate per position, whatever
    the document. Its per-pair ``relevance`` is the pair's Beta-smoothed click-through rate over
    all its impressions, with position bias left in: (clicks + a) / (impressions + a + b), the
    attractiveness pseudo-counts. Examination is rho_r / rho_1.
``dctr``
    The document-based CTR model (DCTR): P(C = 1 | q, d) = rho_(q,d), the same smoothed
    per-pair click-through rate; pairs unseen in training get the prior mean a / (a + b). This
    is the baseline every other model should beat in held-out perplexity. Examination is 1 at
    every position (the model has none).

Both are closed form (``iterations = 1``).
"""

from __future__ import annotations

import numpy as np

from gbltr.labels.clicks.base import (ClickModel, FitInfo, FittedClickModel,
                                      click_log_likelihood, pair_counts, pairs_frame)
from gbltr.labels.clicks.empirical import PriorLearner
from gbltr.labels.clicks.sessions import SessionLog


def _smoothed_ctr(log_: SessionLog, prior: PriorLearner) -> np.ndarray:
    """(clicks + a) / (impressions + a + b) per pair; a learnt prior is fitted once on these counts."""
    imp, clk = pair_counts(log_)
    if prior.active:
        prior.refit({"attractiveness": (clk, imp)})
    return prior.priors.attractiveness.update(clk, imp)


class CTR(ClickModel):
    name = "ctr"
    citation = "Chuklin, Markov & de Rijke (2015), sec. 3.1 (rank-based CTR model)"

    def _fit(self, log_, prior, em):
        shown = log_.shown
        rho = prior.priors.examination.update((log_.click & shown).sum(axis=0), shown.sum(axis=0))
        ctr = _smoothed_ctr(log_, prior)
        p = np.broadcast_to(rho, log_.doc.shape)
        ll = click_log_likelihood(p, log_.click, shown) / max(log_.n_sessions, 1)
        return FittedClickModel(self.name, pairs_frame(log_, ctr, attractiveness=ctr),
                                {"examination": rho / rho[0], "click_rate": rho}, prior.choice(),
                                FitInfo(1, True, ll), log_.n_positions)

    def conditional_probs(self, fitted, log_):
        rho = np.asarray(fitted.params["click_rate"], float)[: log_.n_positions]
        return np.broadcast_to(rho, log_.doc.shape).copy()


class DCTR(ClickModel):
    name = "dctr"
    citation = "Chuklin, Markov & de Rijke (2015), sec. 3.1 (document-based CTR model)"

    def _fit(self, log_, prior, em):
        ctr = _smoothed_ctr(log_, prior)
        p = ctr[np.maximum(log_.doc, 0)]
        ll = click_log_likelihood(p, log_.click, log_.shown) / max(log_.n_sessions, 1)
        return FittedClickModel(self.name, pairs_frame(log_, ctr, attractiveness=ctr),
                                {"examination": np.ones(log_.n_positions)}, prior.choice(), FitInfo(1, True, ll),
                                log_.n_positions)

    def conditional_probs(self, fitted, log_):
        alpha = fitted.pair_table(log_)["attractiveness"]
        return alpha[np.maximum(log_.doc, 0)] if alpha.size else np.zeros(log_.doc.shape)
