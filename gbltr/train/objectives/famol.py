"""FAMOL gradients: two LambdaRank sources weighted per query, in one pass (numba, CPU).

Yu, Bi, Guo et al., "Can LLM Annotations Replace User Clicks for Learning to Rank?",
arXiv:2511.06635. Per query ``q``: ``L = a_q * L_click(q) + b_q * L_llm(q)``, so the gradient is
``click_weight[q] * g_click + llm_weight[q] * g_llm`` with each ``g`` the LambdaRank gradient of
:mod:`gbltr.train.objectives.lambdarank` on that source's labels. A label ``< 0`` means "no
label from this source": the row takes no part in that source's pairs, and ranks and max DCG
are computed among the source's labelled rows only (identical to dropping the row for that
source).

The per-query work is shared, not repeated: one stable sort of the scores and one set of
scratch buffers serve both sources; each source then runs the pair loop of
:mod:`gbltr.train.objectives.pairs` on its labelled rows (ranks differ between sources when
labels are missing). Cost: ``benchmarks/bench_famol.py`` measures this kernel at the bound that
sharing the setup allows (LambdaRank on each source, minus one setup: 1.6-1.8x one LambdaRank
call for 100-document queries). The pair work is per source: loops fusing both sources per pair
(shared score difference, discount difference and table read) measured 1.54-2.4x, not better,
because numba does not vectorise them on AVX2; so the two loops stay separate.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from gbltr.train.objectives.checks import (
    check_common,
    check_famol_inputs,
    check_gain,
    check_group_ptr,
    check_scores,
)
from gbltr.train.objectives.lambdarank import max_group
from gbltr.train.objectives.pairs import query_setup, source_lambdas
from gbltr.train.objectives.tables import discount_table, sigmoid_table

__all__ = ["famol_grad_hess"]


@njit(parallel=True, cache=True)
def _famol_kernel(scores, click_labels, llm_labels, group_ptr, click_weight, llm_weight,
                  click_gain, llm_gain, discount, trunc, sigmoid, norm,
                  sig_table, sig_min, sig_max, sig_factor):
    n = scores.shape[0]
    grad = np.zeros(n, dtype=np.float64)
    hess = np.zeros(n, dtype=np.float64)
    nq = group_ptr.shape[0] - 1
    for q in prange(nq):
        start = group_ptr[q]
        cnt = group_ptr[q + 1] - start
        if cnt < 2:
            continue
        cw = click_weight[q]
        lw = llm_weight[q]
        if cw == 0.0 and lw == 0.0:
            continue
        # shared per query: one stable sort by descending score and the scratch buffers
        order, idx, ss, ls, gk, hk = query_setup(scores, start, cnt)
        for src in range(2):
            w = cw if src == 0 else lw
            if w == 0.0:
                continue
            labels = click_labels if src == 0 else llm_labels
            gain = click_gain if src == 0 else llm_gain
            m = source_lambdas(scores, labels, start, order, cnt, idx, ss, ls, gk, hk, gain,
                               discount, trunc, sigmoid, norm, sig_table, sig_min, sig_max,
                               sig_factor, False)
            for k in range(m):
                r = start + idx[k]
                grad[r] += w * gk[k]
                hess[r] += w * hk[k]
    return grad, hess


def famol_grad_hess(scores, click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                    click_gain, llm_gain, truncation_level: int = 30, sigmoid: float = 1.0,
                    norm: bool = True, validate: bool = True):
    """FAMOL gradient: ``click_weight[q] * g_click + llm_weight[q] * g_llm`` per query.

    Yu, Bi, Guo et al., arXiv:2511.06635. Each ``g`` is
    :func:`~gbltr.train.objectives.lambdarank_grad_hess` on one label source (labels ``< 0`` =
    no label from that source). A source is skipped for a query whose weight is 0 or whose
    labels are all equal / missing.

    Shapes: ``scores`` float64 (n,); ``click_labels``, ``llm_labels`` int32 (n,); ``group_ptr``
    int64 (n_queries + 1,); ``click_weight``, ``llm_weight`` float64 (n_queries,);
    ``click_gain``, ``llm_gain`` float64 gain tables. Returns ``grad, hess`` float64 (n,).
    ``validate=False`` skips the O(n) checks, for hot loops whose inputs were checked once
    (:func:`~gbltr.train.backends.custom.make_famol_objective` does).
    """
    if validate:
        s = check_scores(scores)
        check_group_ptr(group_ptr, s.shape[0])  # the groups must cover the scores
        cl, ll, gp, cw, lw, cg, lg = check_famol_inputs(
            click_labels, llm_labels, group_ptr, click_weight, llm_weight, click_gain=click_gain,
            llm_gain=llm_gain, truncation_level=truncation_level, sigmoid=sigmoid)
    else:
        cg = check_gain(click_gain, "click_gain")
        lg = check_gain(llm_gain, "llm_gain")
        check_common(truncation_level, sigmoid)
        s = np.ascontiguousarray(scores, dtype=np.float64)
        gp = np.ascontiguousarray(group_ptr, dtype=np.int64)
        cl = np.ascontiguousarray(click_labels, dtype=np.int32)
        ll = np.ascontiguousarray(llm_labels, dtype=np.int32)
        cw = np.ascontiguousarray(click_weight, dtype=np.float64)
        lw = np.ascontiguousarray(llm_weight, dtype=np.float64)
    table, smin, smax, sfac = sigmoid_table(sigmoid)
    disc = discount_table(max_group(gp))
    return _famol_kernel(s, cl, ll, gp, cw, lw, cg, lg, disc, int(truncation_level),
                         float(sigmoid), bool(norm), table, smin, smax, sfac)
