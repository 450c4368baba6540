"""LambdaRank-NDCG gradients, as LightGBM 4.7's built-in ``objective="lambdarank"`` (numba, CPU).

Burges, "From RankNet to LambdaRank to LambdaMART: An Overview", MSR-TR-2010-82, with the
details of LightGBM 4.7's ``LambdarankNDCG`` (``src/objective/rank_objective.hpp``): documents
are stable-sorted by descending score; every pair ``(i, j)`` with ``i`` among the first
``truncation_level`` ranks, ``j > i`` and different labels contributes
``|delta NDCG| = (gain_hi - gain_lo) * |1/log2(2+r_hi) - 1/log2(2+r_lo)| / maxDCG@trunc``,
divided by ``0.01 + |s_hi - s_lo|`` when ``norm`` and the query's scores are not all equal;
``rho = 1 / (1 + exp(sigmoid * (s_hi - s_lo)))`` is read from LightGBM's 2^20-bin lookup table;
``lambda = -sigmoid * rho * |dNDCG|`` goes to the higher-labelled document (and ``-lambda`` to
the lower), ``hess = sigmoid^2 * rho * (1 - rho) * |dNDCG|`` to both. With ``norm`` the query's
lambdas and hessians are finally scaled by ``log2(1 + S) / S``, ``S`` the sum of ``2 |lambda|``
over pairs. Per-row weights multiply after that normalisation, as LightGBM's
``Dataset(weight=...)`` does. A label ``< 0`` means "unlabelled": the row takes no part (ranks
and max DCG among the labelled rows only; identical to dropping the row).

``float32_accumulate=True`` reproduces LightGBM's float32 gradients bit for bit (see
:mod:`gbltr.train.objectives.pairs`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from gbltr.errors import SchemaError
from gbltr.train.objectives.checks import (
    check_common,
    check_gain,
    check_group_ptr,
    check_labels,
    check_query_weights,
    check_scores,
)
from gbltr.train.objectives.pairs import query_setup, r32, source_lambdas
from gbltr.train.objectives.tables import discount_table, sigmoid_table

__all__ = ["lambdarank_grad_hess", "max_group"]


@njit(parallel=True, cache=True)
def _lambdarank_kernel(scores, labels, group_ptr, label_gain, discount, query_weight,
                       has_qw, row_weight, has_rw, trunc, sigmoid, norm,
                       sig_table, sig_min, sig_max, sig_factor, f32):
    n = scores.shape[0]
    grad = np.zeros(n, dtype=np.float64)
    hess = np.zeros(n, dtype=np.float64)
    nq = group_ptr.shape[0] - 1
    for q in prange(nq):
        start = group_ptr[q]
        cnt = group_ptr[q + 1] - start
        if cnt < 2:
            continue
        if has_qw and query_weight[q] == 0.0:
            continue
        order, idx, ss, ls, gk, hk = query_setup(scores, start, cnt)
        m = source_lambdas(scores, labels, start, order, cnt, idx, ss, ls, gk, hk, label_gain,
                           discount, trunc, sigmoid, norm, sig_table, sig_min, sig_max,
                           sig_factor, f32)
        qw = 1.0
        if has_qw:
            qw = query_weight[q]
        for k in range(m):
            r = idx[k]
            gr = gk[k]
            hr = hk[k]
            if has_rw:
                w = row_weight[start + r]
                if f32:
                    w = r32(w)
                    gr = r32(gr * w)
                    hr = r32(hr * w)
                else:
                    gr = gr * w
                    hr = hr * w
            grad[start + r] = gr * qw
            hess[start + r] = hr * qw
    return grad, hess



def max_group(gp: np.ndarray) -> int:
    return int(np.max(np.diff(gp))) if gp.shape[0] > 1 else 0


def lambdarank_grad_hess(scores, labels, group_ptr, *, label_gain, query_weight=None,
                         row_weight=None, truncation_level: int = 30, sigmoid: float = 1.0,
                         norm: bool = True, float32_accumulate: bool = False,
                         validate: bool = True):
    """LambdaRank-NDCG gradient and hessian, as LightGBM 4.7's ``objective="lambdarank"``.

    Parameters
    ----------
    scores : float64 (n,)
        Current raw model scores, rows sorted by query.
    labels : int32 (n,)
        Integer grades; ``< 0`` = unlabelled row (takes no part; same as dropping it).
    group_ptr : int64 (n_queries + 1,)
        Query boundaries.
    label_gain : float64 (n_gains,)
        Gain of each grade (LightGBM ``label_gain``; default ``2^i - 1``).
    query_weight : float64 (n_queries,), optional
        Multiplies all of query ``q``'s grad and hess.
    row_weight : float64 (n,), optional
        Multiplies each row's grad and hess after the per-query normalisation
        (LightGBM ``Dataset(weight=...)``).
    truncation_level, sigmoid, norm
        LightGBM's ``lambdarank_truncation_level``, ``sigmoid``, ``lambdarank_norm``.
    float32_accumulate : bool
        Round as LightGBM's float32 ``score_t`` does (bit-exact reproduction).
    validate : bool
        Check shapes, group_ptr, labels and NaN scores (O(n)); turn off only in hot loops
        whose inputs were checked once.

    Returns
    -------
    grad, hess : float64 (n,)
    """
    gain = check_gain(label_gain)
    check_common(truncation_level, sigmoid)
    if validate:
        s = check_scores(scores)
        gp = check_group_ptr(group_ptr, s.shape[0])
        lab = check_labels(labels, s.shape[0], gain)
    else:
        s = np.ascontiguousarray(scores, dtype=np.float64)
        gp = np.ascontiguousarray(group_ptr, dtype=np.int64)
        lab = np.ascontiguousarray(labels, dtype=np.int32)
    n = s.shape[0]
    nq = gp.shape[0] - 1
    has_qw = query_weight is not None
    qw = check_query_weights(query_weight, nq, "query_weight") if has_qw else np.ones(1)
    has_rw = row_weight is not None
    if has_rw:
        rw = np.ascontiguousarray(np.asarray(row_weight, dtype=np.float64))
        if rw.ndim != 1 or rw.shape[0] != n:
            raise SchemaError(
                f"row_weight must hold one weight per row; expected length {n}, found shape "
                f"{rw.shape}."
            )
    else:
        rw = np.ones(1)
    table, smin, smax, sfac = sigmoid_table(sigmoid)
    disc = discount_table(max_group(gp))
    return _lambdarank_kernel(s, lab, gp, gain, disc, qw, has_qw, rw, has_rw,
                              int(truncation_level), float(sigmoid), bool(norm),
                              table, smin, smax, sfac, bool(float32_accumulate))
