"""The logistic function and Zipf's law, shared by several mechanisms.

The logistic link :func:`_sigmoid` turns a score into a probability (navigational intent, click
attractiveness) or an authority into a utility share (human judges); Zipf's law
:func:`_zipf_cdf` gives the popularity of vocabulary terms and of domains.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _zipf_cdf(n: int, s: float) -> np.ndarray:
    """Cumulative probabilities of ranks ``1 .. n`` under Zipf's law, ``P(r) ~ r^-s``."""
    w = 1.0 / np.arange(1, n + 1) ** s
    return np.cumsum(w) / w.sum()
