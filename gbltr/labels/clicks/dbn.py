"""The dynamic Bayesian network model (DBN), its simplified form (SDBN) and the cascade model.

DBN (Chapelle & Zhang, WWW 2009; Chuklin, Markov & de Rijke, *Click Models for Web Search*,
2015, sec. 3.7): the user examines position 1; a document examined is clicked with probability
alpha_(q,d) (attractiveness); after a click the user is satisfied with probability sigma_(q,d)
and stops; otherwise the user goes on to the next position with probability gamma
(continuation, one per log):

    E_1 = 1;   C_r = 1 iff E_r = 1 and A_r = 1;   S_r ~ Bernoulli(sigma) if C_r = 1 else 0;
    P(E_(r+1) = 1 | E_r = 1, S_r = 0) = gamma,   E_(r+1) = 0 otherwise.

Fitted by EM (sec. 4.2) with the exact posteriors of one session, positions ``1..l`` up to the
last click l being examined for sure; for the positions after l, with
``eps_r = P(no click at r..P | E_r = 1) = (1 - alpha_r)(1 - gamma + gamma eps_(r+1))``:

    P(S_l = 1 | C) = sigma_l / Z,      Z = 1 - p0 + p0 eps_(l+1),   p0 = gamma (1 - sigma_l)  (1 if no click)
    P(E_r = 1 | C) = p0 prod_(k=l+1..r-1) (1 - alpha_k) gamma * eps_r / Z        (r > l)
    P(A_r = 1 | C) = alpha_r (1 - P(E_r = 1 | C))                                (r > l)

and gamma's expected transitions P(E_(r+1) = 1 | C) over P(E_r = 1, S_r = 0 | C). The E-step
is a numba kernel over sessions (no Python loop per session). Relevance = alpha * sigma.

SDBN (sec. 3.7 and 4.1): gamma = 1, fitted in closed form. The positions up to the last click are
examined, the later ones are not (a session without a click examines every position):
alpha = clicks / examined impressions, sigma = last clicks / clicks, each with pseudo-counts.

Cascade (Craswell et al., WSDM 2008; sec. 3.2): the user scans down and stops at the first
click (DBN with gamma = sigma = 1), fitted in closed form: alpha = first clicks / impressions at
or above the first click. The model gives a second click probability 0, so held-out evaluation
scores cascade only up to each session's first click and reports how many positions it skipped.

Held-out probabilities conditional on the session's earlier clicks:
P(C_r = 1 | C_<r) = P(E_r = 1 | C_<r) alpha_r, with P(E_(r+1) = 1 | C_<=r) = gamma (1 - sigma_r)
after a click and gamma P(E_r = 1 | C_<r)(1 - alpha_r) / (1 - P(E_r = 1 | C_<r) alpha_r) after a skip.
Full click probabilities (marginalised over earlier clicks): P(C_r = 1) = P(E_r = 1) alpha_r with
P(E_1 = 1) = 1 and P(E_(r+1) = 1) = P(E_r = 1) gamma (1 - alpha_r sigma_r) (:func:`session_examination`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gbltr.labels.clicks.base import ClickModel, EMLoop, FitInfo, FittedClickModel, pair_counts, pairs_frame
from gbltr.labels.clicks.sessions import SessionLog

_TINY = 1e-300


@njit(cache=True, nogil=True)
def _dbn_estep(doc, click, alpha, sigma, gamma, a_num, a_den, s_num, s_den, e_den):
    """One E-step over every session; accumulates per-pair statistics in place (``e_den``: expected
    examined impressions, the evidence of a learnt attractiveness prior) and returns
    (gamma numerator, gamma denominator, log-likelihood)."""
    S, P = doc.shape
    idx = np.empty(P, np.int64)
    eps = np.empty(P + 1)
    g_num = 0.0
    g_den = 0.0
    ll = 0.0
    for s in range(S):
        m = 0
        last = -1
        for r in range(P):
            if doc[s, r] >= 0:
                idx[m] = r
                if click[s, r]:
                    last = m
                m += 1
        if m == 0:
            continue
        # examined part: 0..last
        e_prev = 1.0
        for k in range(last + 1):
            d = doc[s, idx[k]]
            c = click[s, idx[k]]
            a_den[d] += 1.0
            e_den[d] += 1.0
            ll += np.log(max(e_prev, _TINY))
            if c:
                a_num[d] += 1.0
                ll += np.log(max(alpha[d], _TINY))
                e_prev = gamma * (1.0 - sigma[d])
                if k < last:
                    s_den[d] += 1.0
            else:
                ll += np.log(max(1.0 - alpha[d], _TINY))
                e_prev = gamma
            if k < last:
                g_num += 1.0
                g_den += 1.0
        # tail after the last click
        eps[m] = 1.0
        for k in range(m - 1, last, -1):
            d = doc[s, idx[k]]
            eps[k] = (1.0 - alpha[d]) * ((1.0 - gamma) + gamma * eps[k + 1])
        if last >= 0:
            dl = doc[s, idx[last]]
            p0 = gamma * (1.0 - sigma[dl])
        else:
            p0 = 1.0
        z = (1.0 - p0) + p0 * eps[last + 1]
        z = max(z, _TINY)
        ll += np.log(z)
        if last >= 0:
            ps = sigma[dl] / z
            s_num[dl] += ps
            s_den[dl] += 1.0
            if last + 1 < m:
                g_den += 1.0 - ps
                g_num += p0 * eps[last + 1] / z
        f = p0
        for k in range(last + 1, m):
            d = doc[s, idx[k]]
            e = f * eps[k] / z
            a_num[d] += alpha[d] * (1.0 - e)
            a_den[d] += 1.0
            e_den[d] += e
            f = f * (1.0 - alpha[d]) * gamma
            if k + 1 < m:
                g_den += e
                g_num += f * eps[k + 1] / z
    return g_num, g_den, ll


@njit(cache=True, nogil=True)
def _dbn_conditional(doc, click, alpha, sigma, gamma):
    """[S, P] P(C_r = 1 | C_<r) under DBN (cascade: gamma = 1, sigma = 1)."""
    S, P = doc.shape
    out = np.full((S, P), np.nan)
    for s in range(S):
        e = 1.0
        for r in range(P):
            d = doc[s, r]
            if d < 0:
                continue
            p = e * alpha[d]
            out[s, r] = p
            if click[s, r]:
                e = gamma * (1.0 - sigma[d])
            else:
                e = gamma * (e - p) / max(1.0 - p, _TINY)
    return out


@njit(cache=True, nogil=True)
def _examined_counts(doc, click, a_num, a_den, s_num, s_den, first_only):
    """SDBN (first_only False) and cascade (True) closed-form counts."""
    S, P = doc.shape
    for s in range(S):
        stop = -1
        any_click = False
        for r in range(P):
            if doc[s, r] >= 0 and click[s, r]:
                any_click = True
                stop = r
                if first_only:
                    break
        if not any_click:
            stop = P - 1
        for r in range(stop + 1):
            d = doc[s, r]
            if d < 0:
                continue
            a_den[d] += 1.0
            if click[s, r]:
                a_num[d] += 1.0
                s_den[d] += 1.0
                if r == stop:
                    s_num[d] += 1.0


def _aligned(fitted, log_: SessionLog, cols):
    t = fitted.pair_table(log_, cols)
    return [np.ascontiguousarray(t[c]) if t[c].size else np.zeros(1) for c in cols]


def session_examination(log_: SessionLog, alpha, sigma, gamma) -> np.ndarray:
    """[S, P] P(E_r = 1) of each session, unconditional on its clicks: E_1 = 1,
    P(E_(r+1)) = P(E_r) gamma (1 - alpha_r sigma_r); a position that shows nothing passes it on."""
    S, P = log_.doc.shape
    e = np.ones(S)
    out = np.zeros((S, P))
    for r in range(P):
        d = log_.doc[:, r]
        shown = d >= 0
        out[:, r] = e
        a = np.where(shown, alpha[np.maximum(d, 0)], 0.0)
        s = np.where(shown, sigma[np.maximum(d, 0)], 0.0)
        e = np.where(shown, e * gamma * (1 - a * s), e)
    return out


def mean_examination(log_: SessionLog, alpha, sigma, gamma) -> np.ndarray:
    """Examination by position averaged over ``log_``'s sessions (:func:`session_examination`)."""
    e = session_examination(log_, alpha, sigma, gamma)
    shown = log_.doc >= 0
    return np.array([e[shown[:, r], r].mean() if shown[:, r].any() else np.nan for r in range(e.shape[1])])


class DBN(ClickModel):
    name = "dbn"
    click_dependent = True
    citation = "Chapelle & Zhang (2009); Chuklin, Markov & de Rijke (2015), sec. 3.7 (DBN) and 4.2 (EM)"
    pair_columns = ("attractiveness", "satisfaction")

    def _fit(self, log_: SessionLog, prior, em):
        n = log_.pairs.height
        doc, click = log_.doc, log_.click
        alpha = np.full(n, 0.5)
        sigma = np.full(n, 0.5)
        gamma = 0.5
        clicks = pair_counts(log_)[1].astype(float)
        evidence = {}

        def step():  # the log-posterior at the parameters the E-step starts from
            nonlocal alpha, sigma, gamma
            priors = prior.priors
            a_num, a_den, s_num, s_den, e_den = (np.zeros(n) for _ in range(5))
            g_num, g_den, ll = _dbn_estep(doc, click, alpha, sigma, gamma, a_num, a_den, s_num, s_den, e_den)
            obj = (ll + priors.attractiveness.log_density(alpha) + priors.satisfaction.log_density(sigma)
                   + priors.continuation.log_density([gamma]))
            alpha = priors.attractiveness.update(a_num, a_den)
            sigma = priors.satisfaction.update(s_num, s_den)
            gamma = float(priors.continuation.update(g_num, g_den))
            # a learnt prior's evidence: clicks over expected examinations; satisfied clicks over clicks
            evidence.update(attractiveness=(clicks, e_den), satisfaction=(s_num, s_den))
            return obj

        its, conv, hist = EMLoop(self.name, em, log_.n_sessions).run(
            step, (lambda: prior.refit(evidence)) if prior.active else None)
        _, _, ll = _dbn_estep(doc, click, alpha, sigma, gamma, *(np.zeros(n) for _ in range(5)))
        return FittedClickModel(
            self.name, pairs_frame(log_, alpha * sigma, attractiveness=alpha, satisfaction=sigma),
            {"examination": mean_examination(log_, alpha, sigma, gamma), "continuation": gamma},
            prior.choice(), FitInfo(its, conv, ll / max(log_.n_sessions, 1), history=hist), log_.n_positions)

    def conditional_probs(self, fitted, log_):
        alpha, sigma = _aligned(fitted, log_, ("attractiveness", "satisfaction"))
        return _dbn_conditional(log_.doc, log_.click, alpha, sigma, float(fitted.params["continuation"]))

    def full_probs(self, fitted, log_):
        alpha, sigma = _aligned(fitted, log_, ("attractiveness", "satisfaction"))
        a = alpha[np.maximum(log_.doc, 0)]
        return session_examination(log_, alpha, sigma, float(fitted.params["continuation"])) * a


class SDBN(DBN):
    name = "sdbn"
    citation = "Chuklin, Markov & de Rijke (2015), sec. 3.7 and 4.1 (simplified DBN, gamma = 1)"

    def _fit(self, log_: SessionLog, prior, em):
        n = log_.pairs.height
        a_num, a_den, s_num, s_den = (np.zeros(n) for _ in range(4))
        _examined_counts(log_.doc, log_.click, a_num, a_den, s_num, s_den, False)
        if prior.active:  # closed form: the prior is fitted once, on the exact counts
            prior.refit({"attractiveness": (a_num, a_den), "satisfaction": (s_num, s_den)})
        priors = prior.priors
        alpha = priors.attractiveness.update(a_num, a_den)
        sigma = priors.satisfaction.update(s_num, s_den)
        p = _dbn_conditional(log_.doc, log_.click, alpha if n else np.zeros(1), sigma if n else np.zeros(1), 1.0)
        ll = float(np.nansum(np.where(log_.click, np.log(np.clip(p, _TINY, 1)), np.log(np.clip(1 - p, _TINY, 1)))))
        return FittedClickModel(
            self.name, pairs_frame(log_, alpha * sigma, attractiveness=alpha, satisfaction=sigma),
            {"examination": mean_examination(log_, alpha, sigma, 1.0), "continuation": 1.0},
            prior.choice(), FitInfo(1, True, ll / max(log_.n_sessions, 1)), log_.n_positions)


class Cascade(ClickModel):
    name = "cascade"
    click_dependent = True
    citation = "Craswell et al. (2008); Chuklin, Markov & de Rijke (2015), sec. 3.2 and 4.1"
    first_click_only = True

    def _fit(self, log_: SessionLog, prior, em):
        n = log_.pairs.height
        a_num, a_den, s_num, s_den = (np.zeros(n) for _ in range(4))
        _examined_counts(log_.doc, log_.click, a_num, a_den, s_num, s_den, True)
        if prior.active:  # closed form: the prior is fitted once, on the exact counts
            prior.refit({"attractiveness": (a_num, a_den)})
        alpha = prior.priors.attractiveness.update(a_num, a_den)
        p = _dbn_conditional(log_.doc, log_.click, alpha if n else np.zeros(1), np.ones(max(n, 1)), 1.0)
        mask = scored_mask(log_, True)
        ll = float(np.where(log_.click, np.log(np.clip(p, _TINY, 1)), np.log(np.clip(1 - p, _TINY, 1)))[mask].sum())
        return FittedClickModel(
            self.name, pairs_frame(log_, alpha, attractiveness=alpha),
            {"examination": mean_examination(log_, alpha, np.ones(n), 1.0)},
            prior.choice(), FitInfo(1, True, ll / max(log_.n_sessions, 1)), log_.n_positions)

    def conditional_probs(self, fitted, log_):
        (alpha,) = _aligned(fitted, log_, ("attractiveness",))
        return _dbn_conditional(log_.doc, log_.click, alpha, np.ones_like(alpha), 1.0)

    def full_probs(self, fitted, log_):
        (alpha,) = _aligned(fitted, log_, ("attractiveness",))
        return session_examination(log_, alpha, np.ones_like(alpha), 1.0) * alpha[np.maximum(log_.doc, 0)]


def scored_mask(log_: SessionLog, first_click_only: bool) -> np.ndarray:
    """[S, P] positions a model gives a probability to: every shown one, or (cascade) those at or
    above the session's first click."""
    shown = log_.shown
    if not first_click_only:
        return shown
    after = np.cumsum(log_.click, axis=1) - log_.click > 0
    return shown & ~after
