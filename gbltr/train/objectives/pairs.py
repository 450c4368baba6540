"""The per-query machinery shared by the LambdaRank and FAMOL kernels (numba, CPU).

Per query: one stable descending sort of the scores (:func:`sorted_order`, numba's
``np.argsort(kind="mergesort")`` on the negated scores: LightGBM's
``std::stable_sort(..., score[a] > score[b])`` order, ties keep row order); per label source the
labelled rows in that order, the max DCG at the truncation level (:func:`inv_max_dcg`), and the
pair loop (:func:`source_lambdas`, :func:`row_pairs_fast`).

Exactness: with ``f32=True`` :func:`source_lambdas` rounds every pair contribution and every
running sum to float32 in LightGBM's loop order, which reproduces LightGBM's own
``score_t = float`` gradients bit for bit (the tests train LightGBM with the built-in objective
and with this kernel and compare the dumped trees). The float64 mode accumulates in float64,
may reassociate sums and contract multiply-adds (~1e-16 relative), and so differs from
LightGBM's gradients by float32 rounding only (~1e-7 relative). A score of ``-inf`` is skipped in
pairs, as LightGBM's ``kMinScore``; NaN scores are rejected by ``check_scores``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gbltr.train.objectives.tables import SCORE_EPS

__all__ = ["sorted_order", "query_setup", "inv_max_dcg", "row_pairs_fast", "source_lambdas",
           "r32"]


@njit(cache=True, inline="always")
def r32(x):
    return np.float64(np.float32(x))


@njit(cache=True)
def sorted_order(vals):
    """Local row ids of ``vals`` stable-sorted by descending value (ties keep row order)."""
    return np.argsort(-vals, kind="mergesort")


@njit(cache=True)
def query_setup(scores, start, cnt):
    """One query's shared setup: its rows' score order (:func:`sorted_order`) and the scratch
    buffers of :func:`source_lambdas` (``idx``, ``ss``, ``ls``, ``gk``, ``hk``, length ``cnt``)."""
    order = sorted_order(scores[start:start + cnt])
    return (order, np.empty(cnt, dtype=np.int64), np.empty(cnt, dtype=np.float64),
            np.empty(cnt, dtype=np.int32), np.empty(cnt, dtype=np.float64),
            np.empty(cnt, dtype=np.float64))


@njit(cache=True)
def inv_max_dcg(ls, n, m, top, trunc, label_gain, discount):
    """``1 / maxDCG@trunc`` of the non-negative labels among ``ls[:n]`` (``m`` of them, max label
    ``top``); LightGBM takes labels from the highest down. Returns the max DCG itself when it is
    0 (no pair counts then)."""
    counts = np.zeros(top + 1, dtype=np.int64)
    for k in range(n):
        if ls[k] >= 0:
            counts[ls[k]] += 1
    kmax = trunc if trunc < m else m
    max_dcg = 0.0
    lab = top
    for k in range(kmax):
        while lab > 0 and counts[lab] <= 0:
            lab -= 1
        max_dcg += discount[k] * label_gain[lab]
        counts[lab] -= 1
    if max_dcg > 0.0:
        return 1.0 / max_dcg
    return max_dcg


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def row_pairs_fast(i, m, si, li, gain_i, disc_i, ss, ls, gk, hk, label_gain, discount,
                    inv_dcg, scale_by_dist, sig_table, sig_min, sig_max, sig_factor,
                    neg_sig, sq):
    """Pairs (i, j > i) of one row (float64 mode, all scores finite).

    Same formulas as the exact loop in :func:`source_lambdas` with the high/low branches folded
    into a sign (exact: IEEE negation) and sums that may be reassociated (~1e-16 relative).
    Returns the row's (grad, hess, sum of 2|lambda|) increments.
    """
    last_bin = sig_table.shape[0] - 1
    gi = 0.0
    hi = 0.0
    tot = 0.0
    for j in range(i + 1, m):
        lj = ls[j]
        if lj == li:
            continue
        sgn = 1.0 if li > lj else -1.0
        ds = sgn * (si - ss[j])
        delta = (sgn * (gain_i - label_gain[lj])) * abs(disc_i - discount[j]) * inv_dcg
        if scale_by_dist:
            delta = delta / (SCORE_EPS + abs(ds))
        x = min(max(ds, sig_min), sig_max)
        k = min(int((x - sig_min) * sig_factor), last_bin)
        p = sig_table[k]
        ph = p * (1.0 - p)
        p = p * (neg_sig * delta)
        ph = ph * (sq * delta)
        sp = sgn * p
        gk[j] -= sp
        hk[j] += ph
        gi += sp
        hi += ph
        tot -= 2 * p
    return gi, hi, tot


@njit(cache=True)
def source_lambdas(scores, labels, start, order, cnt, idx, ss, ls, gk, hk, label_gain,
                    discount, trunc, sigmoid, norm, sig_table, sig_min, sig_max, sig_factor,
                    f32):
    """LambdaRank lambdas of one query for one label source.

    ``order[:cnt]`` holds the query's local row ids stable-sorted by descending score. Only rows
    with label >= 0 take part. On return ``idx[:m]`` are the labelled local row ids in score
    order and ``gk[:m]``, ``hk[:m]`` their grad / hess (by labelled rank); returns m, or 0 when
    no pair can contribute. ``ss``, ``ls`` are scratch (scores, labels by labelled rank).
    """
    m = 0
    top = -1
    bottom = 1 << 30
    for k in range(cnt):
        r = order[k]
        lab = labels[start + r]
        if lab >= 0:
            idx[m] = r
            ss[m] = scores[start + r]
            ls[m] = lab
            gk[m] = 0.0
            hk[m] = 0.0
            m += 1
            if lab > top:
                top = lab
            if lab < bottom:
                bottom = lab
    if m < 2 or top == bottom:
        return 0
    inv_dcg = inv_max_dcg(ls, m, m, top, trunc, label_gain, discount)
    # best / worst score among labelled rows (LightGBM skips one trailing -inf)
    best = ss[0]
    worst_k = m - 1
    if worst_k > 0 and ss[worst_k] == -np.inf:
        worst_k -= 1
    worst = ss[worst_k]
    scale_by_dist = norm and best != worst
    sq = sigmoid * sigmoid
    neg_sig = -sigmoid
    last_bin = sig_table.shape[0] - 1
    sum_lambdas = 0.0
    i_end = m - 1
    if trunc < i_end:
        i_end = trunc
    if not f32 and ss[m - 1] != -np.inf:
        # float64 mode, all scores finite: vectorised rows
        for i in range(i_end):
            li = ls[i]
            gi, hi, tot = row_pairs_fast(i, m, ss[i], li, label_gain[li], discount[i], ss, ls,
                                          gk, hk, label_gain, discount, inv_dcg,
                                          scale_by_dist, sig_table, sig_min, sig_max,
                                          sig_factor, neg_sig, sq)
            gk[i] += gi
            hk[i] += hi
            sum_lambdas += tot
        i_end = 0  # the exact loop below has nothing left to do
    for i in range(i_end):
        si = ss[i]
        if si == -np.inf:
            continue
        li = ls[i]
        gain_i = label_gain[li]
        disc_i = discount[i]
        gi = gk[i]
        hi = hk[i]
        for j in range(i + 1, m):
            lj = ls[j]
            if li == lj:
                continue
            sj = ss[j]
            if sj == -np.inf:
                continue
            pdisc = abs(disc_i - discount[j])
            # sgn = +1 when row i is the higher-labelled one; negation is exact in IEEE, so
            # sgn * (a - b) == (b - a) bit for bit and this matches LightGBM's high/low form
            sgn = 1.0 if li > lj else -1.0
            ds = sgn * (si - sj)
            delta = (sgn * (gain_i - label_gain[lj])) * pdisc * inv_dcg
            if scale_by_dist:
                delta /= (SCORE_EPS + abs(ds))
            if ds <= sig_min:
                p = sig_table[0]
            elif ds >= sig_max:
                p = sig_table[last_bin]
            else:
                p = sig_table[int((ds - sig_min) * sig_factor)]
            ph = p * (1.0 - p)
            p = p * (neg_sig * delta)
            ph = ph * (sq * delta)
            if f32:
                # LightGBM: lambdas[low] -= (float)p; hessians[low] += (float)ph;
                #           lambdas[high] += (float)p; hessians[high] += (float)ph
                p32 = r32(p)
                ph32 = r32(ph)
                if li > lj:
                    gk[j] = r32(gk[j] - p32)
                    hk[j] = r32(hk[j] + ph32)
                    gi = r32(gi + p32)
                    hi = r32(hi + ph32)
                else:
                    gi = r32(gi - p32)
                    hi = r32(hi + ph32)
                    gk[j] = r32(gk[j] + p32)
                    hk[j] = r32(hk[j] + ph32)
            else:
                sp = sgn * p
                gk[j] -= sp
                gi += sp
                hk[j] += ph
                hi += ph
            sum_lambdas -= 2 * p
        gk[i] = gi
        hk[i] = hi
    if norm and sum_lambdas > 0:
        nf = math.log2(1 + sum_lambdas) / sum_lambdas
        for k in range(m):
            if f32:
                gk[k] = r32(gk[k] * nf)
                hk[k] = r32(hk[k] * nf)
            else:
                gk[k] *= nf
                hk[k] *= nf
    return m

