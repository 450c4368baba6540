"""Lookup tables of the ranking objectives, built once per size / sigmoid (libm exp/log2, as
LightGBM's C++): the rank discount ``1 / log2(2 + r)``, LightGBM's 2^20-bin sigmoid table, and
LightGBM's default label gains."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["default_label_gain", "discount_table", "sigmoid_table", "SCORE_EPS"]

#: LightGBM's sigmoid lookup table has 1024 * 1024 bins over [-50 / sigmoid / 2, 50 / sigmoid / 2].
_SIGMOID_BINS = 1024 * 1024
#: LightGBM adds the float literal ``0.01f`` (promoted to double) to ``|delta score|``.
SCORE_EPS = float(np.float32(0.01))


def default_label_gain(n: int = 31) -> np.ndarray:
    """LightGBM's default gains ``2^i - 1`` for labels ``0 .. n-1`` (LightGBM uses ``n = 31``)."""
    return np.array([float((1 << i) - 1) for i in range(n)], dtype=np.float64)



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

