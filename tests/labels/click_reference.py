"""Straightforward reference implementations of click-model EM, independent of gbltr's kernels.

- :func:`pbm_em` and :func:`ubm_em`: the textbook per-session loops (Chuklin, Markov & de Rijke
  2015, sec. 4.2), one Python iteration per session and position, no aggregation; the same
  pseudo-count M-step as gbltr.
- :func:`dbn_posteriors_bruteforce`: DBN expected sufficient statistics and log-likelihood of one
  session by enumerating every hidden configuration (attractiveness A_r, satisfaction S_r,
  continuation G_r), for checking the closed-form E-step on short sessions.

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
