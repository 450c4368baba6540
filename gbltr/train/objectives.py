"""Ranking-objective kernels: LambdaRank-NDCG and FAMOL gradients (pure numba, CPU).

Both kernels take rows already sorted by query (the ranking dataset is the only place that
sorts rows, see ``gbltr.train.dataset``) and the query boundaries ``group_ptr``: an int64 array
of length ``n_queries + 1`` with ``group_ptr[0] == 0`` and ``group_ptr[-1] == n_rows``; query
``q`` owns rows ``group_ptr[q]:group_ptr[q + 1]``.

LambdaRank
    Burges, "From RankNet to LambdaRank to LambdaMART: An Overview", MSR-TR-2010-82, with the
    details of LightGBM 4.7's ``LambdarankNDCG`` (``src/objective/rank_objective.hpp``):
    documents are stable-sorted by descending score; every pair ``(i, j)`` with ``i`` among the
    first ``truncation_level`` ranks, ``j > i`` and different labels contributes
    ``|delta NDCG| = (gain_hi - gain_lo) * |1/log2(2+r_hi) - 1/log2(2+r_lo)| / maxDCG@trunc``,
    divided by ``0.01 + |s_hi - s_lo|`` when ``norm`` and the query's scores are not all equal;
    ``rho = 1 / (1 + exp(sigmoid * (s_hi - s_lo)))`` is read from LightGBM's 2^20-bin lookup table;
    ``lambda = -sigmoid * rho * |dNDCG|`` goes to the higher-labelled document (and ``-lambda`` to
    the lower), ``hess = sigmoid^2 * rho * (1 - rho) * |dNDCG|`` to both. With ``norm`` the
    query's lambdas and hessians are finally scaled by ``log2(1 + S) / S``, ``S`` the sum of
    ``2 |lambda|`` over pairs. Per-row weights multiply after that normalisation, as LightGBM's
    ``Dataset(weight=...)`` does.

FAMOL
    Yu, Bi, Guo et al., "Can LLM Annotations Replace User Clicks for Learning to Rank?",
    arXiv:2511.06635. Per query ``q``: ``L = a_q * L_click(q) + b_q * L_llm(q)``, so the gradient
    is ``click_weight[q] * g_click + llm_weight[q] * g_llm`` with each ``g`` the LambdaRank
    gradient above on that source's labels. A label ``< 0`` means "no label from this source":
    the row takes no part in that source's pairs, and ranks and max DCG are computed among the
    source's labelled rows only (identical to dropping the row for that source).

Exactness: with ``float32_accumulate=True`` :func:`lambdarank_grad_hess` rounds every pair
contribution and every running sum to float32 in LightGBM's loop order, which reproduces
LightGBM's own ``score_t = float`` gradients bit for bit (the tests train LightGBM with the
built-in objective and with this kernel and compare the dumped trees). The default float64
mode (used by FAMOL) accumulates in float64, may reassociate sums and contract multiply-adds
(~1e-16 relative), and so differs from LightGBM's gradients by float32 rounding only (~1e-7
relative; trained predictions agree to ~1e-7).

Sorting is a stable descending merge sort per query (LightGBM's ``std::stable_sort`` order:
ties keep row order); a score of ``-inf`` is skipped in pairs, as LightGBM's ``kMinScore``.
NaN scores are rejected by :func:`check_scores`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from gbltr.errors import ConfigError, DataError, SchemaError

__all__ = [
    "default_label_gain",
    "lambdarank_grad_hess",
    "famol_grad_hess",
    "check_group_ptr",
    "check_labels",
    "check_scores",
    "check_query_weights",
    "discount_table",
    "sigmoid_table",
]

#: LightGBM's sigmoid lookup table has 1024 * 1024 bins over [-50 / sigmoid / 2, 50 / sigmoid / 2].
_SIGMOID_BINS = 1024 * 1024
#: LightGBM adds the float literal ``0.01f`` (promoted to double) to ``|delta score|``.
_SCORE_EPS = float(np.float32(0.01))


def default_label_gain(n: int = 31) -> np.ndarray:
    """LightGBM's default gains ``2^i - 1`` for labels ``0 .. n-1`` (LightGBM uses ``n = 31``)."""
    return np.array([float((1 << i) - 1) for i in range(n)], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Tables (built once per size / sigmoid, with libm exp/log2 as LightGBM's C++ does)
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _build_discount(n):
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = 1.0 / math.log2(2.0 + i)
    return out


@njit(cache=True)
def _build_sigmoid(sigmoid, n_bins, min_in, factor):
    out = np.empty(n_bins, dtype=np.float64)
    for i in range(n_bins):
        s = i / factor + min_in
        out[i] = 1.0 / (1.0 + math.exp(s * sigmoid))
    return out


_DISCOUNT_CACHE: dict[int, np.ndarray] = {}
_SIGMOID_CACHE: dict[float, tuple[np.ndarray, float, float, float]] = {}


def discount_table(n: int) -> np.ndarray:
    """``1 / log2(2 + r)`` for ranks ``r = 0 .. n-1`` (at least 10,000 entries, as LightGBM)."""
    size = max(int(n), 10000)
    table = _DISCOUNT_CACHE.get(size)
    if table is None:
        big = [t for k, t in _DISCOUNT_CACHE.items() if k >= size]
        table = big[0] if big else _build_discount(size)
        _DISCOUNT_CACHE[size] = table
    return table


def sigmoid_table(sigmoid: float) -> tuple[np.ndarray, float, float, float]:
    """LightGBM's lookup table of ``1 / (1 + exp(sigmoid * x))``.

    Returns ``(table, min_input, max_input, idx_factor)``; ``table`` has 2^20 float64 entries and
    ``x`` maps to ``table[int((x - min_input) * idx_factor)]``, clamped at both ends.
    """
    key = float(sigmoid)
    hit = _SIGMOID_CACHE.get(key)
    if hit is None:
        min_in = -50.0 / key / 2
        max_in = -min_in
        factor = _SIGMOID_BINS / (max_in - min_in)
        hit = (_build_sigmoid(key, _SIGMOID_BINS, min_in, factor), min_in, max_in, factor)
        _SIGMOID_CACHE[key] = hit
    return hit


# --------------------------------------------------------------------------------------------
# Validation (raises gbltr errors; never assert on user input)
# --------------------------------------------------------------------------------------------


def check_group_ptr(group_ptr, n_rows: int) -> np.ndarray:
    """Return ``group_ptr`` as contiguous int64, or raise :class:`SchemaError`.

    Expected: 1-D, length ``n_queries + 1``, starts at 0, non-decreasing, ends at ``n_rows``.
    """
    gp = np.asarray(group_ptr)
    if gp.ndim != 1 or gp.shape[0] < 1:
        raise SchemaError(
            f"group_ptr must be a 1-D array of length n_queries + 1; found shape {gp.shape}. "
            "Build it as np.concatenate([[0], np.cumsum(group_sizes)])."
        )
    if gp.dtype.kind not in "iu":
        raise SchemaError(f"group_ptr must hold integers; found dtype {gp.dtype}.")
    gp = np.ascontiguousarray(gp, dtype=np.int64)
    if gp[0] != 0 or gp[-1] != n_rows:
        raise SchemaError(
            f"group_ptr must cover the rows: expected group_ptr[0] == 0 and group_ptr[-1] == "
            f"{n_rows} (the number of rows); found {int(gp[0])} and {int(gp[-1])}. "
            "Check that scores/labels and groups come from the same ranking dataset."
        )
    if gp.shape[0] > 1 and np.any(np.diff(gp) < 0):
        bad = int(np.flatnonzero(np.diff(gp) < 0)[0])
        raise SchemaError(
            f"group_ptr must be non-decreasing; found group_ptr[{bad}] = {int(gp[bad])} > "
            f"group_ptr[{bad + 1}] = {int(gp[bad + 1])}."
        )
    return gp


def check_scores(scores) -> np.ndarray:
    """Return scores as contiguous float64 1-D; wrong shape: SchemaError, NaN: DataError."""
    s = np.asarray(scores)
    if s.ndim != 1:
        raise SchemaError(
            f"scores must be 1-D (one score per row); found shape {s.shape}. "
            "Multi-class / multi-output scores are not ranking scores."
        )
    s = np.ascontiguousarray(s, dtype=np.float64)
    if np.isnan(s).any():
        first = int(np.flatnonzero(np.isnan(s))[0])
        raise DataError(
            f"scores must be finite or -inf; found NaN at row {first} "
            f"({int(np.isnan(s).sum())} NaN rows). Check the model's predictions / init_score."
        )
    return s


def check_labels(labels, n_rows: int, label_gain, name: str = "labels") -> np.ndarray:
    """Return labels as contiguous int32, or raise.

    Expected: 1-D integer grades of length ``n_rows``; ``-1`` (any negative) = missing; every
    non-negative label must index ``label_gain``.
    """
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != n_rows:
        raise SchemaError(
            f"{name} must be 1-D with one entry per row; expected length {n_rows}, found shape "
            f"{lab.shape}."
        )
    if lab.dtype.kind == "f":
        if lab.size and (not np.all(np.isfinite(lab)) or np.any(lab != np.round(lab))):
            raise SchemaError(
                f"{name} must be integer grades (negative = missing); found non-integer values. "
                "Map graded relevance to integers and set the gains with label_gain."
            )
    elif lab.dtype.kind not in "iub":
        raise SchemaError(f"{name} must be integer grades; found dtype {lab.dtype}.")
    lab = np.ascontiguousarray(lab, dtype=np.int32)
    n_gain = len(label_gain)
    if lab.size and int(lab.max()) >= n_gain:
        raise SchemaError(
            f"{name}: every label must index the gain table; found max label {int(lab.max())} "
            f"but the gain table has {n_gain} entries (labels 0..{n_gain - 1}). "
            "Pass a longer label_gain or re-grade the labels."
        )
    return lab


def _check_gain(label_gain, name: str = "label_gain") -> np.ndarray:
    g = np.ascontiguousarray(np.asarray(label_gain, dtype=np.float64))
    if g.ndim != 1 or g.shape[0] == 0 or not np.all(np.isfinite(g)):
        raise ConfigError(
            f"{name} must be a non-empty 1-D array of finite gains; found shape {g.shape}. "
            "LightGBM's default is 2^i - 1 (gbltr.train.objectives.default_label_gain())."
        )
    return g


def check_query_weights(w, n_queries: int, name: str) -> np.ndarray:
    """Return per-query weights as float64 of length ``n_queries``, or raise."""
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n_queries:
        raise SchemaError(
            f"{name} must hold one weight per query; expected length {n_queries}, found shape "
            f"{arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} must be finite; found NaN or inf.")
    return np.ascontiguousarray(arr)


def _check_common(truncation_level, sigmoid):
    if int(truncation_level) < 1:
        raise ConfigError(
            f"truncation_level must be >= 1; found {truncation_level}. LightGBM's default is 30."
        )
    if not (float(sigmoid) > 0.0):
        raise ConfigError(f"sigmoid must be > 0; found {sigmoid}. LightGBM's default is 1.0.")


# --------------------------------------------------------------------------------------------
# numba core
# --------------------------------------------------------------------------------------------


def check_famol_inputs(click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                       click_gain, llm_gain, truncation_level, sigmoid):
    """Validate FAMOL's inputs once (CPU factory and GPU objective alike).

    Returns ``(click_labels, llm_labels, group_ptr, click_weight, llm_weight, click_gain,
    llm_gain)`` as checked arrays; ``group_ptr`` is checked against its own last entry and the
    label arrays against it.
    """
    cg = _check_gain(click_gain, "click_gain")
    lg = _check_gain(llm_gain, "llm_gain")
    _check_common(truncation_level, sigmoid)
    gp = np.asarray(group_ptr)
    gp = check_group_ptr(gp, int(gp[-1]) if gp.ndim == 1 and gp.shape[0] > 0 else -1)
    n = int(gp[-1])
    cl = check_labels(click_labels, n, cg, "click_labels")
    ll = check_labels(llm_labels, n, lg, "llm_labels")
    nq = gp.shape[0] - 1
    cw = check_query_weights(click_weight, nq, "click_weight")
    lw = check_query_weights(llm_weight, nq, "llm_weight")
    return cl, ll, gp, cw, lw, cg, lg


@njit(cache=True, inline="always")
def _r32(x):
    return np.float64(np.float32(x))


@njit(cache=True)
def _sort_desc(vals, order, tmp):
    """Stable sort of ``order[:n]`` (local ids) by descending ``vals``; bottom-up merge sort.

    Same order as LightGBM's ``std::stable_sort(..., score[a] > score[b])``: ties keep row order.
    Small runs are insertion-sorted first.
    """
    n = vals.shape[0]
    for k in range(n):
        order[k] = k
    run = 16
    for lo in range(0, n, run):
        hi = min(lo + run, n)
        for k in range(lo + 1, hi):
            cur = order[k]
            v = vals[cur]
            p = k - 1
            while p >= lo and vals[order[p]] < v:
                order[p + 1] = order[p]
                p -= 1
            order[p + 1] = cur
    width = run
    src = order
    dst = tmp
    in_order = True
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a = lo
            b = mid
            o = lo
            while a < mid and b < hi:
                if vals[src[b]] > vals[src[a]]:
                    dst[o] = src[b]
                    b += 1
                else:
                    dst[o] = src[a]
                    a += 1
                o += 1
            while a < mid:
                dst[o] = src[a]
                a += 1
                o += 1
            while b < hi:
                dst[o] = src[b]
                b += 1
                o += 1
        src, dst = dst, src
        in_order = not in_order
        width *= 2
    if not in_order:
        for k in range(n):
            order[k] = src[k]


@njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _row_pairs_fast(i, m, si, li, gain_i, disc_i, ss, ls, gk, hk, label_gain, discount,
                    inv_max_dcg, scale_by_dist, sig_table, sig_min, sig_max, sig_factor,
                    neg_sig, sq):
    """Pairs (i, j > i) of one row (float64 mode, all scores finite).

    Same formulas as the exact loop in :func:`_source_lambdas` with the high/low branches folded
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
        delta = (sgn * (gain_i - label_gain[lj])) * abs(disc_i - discount[j]) * inv_max_dcg
        if scale_by_dist:
            delta = delta / (_SCORE_EPS + abs(ds))
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
def _source_lambdas(scores, labels, start, order, cnt, idx, ss, ls, gk, hk, label_gain,
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
    # max DCG at the truncation level: labels taken from the highest down (LightGBM's order)
    counts = np.zeros(top + 1, dtype=np.int64)
    for k in range(m):
        counts[ls[k]] += 1
    kmax = trunc if trunc < m else m
    max_dcg = 0.0
    lab = top
    for k in range(kmax):
        while lab > 0 and counts[lab] <= 0:
            lab -= 1
        max_dcg += discount[k] * label_gain[lab]
        counts[lab] -= 1
    inv_max_dcg = max_dcg
    if max_dcg > 0.0:
        inv_max_dcg = 1.0 / max_dcg
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
            gi, hi, tot = _row_pairs_fast(i, m, ss[i], li, label_gain[li], discount[i], ss, ls,
                                          gk, hk, label_gain, discount, inv_max_dcg,
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
            delta = (sgn * (gain_i - label_gain[lj])) * pdisc * inv_max_dcg
            if scale_by_dist:
                delta /= (_SCORE_EPS + abs(ds))
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
                p32 = _r32(p)
                ph32 = _r32(ph)
                if li > lj:
                    gk[j] = _r32(gk[j] - p32)
                    hk[j] = _r32(hk[j] + ph32)
                    gi = _r32(gi + p32)
                    hi = _r32(hi + ph32)
                else:
                    gi = _r32(gi - p32)
                    hi = _r32(hi + ph32)
                    gk[j] = _r32(gk[j] + p32)
                    hk[j] = _r32(hk[j] + ph32)
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
                gk[k] = _r32(gk[k] * nf)
                hk[k] = _r32(hk[k] * nf)
            else:
                gk[k] *= nf
                hk[k] *= nf
    return m


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
        order = np.empty(cnt, dtype=np.int64)
        idx = np.empty(cnt, dtype=np.int64)
        _sort_desc(scores[start:start + cnt], order, idx)
        ss = np.empty(cnt, dtype=np.float64)
        ls = np.empty(cnt, dtype=np.int32)
        gk = np.empty(cnt, dtype=np.float64)
        hk = np.empty(cnt, dtype=np.float64)
        m = _source_lambdas(scores, labels, start, order, cnt, idx, ss, ls, gk, hk, label_gain,
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
                    w = _r32(w)
                    gr = _r32(gr * w)
                    hr = _r32(hr * w)
                else:
                    gr = gr * w
                    hr = hr * w
            grad[start + r] = gr * qw
            hess[start + r] = hr * qw
    return grad, hess


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
        # one stable sort by descending score, shared by both label sources
        order = np.empty(cnt, dtype=np.int64)
        idx = np.empty(cnt, dtype=np.int64)
        _sort_desc(scores[start:start + cnt], order, idx)
        ss = np.empty(cnt, dtype=np.float64)
        ls = np.empty(cnt, dtype=np.int32)
        gk = np.empty(cnt, dtype=np.float64)
        hk = np.empty(cnt, dtype=np.float64)
        if cw != 0.0:
            m = _source_lambdas(scores, click_labels, start, order, cnt, idx, ss, ls, gk, hk,
                                click_gain, discount, trunc, sigmoid, norm, sig_table, sig_min,
                                sig_max, sig_factor, False)
            for k in range(m):
                r = start + idx[k]
                grad[r] += cw * gk[k]
                hess[r] += cw * hk[k]
        if lw != 0.0:
            m = _source_lambdas(scores, llm_labels, start, order, cnt, idx, ss, ls, gk, hk,
                                llm_gain, discount, trunc, sigmoid, norm, sig_table, sig_min,
                                sig_max, sig_factor, False)
            for k in range(m):
                r = start + idx[k]
                grad[r] += lw * gk[k]
                hess[r] += lw * hk[k]
    return grad, hess


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _max_group(gp: np.ndarray) -> int:
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
    gain = _check_gain(label_gain)
    _check_common(truncation_level, sigmoid)
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
    disc = discount_table(_max_group(gp))
    return _lambdarank_kernel(s, lab, gp, gain, disc, qw, has_qw, rw, has_rw,
                              int(truncation_level), float(sigmoid), bool(norm),
                              table, smin, smax, sfac, bool(float32_accumulate))


def famol_grad_hess(scores, click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                    click_gain, llm_gain, truncation_level: int = 30, sigmoid: float = 1.0,
                    norm: bool = True, validate: bool = True):
    """FAMOL gradient: ``click_weight[q] * g_click + llm_weight[q] * g_llm`` per query.

    Yu, Bi, Guo et al., arXiv:2511.06635. Each ``g`` is :func:`lambdarank_grad_hess` on one label
    source (labels ``< 0`` = no label from that source). The query's scores are sorted once and
    the order is reused for both sources; a source is skipped for a query whose weight is 0 or
    whose labels are all equal / missing.

    Shapes: ``scores`` float64 (n,); ``click_labels``, ``llm_labels`` int32 (n,); ``group_ptr``
    int64 (n_queries + 1,); ``click_weight``, ``llm_weight`` float64 (n_queries,);
    ``click_gain``, ``llm_gain`` float64 gain tables. Returns ``grad, hess`` float64 (n,).
    """
    cg = _check_gain(click_gain, "click_gain")
    lg = _check_gain(llm_gain, "llm_gain")
    _check_common(truncation_level, sigmoid)
    if validate:
        s = check_scores(scores)
        gp = check_group_ptr(group_ptr, s.shape[0])
        cl = check_labels(click_labels, s.shape[0], cg, "click_labels")
        ll = check_labels(llm_labels, s.shape[0], lg, "llm_labels")
        nq = gp.shape[0] - 1
        cw = check_query_weights(click_weight, nq, "click_weight")
        lw = check_query_weights(llm_weight, nq, "llm_weight")
    else:
        s = np.ascontiguousarray(scores, dtype=np.float64)
        gp = np.ascontiguousarray(group_ptr, dtype=np.int64)
        cl = np.ascontiguousarray(click_labels, dtype=np.int32)
        ll = np.ascontiguousarray(llm_labels, dtype=np.int32)
        cw = np.ascontiguousarray(click_weight, dtype=np.float64)
        lw = np.ascontiguousarray(llm_weight, dtype=np.float64)
    table, smin, smax, sfac = sigmoid_table(sigmoid)
    disc = discount_table(_max_group(gp))
    return _famol_kernel(s, cl, ll, gp, cw, lw, cg, lg, disc, int(truncation_level),
                         float(sigmoid), bool(norm), table, smin, smax, sfac)
