"""The position-based model (PBM).

P(C_r = 1) = theta_r * alpha_(q,d): a document is clicked iff its position is examined
(theta_r) and it attracts the user (alpha). Richardson, Dominowska & Ragno (2007); Craswell et
al. (2008); Chuklin, Markov & de Rijke, *Click Models for Web Search* (2015), sec. 3.3, fitted by
the EM algorithm of sec. 4.2 with Beta pseudo-counts (:mod:`gbltr.labels.clicks.base`).

EM runs on counts aggregated by (pair, examination cell), so one iteration costs
O(distinct cells), not O(sessions). :func:`em_examination_attractiveness` is shared with UBM,
whose examination cell is (position, position of the previous click).

Reported scale: relevance = alpha * theta_1 (the click probability at position 1) and
examination theta_r / theta_1 (see the base module).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gbltr.labels.clicks.base import ClickModel, EMLoop, FitInfo, FittedClickModel, pairs_frame
from gbltr.labels.clicks.empirical import PriorLearner
from gbltr.labels.clicks.priors import EMSettings
from gbltr.labels.clicks.sessions import SessionLog


def aggregate(pair: np.ndarray, cell: np.ndarray, click: np.ndarray, n_cells: int, shown: np.ndarray | None = None):
    """Distinct (pair, cell), sorted, with impressions ``n`` and clicks ``c`` (1-D arrays of one length).

    One entry per impression (``click`` 0/1), or, with ``shown``, per count already made
    (``shown`` impressions and ``click`` clicks each; the streamed log)."""
    key = pair.astype(np.int64) * n_cells + cell.astype(np.int64)
    size = int(key.max()) + 1 if key.size else 0
    if size <= 4 * key.size:  # dense keys: counting is O(rows), no sort; the same sums in the same order
        uniq = np.flatnonzero(np.bincount(key, minlength=size))
        n = np.bincount(key, weights=None if shown is None else shown.astype(float), minlength=size)[uniq]
        c = np.bincount(key, weights=click.astype(float), minlength=size)[uniq]
        return uniq // n_cells, uniq % n_cells, n.astype(float), c.astype(float)
    uniq, inv = np.unique(key, return_inverse=True)
    n = np.bincount(inv, weights=None if shown is None else shown.astype(float)).astype(float)
    c = np.bincount(inv, weights=click.astype(float)).astype(float)
    return uniq // n_cells, uniq % n_cells, n, c


@njit(cache=True, nogil=True)
def _em_pass(pair, cell, n, c, alpha, theta, attr_num, exam_num):
    """E-step on aggregated counts at (alpha, theta): accumulates expected attractive and
    examined impressions in place; returns the log-likelihood at (alpha, theta)."""
    ll = 0.0
    for i in range(pair.size):
        t = theta[cell[i]]
        g = alpha[pair[i]]
        p = t * g
        skip = n[i] - c[i]
        ll += c[i] * np.log(max(p, 1e-300)) + skip * np.log(max(1.0 - p, 1e-300))
        denom = max(1.0 - p, 1e-300)
        exam_num[cell[i]] += c[i] + skip * t * (1.0 - g) / denom
        attr_num[pair[i]] += c[i] + skip * (1.0 - t) * g / denom
    return ll


def pair_examinations(pair, cell, n, c, alpha, theta, n_pairs: int) -> np.ndarray:
    """[n_pairs] expected examined impressions of each pair given its clicks (the E-step's
    P(E = 1 | C): 1 for a click, theta (1 - alpha) / (1 - theta alpha) for a skip), summed."""
    t, g = theta[cell], alpha[pair]
    e = c + (n - c) * t * (1.0 - g) / np.maximum(1.0 - t * g, 1e-300)
    return np.bincount(pair, weights=e, minlength=n_pairs)


def em_examination_attractiveness(pair, cell, n, c, n_pairs, n_cells, prior: PriorLearner, em: EMSettings,
                                  n_sessions: int, name: str):
    """EM for P(C) = theta_cell * alpha_pair on aggregated counts. Returns alpha [n_pairs],
    theta [n_cells], (iterations, converged, history), mean log-likelihood per session.
    The convergence check uses the log-posterior at the parameters each E-step starts from.
    A learnt attractiveness prior (``prior.active``) is refitted on each pair's clicks over its
    expected examinations (:func:`pair_examinations`) as :meth:`EMLoop.run` schedules."""
    alpha = np.full(n_pairs, 0.5)
    theta = np.full(n_cells, 0.5)
    pair = np.ascontiguousarray(pair, np.int64)
    cell = np.ascontiguousarray(cell, np.int64)
    pair_n = np.bincount(pair, weights=n, minlength=n_pairs)
    cell_n = np.bincount(cell, weights=n, minlength=n_cells)
    pair_c = np.bincount(pair, weights=c, minlength=n_pairs)

    def step():
        nonlocal alpha, theta
        priors = prior.priors
        attr_num, exam_num = np.zeros(n_pairs), np.zeros(n_cells)
        ll = _em_pass(pair, cell, n, c, alpha, theta, attr_num, exam_num)
        obj = ll + priors.examination.log_density(theta) + priors.attractiveness.log_density(alpha)
        theta = priors.examination.update(exam_num, cell_n)
        alpha = priors.attractiveness.update(attr_num, pair_n)
        return obj

    def refit():
        return prior.refit({"attractiveness": (pair_c, pair_examinations(pair, cell, n, c, alpha, theta, n_pairs))})

    its, conv, hist = EMLoop(name, em, n_sessions).run(step, refit if prior.active else None)
    ll = _em_pass(pair, cell, n, c, alpha, theta, np.zeros(n_pairs), np.zeros(n_cells))
    return alpha, theta, (its, conv, hist), ll / max(n_sessions, 1)


class PBM(ClickModel):
    name = "pbm"
    citation = "Chuklin, Markov & de Rijke (2015), sec. 3.3 (PBM) and 4.2 (EM)"

    @staticmethod
    def fit_counts(pair, position, shown, click, n_pairs: int, P: int, prior: PriorLearner, em: EMSettings,
                   n_sessions: int):
        """PBM from counts: ``shown`` impressions and ``click`` clicks of pair ``pair`` at 0-based
        ``position``. Returns (attractiveness, relevance, params, FitInfo) on the pinned scale."""
        pair, cell, n, c = aggregate(pair, position, click, P, shown)
        alpha, theta, (its, conv, hist), ll = em_examination_attractiveness(
            pair, cell, n, c, n_pairs, P, prior, em, n_sessions, "pbm")
        return (alpha, alpha * theta[0], {"examination": theta / theta[0], "theta": theta},
                FitInfo(its, conv, ll, history=hist))

    def _fit(self, log_: SessionLog, prior, em):
        s, r = np.nonzero(log_.shown)
        P = log_.n_positions
        alpha, relevance, params, info = self.fit_counts(
            log_.doc[s, r], r, None, log_.click[s, r], log_.pairs.height, P, prior, em, log_.n_sessions)
        return FittedClickModel(self.name, pairs_frame(log_, relevance, attractiveness=alpha), params,
                                prior.choice(), info, P)

    def conditional_probs(self, fitted, log_):
        alpha = fitted.pair_table(log_)["attractiveness"]
        theta = np.asarray(fitted.params["theta"], float)[: log_.n_positions]
        a = alpha[np.maximum(log_.doc, 0)] if alpha.size else np.zeros(log_.doc.shape)
        return a * theta[None, :]
