"""Thin adapters that hand a ranking-objective kernel to LightGBM and XGBoost.

A *kernel* is ``kernel_fn(scores, group_ptr) -> (grad, hess)``: ``scores`` float64 (n,) raw
model scores for rows sorted by query, ``group_ptr`` int64 (n_queries + 1,) query boundaries,
``grad``/``hess`` float64 (n,). It closes over the labels and weights it needs (see
:func:`make_famol_objective`, :func:`make_lambdarank_objective`). The adapters only read the
query boundaries from the backend's dataset object (once, cached) and call the kernel; they do
no data preparation (the ranking dataset sorts rows and builds groups).

Neither LightGBM nor XGBoost is imported here: the adapters only call methods on the objects
the backends pass in.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gbltr.errors import SchemaError
from gbltr.groups import group_ptr_from_sizes
from gbltr.train.objectives import (
    check_common,
    check_famol_inputs,
    check_gain,
    check_group_ptr,
    check_labels,
    check_query_weights,
    check_scores,
    famol_grad_hess,
    lambdarank_grad_hess,
)

Kernel = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]

__all__ = [
    "lightgbm_objective",
    "xgboost_objective",
    "make_famol_objective",
    "make_lambdarank_objective",
]


class _GroupPtrCache:
    """Caches the group_ptr of the last dataset object seen (by identity and row count)."""

    def __init__(self):
        self._key = None
        self._gp = None

    def get(self, data, n_rows: int, read: Callable[[object], np.ndarray]) -> np.ndarray:
        key = (id(data), n_rows)
        if self._key != key or self._gp is None:
            self._gp = check_group_ptr(read(data), n_rows)
            self._key = key
        return self._gp


def _lightgbm_group_ptr(train_data) -> np.ndarray:
    groups = train_data.get_group()
    if groups is None:
        raise SchemaError(
            "the LightGBM Dataset has no query groups; expected Dataset(..., group=sizes) "
            "built from the ranking dataset."
        )
    sizes = np.asarray(groups, dtype=np.int64)
    return group_ptr_from_sizes(sizes)


def _xgboost_group_ptr(dtrain) -> np.ndarray:
    gp = np.asarray(dtrain.get_uint_info("group_ptr"), dtype=np.int64)
    if gp.shape[0] == 0:
        raise SchemaError(
            "the XGBoost DMatrix has no query groups; expected DMatrix(..., group=sizes) or "
            "qid=... built from the ranking dataset."
        )
    return gp


def lightgbm_objective(kernel_fn: Kernel):
    """Wrap a kernel as a LightGBM 4.x custom objective ``(preds, train_data) -> (grad, hess)``.

    Use as ``params["objective"] = lightgbm_objective(kernel)``. Groups come from
    ``train_data.get_group()`` (sizes), cumulated into ``group_ptr`` once and cached.
    """
    cache = _GroupPtrCache()

    def objective(preds, train_data):
        scores = np.asarray(preds, dtype=np.float64)
        gp = cache.get(train_data, scores.shape[0], _lightgbm_group_ptr)
        return kernel_fn(scores, gp)

    objective.kernel = kernel_fn
    return objective


def xgboost_objective(kernel_fn: Kernel):
    """Wrap a kernel as an XGBoost custom objective for ``xgb.train(params, dtrain, obj=...)``.

    Groups come from ``dtrain.get_uint_info("group_ptr")`` (read once, cached). ``XGBRanker``
    refuses callable objectives; use ``xgb.train``. Give XGBoost a ``disable_default_eval_metric``
    or an explicit ``eval_metric`` (e.g. ``"ndcg@10"``) since it cannot infer one.
    """
    cache = _GroupPtrCache()

    def objective(preds, dtrain):
        scores = np.asarray(preds, dtype=np.float64).reshape(-1)
        gp = cache.get(dtrain, scores.shape[0], _xgboost_group_ptr)
        return kernel_fn(scores, gp)

    objective.kernel = kernel_fn
    return objective


def _check_same_groups(expected: np.ndarray, found: np.ndarray, what: str) -> None:
    if expected.shape != found.shape or not np.array_equal(expected, found):
        raise SchemaError(
            f"{what}: the backend's query groups differ from the ones the objective was built "
            f"with (expected {expected.shape[0] - 1} queries over {int(expected[-1])} rows, found "
            f"{found.shape[0] - 1} queries over {int(found[-1])} rows). Build the backend dataset "
            "from the same ranking dataset as the labels."
        )


def _own_group_ptr(group_ptr) -> np.ndarray:
    """group_ptr checked against its own last entry (the label arrays are checked against it)."""
    gp = np.asarray(group_ptr)
    n = int(gp[-1]) if gp.ndim == 1 and gp.shape[0] > 0 else -1
    return check_group_ptr(gp, n)


def make_famol_objective(click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                         click_gain, llm_gain, truncation_level: int = 30,
                         sigmoid: float = 1.0, norm: bool = True) -> Kernel:
    """FAMOL kernel (Yu, Bi, Guo et al., arXiv:2511.06635) closing over both label sources.

    ``click_labels``, ``llm_labels``: int32 (n,) grades, ``< 0`` = missing for that source.
    ``group_ptr``: int64 (n_queries + 1,). ``click_weight``, ``llm_weight``: float64
    (n_queries,) per-query FAMOL weights ``a_q``, ``b_q``. Inputs are validated once here; the
    returned ``kernel(scores, group_ptr) -> (grad, hess)`` checks only that the backend's groups
    equal these and that the scores have no NaN.
    """
    cl, ll, gp0, cw, lw, cg, lg = check_famol_inputs(
        click_labels, llm_labels, group_ptr, click_weight, llm_weight, click_gain=click_gain,
        llm_gain=llm_gain, truncation_level=truncation_level, sigmoid=sigmoid)
    n = int(gp0[-1])

    def kernel(scores, gp):
        gp = np.asarray(gp)
        if gp is not gp0:
            _check_same_groups(gp0, gp, "famol objective")
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (n,):
            raise SchemaError(f"famol objective: expected {n} scores, found shape {s.shape}.")
        if np.isnan(s).any():
            check_scores(s)
        return famol_grad_hess(s, cl, ll, gp0, cw, lw, click_gain=cg, llm_gain=lg,
                               truncation_level=truncation_level, sigmoid=sigmoid, norm=norm,
                               validate=False)

    # recorded so that a distributed worker can re-make the kernel for its own rows (backends.dask)
    kernel.maker = make_famol_objective
    kernel.inputs = ((cl, ll, gp0, cw, lw), dict(click_gain=cg, llm_gain=lg, truncation_level=truncation_level,
                                                 sigmoid=sigmoid, norm=norm, _n_rows=n, _n_queries=gp0.shape[0] - 1,
                                                 _group_ptr=gp0))
    return kernel


def make_lambdarank_objective(labels, group_ptr, *, label_gain, query_weight=None,
                              row_weight=None, truncation_level: int = 30,
                              sigmoid: float = 1.0, norm: bool = True,
                              float32_accumulate: bool = False) -> Kernel:
    """Single-source LambdaRank kernel (LightGBM 4.7 semantics) closing over ``labels``.

    Shapes as :func:`gbltr.train.objectives.lambdarank_grad_hess`. ``float32_accumulate=True``
    reproduces LightGBM's built-in ``lambdarank`` gradients bit for bit.
    """
    gain = check_gain(label_gain)
    check_common(truncation_level, sigmoid)
    gp0 = _own_group_ptr(group_ptr)
    n = int(gp0[-1])
    lab = check_labels(labels, n, gain)
    qw = None if query_weight is None else check_query_weights(query_weight, gp0.shape[0] - 1,
                                                               "query_weight")

    def kernel(scores, gp):
        gp = np.asarray(gp)
        if gp is not gp0:
            _check_same_groups(gp0, gp, "lambdarank objective")
        return lambdarank_grad_hess(scores, lab, gp0, label_gain=gain, query_weight=qw,
                                    row_weight=row_weight, truncation_level=truncation_level,
                                    sigmoid=sigmoid, norm=norm,
                                    float32_accumulate=float32_accumulate)

    # recorded so that a distributed worker can re-make the kernel for its own rows (backends.dask)
    kernel.maker = make_lambdarank_objective
    kernel.inputs = ((lab, gp0), dict(label_gain=gain, query_weight=qw, row_weight=row_weight,
                                      truncation_level=truncation_level, sigmoid=sigmoid, norm=norm,
                                      float32_accumulate=float32_accumulate, _n_rows=n,
                                      _n_queries=gp0.shape[0] - 1, _group_ptr=gp0))
    return kernel
