"""Stored resolution: the one policy for every float the simulated world writes.

Every simulated float is stored rounded (:func:`stored`): dwell times to the millisecond
(:data:`DWELL_DECIMALS`), scores and latent values to 6 decimals (:data:`FLOAT_DECIMALS`).
numpy's ``exp``/``log`` take other SIMD kernels on AVX2, AVX-512 and ARM and differ there in the
last bits; rounding (an exact multiply, ``rint``, divide) maps such neighbours to the same stored
value, so one seed writes the same bytes, and the same dataset fingerprint, on every CPU. The
simulation itself runs on the unrounded values.

Callers reach :func:`stored` through this module (``resolution.stored(...)``), so a test that
replaces it here sees every stored value.
"""

from __future__ import annotations

import numpy as np

DWELL_DECIMALS = 3
"""Dwell times (seconds) are stored to the millisecond: what a real log records."""
FLOAT_DECIMALS = 6
"""Every other simulated float (retrieval score, PageRank-like score, latent values) is stored
to 6 decimals."""


def stored(values, decimals: int = FLOAT_DECIMALS) -> np.ndarray:
    """``values`` at the resolution a simulated table stores (module docstring: same bytes on
    every CPU). NaN stays NaN."""
    return np.round(np.asarray(values, dtype=np.float64), decimals)
