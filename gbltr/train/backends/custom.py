"""Thin adapters that hand a ranking-objective kernel to LightGBM and XGBoost.

A *kernel* is ``kernel_fn(scores, group_ptr) -> (grad, hess)``: ``scores`` float64 (n,) raw
model scores for rows sorted by query, ``group_ptr`` int64 (n_queries + 1,) query boundaries,
``grad``/``hess`` float64 (n,). gbltr's kernels are :class:`RankingObjective` objects holding the
labels and weights they need (:class:`FamolObjective`, :class:`LambdarankObjective`), which can
restrict themselves to a subset of whole queries (:meth:`RankingObjective.restrict`, for Dask
workers). The adapters only read the
query boundaries from the backend's dataset object (once, cached) and call the kernel; they do
no data preparation (the ranking dataset sorts rows and builds groups).

Neither LightGBM nor XGBoost is imported here: the adapters only call methods on the objects
the backends pass in.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gbltr.errors import ConfigError, SchemaError
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
    "RankingObjective",
    "FamolObjective",
    "LambdarankObjective",
    "KernelObjective",
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


class RankingObjective:
    """A ranking objective: ``objective(scores, group_ptr) -> (grad, hess)`` (float64 (n,) each)
    on the rows it was built for, sorted by query.

    :meth:`restrict` gives the same objective on a subset of whole queries (a Dask worker's rows,
    :mod:`gbltr.train.backends.dask`): per-row inputs taken at those rows, per-query inputs at
    their queries, so its gradients equal this objective's at those rows (queries are
    independent)."""

    group_ptr: np.ndarray  # int64 (n_queries + 1,): the queries it was built for

    def __call__(self, scores, group_ptr):
        raise NotImplementedError

    def restrict(self, rows: np.ndarray, group_ptr: np.ndarray) -> "RankingObjective":
        """This objective on ``rows`` (global row numbers: whole queries, each query's rows in
        order) grouped by ``group_ptr`` (local boundaries over ``rows``, one group per query)."""
        raise ConfigError(f"{type(self).__name__} cannot be restricted to a subset of rows (it cannot run on "
                          "Dask workers); use --engine single")

    def _queries_of(self, rows: np.ndarray, group_ptr: np.ndarray) -> np.ndarray:
        """The global query number of each local query; SchemaError unless each is a whole,
        non-empty query of this objective, its rows in order."""
        rows = np.asarray(rows, dtype=np.int64)
        gp = check_group_ptr(group_ptr, rows.shape[0])
        full, sizes = self.group_ptr, np.diff(gp)
        ok = bool(np.all(sizes > 0)) and (rows.size == 0 or (rows.min() >= 0 and rows.max() < full[-1]))
        if ok:
            starts = rows[gp[:-1]]
            q = np.searchsorted(full, starts, side="right") - 1  # the query holding each first row
            ok = (np.array_equal(full[q], starts) and np.array_equal(full[q + 1] - starts, sizes)
                  and np.array_equal(rows, np.repeat(starts - gp[:-1], sizes) + np.arange(rows.shape[0])))
        if not ok:
            raise SchemaError(f"{type(self).__name__}.restrict: expected whole queries of the {full.shape[0] - 1} "
                              "the objective was built for, each query's rows in order; found rows that split a "
                              "query, mix queries or lie outside them")
        return q


class KernelObjective(RankingObjective):
    """A plain ``fn(scores, group_ptr) -> (grad, hess)`` (e.g. the GPU FAMOL kernel): it runs on
    one machine only (:meth:`restrict` refuses)."""

    def __init__(self, fn: Kernel, group_ptr):
        self.fn = fn
        self.group_ptr = _own_group_ptr(group_ptr)

    def __call__(self, scores, group_ptr):
        return self.fn(scores, group_ptr)


class FamolObjective(RankingObjective):
    """FAMOL (Yu, Bi, Guo et al., arXiv:2511.06635) over both label sources.

    ``click_labels``, ``llm_labels``: int32 (n,) grades, ``< 0`` = missing for that source.
    ``group_ptr``: int64 (n_queries + 1,). ``click_weight``, ``llm_weight``: float64
    (n_queries,) per-query FAMOL weights ``a_q``, ``b_q``. Inputs are validated once here; a call
    checks only that the backend's groups equal these and that the scores have no NaN.
    """

    def __init__(self, click_labels, llm_labels, group_ptr, click_weight, llm_weight, *, click_gain, llm_gain,
                 truncation_level: int = 30, sigmoid: float = 1.0, norm: bool = True):
        (self.click_labels, self.llm_labels, self.group_ptr, self.click_weight, self.llm_weight, self.click_gain,
         self.llm_gain) = check_famol_inputs(click_labels, llm_labels, group_ptr, click_weight, llm_weight,
                                             click_gain=click_gain, llm_gain=llm_gain,
                                             truncation_level=truncation_level, sigmoid=sigmoid)
        self.truncation_level, self.sigmoid, self.norm = truncation_level, sigmoid, norm

    def __call__(self, scores, gp):
        gp = np.asarray(gp)
        if gp is not self.group_ptr:
            _check_same_groups(self.group_ptr, gp, "famol objective")
        n = int(self.group_ptr[-1])
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (n,):
            raise SchemaError(f"famol objective: expected {n} scores, found shape {s.shape}.")
        if np.isnan(s).any():
            check_scores(s)
        return famol_grad_hess(s, self.click_labels, self.llm_labels, self.group_ptr, self.click_weight,
                               self.llm_weight, click_gain=self.click_gain, llm_gain=self.llm_gain,
                               truncation_level=self.truncation_level, sigmoid=self.sigmoid, norm=self.norm,
                               validate=False)

    def restrict(self, rows, group_ptr) -> "FamolObjective":
        q = self._queries_of(rows, group_ptr)
        return FamolObjective(self.click_labels[rows], self.llm_labels[rows], group_ptr, self.click_weight[q],
                              self.llm_weight[q], click_gain=self.click_gain, llm_gain=self.llm_gain,
                              truncation_level=self.truncation_level, sigmoid=self.sigmoid, norm=self.norm)


class LambdarankObjective(RankingObjective):
    """Single-source LambdaRank (LightGBM 4.7 semantics) over ``labels``.

    Shapes as :func:`gbltr.train.objectives.lambdarank_grad_hess`: ``query_weight`` float64
    (n_queries,), ``row_weight`` float64 (n,). ``float32_accumulate=True`` reproduces LightGBM's
    built-in ``lambdarank`` gradients bit for bit.
    """

    def __init__(self, labels, group_ptr, *, label_gain, query_weight=None, row_weight=None,
                 truncation_level: int = 30, sigmoid: float = 1.0, norm: bool = True,
                 float32_accumulate: bool = False):
        self.label_gain = check_gain(label_gain)
        check_common(truncation_level, sigmoid)
        self.group_ptr = _own_group_ptr(group_ptr)
        self.labels = check_labels(labels, int(self.group_ptr[-1]), self.label_gain)
        self.query_weight = None if query_weight is None else check_query_weights(
            query_weight, self.group_ptr.shape[0] - 1, "query_weight")
        self.row_weight = None if row_weight is None else np.asarray(row_weight)
        self.truncation_level, self.sigmoid, self.norm = truncation_level, sigmoid, norm
        self.float32_accumulate = float32_accumulate

    def __call__(self, scores, gp):
        gp = np.asarray(gp)
        if gp is not self.group_ptr:
            _check_same_groups(self.group_ptr, gp, "lambdarank objective")
        return lambdarank_grad_hess(scores, self.labels, self.group_ptr, label_gain=self.label_gain,
                                    query_weight=self.query_weight, row_weight=self.row_weight,
                                    truncation_level=self.truncation_level, sigmoid=self.sigmoid, norm=self.norm,
                                    float32_accumulate=self.float32_accumulate)

    def restrict(self, rows, group_ptr) -> "LambdarankObjective":
        q = self._queries_of(rows, group_ptr)
        return LambdarankObjective(
            self.labels[rows], group_ptr, label_gain=self.label_gain,
            query_weight=None if self.query_weight is None else self.query_weight[q],
            row_weight=None if self.row_weight is None else self.row_weight[rows],
            truncation_level=self.truncation_level, sigmoid=self.sigmoid, norm=self.norm,
            float32_accumulate=self.float32_accumulate)


def make_famol_objective(click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                         click_gain, llm_gain, truncation_level: int = 30,
                         sigmoid: float = 1.0, norm: bool = True) -> FamolObjective:
    """The FAMOL objective (:class:`FamolObjective`) closing over both label sources."""
    return FamolObjective(click_labels, llm_labels, group_ptr, click_weight, llm_weight, click_gain=click_gain,
                          llm_gain=llm_gain, truncation_level=truncation_level, sigmoid=sigmoid, norm=norm)


def make_lambdarank_objective(labels, group_ptr, *, label_gain, query_weight=None,
                              row_weight=None, truncation_level: int = 30,
                              sigmoid: float = 1.0, norm: bool = True,
                              float32_accumulate: bool = False) -> LambdarankObjective:
    """The single-source LambdaRank objective (:class:`LambdarankObjective`) closing over ``labels``."""
    return LambdarankObjective(labels, group_ptr, label_gain=label_gain, query_weight=query_weight,
                               row_weight=row_weight, truncation_level=truncation_level, sigmoid=sigmoid,
                               norm=norm, float32_accumulate=float32_accumulate)
