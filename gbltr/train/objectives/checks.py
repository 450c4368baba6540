"""Input checks of the ranking objectives (raise gbltr errors; never assert on user input).

Shapes: ``group_ptr`` int64 (n_queries + 1,) with ``group_ptr[0] == 0`` and
``group_ptr[-1] == n_rows``; scores float64 (n,); labels int32 (n,) (``< 0`` = missing);
per-query weights float64 (n_queries,); gain tables float64 (n_gains,).
"""

from __future__ import annotations

import numpy as np

from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.groups import check_group_ptr

__all__ = ["check_group_ptr", "check_scores", "check_labels", "check_gain", "check_query_weights",
           "check_common", "check_famol_inputs"]


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


def check_gain(label_gain, name: str = "label_gain") -> np.ndarray:
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


def check_common(truncation_level, sigmoid):
    if int(truncation_level) < 1:
        raise ConfigError(
            f"truncation_level must be >= 1; found {truncation_level}. LightGBM's default is 30."
        )
    if not (float(sigmoid) > 0.0):
        raise ConfigError(f"sigmoid must be > 0; found {sigmoid}. LightGBM's default is 1.0.")

def check_famol_inputs(click_labels, llm_labels, group_ptr, click_weight, llm_weight, *,
                       click_gain, llm_gain, truncation_level, sigmoid):
    """Validate FAMOL's inputs once (CPU factory and GPU objective alike).

    Returns ``(click_labels, llm_labels, group_ptr, click_weight, llm_weight, click_gain,
    llm_gain)`` as checked arrays; ``group_ptr`` is checked against its own last entry and the
    label arrays against it.
    """
    cg = check_gain(click_gain, "click_gain")
    lg = check_gain(llm_gain, "llm_gain")
    check_common(truncation_level, sigmoid)
    gp = np.asarray(group_ptr)
    gp = check_group_ptr(gp, int(gp[-1]) if gp.ndim == 1 and gp.shape[0] > 0 else -1)
    n = int(gp[-1])
    cl = check_labels(click_labels, n, cg, "click_labels")
    ll = check_labels(llm_labels, n, lg, "llm_labels")
    nq = gp.shape[0] - 1
    cw = check_query_weights(click_weight, nq, "click_weight")
    lw = check_query_weights(llm_weight, nq, "llm_weight")
    return cl, ll, gp, cw, lw, cg, lg
