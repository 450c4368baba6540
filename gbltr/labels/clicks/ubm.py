"""The user browsing model (UBM).

P(C_r = 1 | C_<r) = gamma_(r, r') * alpha_(q,d), where r' is the position of the last click
above r (0 when there is none): examination depends on the position and on the distance to the
previous click. Dupret & Piwowarski (2008); Chuklin, Markov & de Rijke, *Click Models for Web
Search* (2015), sec. 3.5, fitted by the EM of sec. 4.2 (the PBM updates with the examination
cell (r, r') in place of r, :func:`gbltr.labels.clicks.pbm.em_examination_attractiveness`).

Reported scale: relevance = alpha * gamma_(1,0); ``examination`` is gamma_(r, 0) / gamma_(1,0)
(no click above); ``examination_matrix`` [P, P+1] holds every gamma_(r, r') / gamma_(1,0)
(cells never observed hold the prior mean, scaled).
"""

from __future__ import annotations

import numpy as np

from gbltr.labels.clicks.base import ClickModel, FitInfo, FittedClickModel, pairs_frame
from gbltr.labels.clicks.pbm import aggregate, em_examination_attractiveness
from gbltr.labels.clicks.empirical import PriorLearner
from gbltr.labels.clicks.priors import EMSettings
from gbltr.labels.clicks.sessions import SessionLog


def previous_click(click: np.ndarray) -> np.ndarray:
    """[S, P] position (1-based) of the last click strictly above each position, 0 if none."""
    S, P = click.shape
    pos = np.where(click, np.arange(1, P + 1)[None, :], 0)
    last = np.maximum.accumulate(pos, axis=1)
    out = np.zeros_like(last)
    out[:, 1:] = last[:, :-1]
    return out


class UBM(ClickModel):
    name = "ubm"
    click_dependent = True
    citation = "Chuklin, Markov & de Rijke (2015), sec. 3.5 (UBM) and 4.2 (EM)"

    @staticmethod
    def fit_counts(pair, position, prev, shown, click, n_pairs: int, P: int, prior: PriorLearner, em: EMSettings,
                   n_sessions: int):
        """UBM from counts: ``shown`` impressions and ``click`` clicks of pair ``pair`` at 0-based
        ``position`` with the last click above at ``prev`` (1-based, 0: none). Returns
        (attractiveness, relevance, params, FitInfo) on the pinned scale."""
        pair, cell, n, c = aggregate(pair, position * (P + 1) + prev, click, P * (P + 1), shown)
        alpha, gamma, (its, conv, hist), ll = em_examination_attractiveness(
            pair, cell, n, c, n_pairs, P * (P + 1), prior, em, n_sessions, "ubm")
        gamma = gamma.reshape(P, P + 1)
        g10 = gamma[0, 0]
        return (alpha, alpha * g10,
                {"examination": gamma[:, 0] / g10, "examination_matrix": gamma / g10, "gamma": gamma},
                FitInfo(its, conv, ll, history=hist))

    def _fit(self, log_: SessionLog, prior, em):
        P = log_.n_positions
        prev = previous_click(log_.click)
        s, r = np.nonzero(log_.shown)
        alpha, relevance, params, info = self.fit_counts(
            log_.doc[s, r], r, prev[s, r], None, log_.click[s, r], log_.pairs.height, P, prior, em,
            log_.n_sessions)
        return FittedClickModel(self.name, pairs_frame(log_, relevance, attractiveness=alpha), params,
                                prior.choice(), info, P)

    def conditional_probs(self, fitted, log_):
        alpha = fitted.pair_table(log_)["attractiveness"]
        gamma = np.asarray(fitted.params["gamma"], float)
        prev = previous_click(log_.click)
        r = np.broadcast_to(np.arange(log_.n_positions)[None, :], log_.doc.shape)
        a = alpha[np.maximum(log_.doc, 0)] if alpha.size else np.zeros(log_.doc.shape)
        return a * gamma[r, prev]

    def full_probs(self, fitted, log_):
        """P(C_r = 1) = alpha_r sum_r' P(last click above r is r') gamma_(r, r'), the distribution of
        the last click carried down the session (position r' = 0: no click yet)."""
        alpha = fitted.pair_table(log_)["attractiveness"]
        gamma = np.asarray(fitted.params["gamma"], float)
        S, P = log_.doc.shape
        a = alpha[np.maximum(log_.doc, 0)] if alpha.size else np.zeros(log_.doc.shape)
        last = np.zeros((S, P + 1))
        last[:, 0] = 1.0
        out = np.zeros((S, P))
        for r in range(P):
            shown = log_.doc[:, r] >= 0
            cond = a[:, r, None] * gamma[r][None, :]  # [S, P+1]: click probability given the last click
            p = (last * cond).sum(axis=1)
            out[:, r] = p
            last = np.where(shown[:, None], last * (1.0 - cond), last)
            last[:, r + 1] = np.where(shown, p, 0.0)
        return out
