"""Straightforward reference implementations of click-model EM, independent of gbltr's kernels.

- :func:`pbm_em` and :func:`ubm_em`: the textbook per-session loops (Chuklin, Markov & de Rijke
  2015, sec. 4.2), one Python iteration per session and position, no aggregation; the same
  pseudo-count M-step as gbltr.
- :func:`dbn_posteriors_bruteforce`: DBN expected sufficient statistics and log-likelihood of one
  session by enumerating every hidden configuration (attractiveness A_r, satisfaction S_r,
  continuation G_r), for checking the closed-form E-step on short sessions.
- :func:`ubm_conditional` and :func:`dbn_conditional`: P(C_r = 1 | earlier clicks) of one session,
  from the models' definitions (sec. 3.5, 3.7), one position at a time.
- :func:`full_click_probs_bruteforce`: P(C_r = 1) of one session by summing the conditional
  probability over every pattern of earlier clicks, weighted by that pattern's probability; and
  :func:`perplexities`: perplexity and conditional perplexity by position (sec. 4.2), per session
  and position in plain Python.

Used by tests/labels/test_click_models.py and benchmarks/bench_clicks.py (the "reference" column).
"""

from __future__ import annotations

import itertools
import math


def _sessions(doc, click):
    out = []
    for s in range(len(doc)):
        out.append([(r, int(doc[s][r]), bool(click[s][r])) for r in range(len(doc[s])) if doc[s][r] >= 0])
    return out


def pbm_em(doc, click, n_pairs, n_pos, iterations, a_prior=(1.0, 3.0), e_prior=(1.0, 1.0)):
    sessions = _sessions(doc, click)
    alpha = [0.5] * n_pairs
    theta = [0.5] * n_pos
    for _ in range(iterations):
        an, ad = [0.0] * n_pairs, [0.0] * n_pairs
        tn, td = [0.0] * n_pos, [0.0] * n_pos
        for sess in sessions:
            for r, d, c in sess:
                a, t = alpha[d], theta[r]
                if c:
                    pa, pe = 1.0, 1.0
                else:
                    z = 1.0 - a * t
                    pa, pe = a * (1 - t) / z, t * (1 - a) / z
                an[d] += pa
                ad[d] += 1
                tn[r] += pe
                td[r] += 1
        alpha = [(an[i] + a_prior[0]) / (ad[i] + sum(a_prior)) for i in range(n_pairs)]
        theta = [(tn[i] + e_prior[0]) / (td[i] + sum(e_prior)) for i in range(n_pos)]
    return alpha, theta


def ubm_em(doc, click, n_pairs, n_pos, iterations, a_prior=(1.0, 3.0), e_prior=(1.0, 1.0)):
    sessions = _sessions(doc, click)
    alpha = [0.5] * n_pairs
    gamma = [[0.5] * (n_pos + 1) for _ in range(n_pos)]
    for _ in range(iterations):
        an, ad = [0.0] * n_pairs, [0.0] * n_pairs
        gn = [[0.0] * (n_pos + 1) for _ in range(n_pos)]
        gd = [[0.0] * (n_pos + 1) for _ in range(n_pos)]
        for sess in sessions:
            prev = 0
            for r, d, c in sess:
                a, g = alpha[d], gamma[r][prev]
                if c:
                    pa, pe = 1.0, 1.0
                else:
                    z = 1.0 - a * g
                    pa, pe = a * (1 - g) / z, g * (1 - a) / z
                an[d] += pa
                ad[d] += 1
                gn[r][prev] += pe
                gd[r][prev] += 1
                if c:
                    prev = r + 1
        alpha = [(an[i] + a_prior[0]) / (ad[i] + sum(a_prior)) for i in range(n_pairs)]
        gamma = [[(gn[r][k] + e_prior[0]) / (gd[r][k] + sum(e_prior)) for k in range(n_pos + 1)] for r in range(n_pos)]
    return alpha, gamma


def dbn_posteriors_bruteforce(docs, clicks, alpha, sigma, gamma):
    """One session (lists of pair indices and 0/1 clicks): enumerate A, S, G for every position.

    Returns (P(C), {pair: [sum P(A=1|C), count]}, {pair: [sum P(S=1|C), clicks]},
    [sum P(E_(r+1)=1|C), sum P(E_r=1, S_r=0|C)] over transitions r -> r+1 inside the session).
    """
    n = len(docs)
    total = 0.0
    ea = [0.0] * n
    es = [0.0] * n
    g_num = [0.0] * n
    g_den = [0.0] * n
    for A in itertools.product((0, 1), repeat=n):
        for S in itertools.product((0, 1), repeat=n):
            for G in itertools.product((0, 1), repeat=n):
                p = 1.0
                e = 1
                E = []
                ok = True
                for r in range(n):
                    E.append(e)
                    a, s_ = alpha[docs[r]], sigma[docs[r]]
                    p *= a if A[r] else 1 - a
                    c = e and A[r]
                    if c != clicks[r]:
                        ok = False
                        break
                    # S only matters after a click; otherwise force S = 0 (probability 1)
                    if c:
                        p *= s_ if S[r] else 1 - s_
                    elif S[r]:
                        ok = False
                        break
                    # G only matters when examined and not satisfied
                    if e and not S[r]:
                        p *= gamma if G[r] else 1 - gamma
                        e_next = G[r]
                    else:
                        if G[r]:
                            ok = False
                            break
                        e_next = 0
                    e = e_next
                if not ok or p == 0:
                    continue
                E.append(e)
                total += p
                for r in range(n):
                    ea[r] += p * A[r]
                    es[r] += p * S[r]
                    if r + 1 < n:
                        g_den[r] += p * (E[r] and not S[r])
                        g_num[r] += p * E[r + 1]
    stats = {
        "alpha": [x / total for x in ea],
        "sigma": [x / total for x in es],
        "g_num": sum(g_num) / total,
        "g_den": sum(g_den) / total,
    }
    return total, stats


def log(x):
    return math.log(x)


def ubm_conditional(docs, clicks, alpha, gamma):
    """One session: [P(C_r = 1 | c_<r)] under UBM, gamma[r][r'] with r' the 1-based last click above (0: none)."""
    out, prev = [], 0
    for r, d in enumerate(docs):
        out.append(alpha[d] * gamma[r][prev])
        if clicks[r]:
            prev = r + 1
    return out


def dbn_conditional(docs, clicks, alpha, sigma, gamma):
    """One session: [P(C_r = 1 | c_<r)] under DBN, by Bayes on P(E_r = 1 | c_<r), position by position."""
    out, e = [], 1.0
    for r, d in enumerate(docs):
        p = e * alpha[d]
        out.append(p)
        e = gamma * (1 - sigma[d]) if clicks[r] else gamma * e * (1 - alpha[d]) / (1 - p)
    return out


def full_click_probs_bruteforce(docs, conditional):
    """One session: [P(C_r = 1)] = sum over earlier click patterns c of P(c) P(C_r = 1 | c), where
    ``conditional(clicks)`` gives the conditional probabilities of a full click pattern."""
    n = len(docs)
    out = []
    for r in range(n):
        total = 0.0
        for c in itertools.product((0, 1), repeat=r):
            pattern = list(c) + [0] * (n - r)
            cond = conditional(pattern)
            p = 1.0
            for k in range(r):
                p *= cond[k] if c[k] else 1 - cond[k]
            total += p * cond[r]
        out.append(total)
    return out


def perplexities(sessions):
    """``sessions``: [(clicks, probabilities)] with one probability of a click per position.
    Returns [2 ** (-mean over sessions of log2 P(C_r = c_r))] by position."""
    n_pos = max(len(c) for c, _ in sessions)
    out = []
    for r in range(n_pos):
        terms = [math.log2(p[r] if c[r] else 1 - p[r]) for c, p in sessions if r < len(c)]
        out.append(2 ** (-sum(terms) / len(terms)))
    return out
