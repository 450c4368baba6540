"""From model relevance to training grades and inverse-propensity weights.

Grading (``[click] grading``):

``threshold``
    grade = number of ``thresholds`` t with relevance >= t (default 0.05, 0.15, 0.30, 0.50,
    so grades 0..4). Relevance is on the model's pinned scale (:mod:`gbltr.labels.clicks.base`):
    a click probability for CTR, DCTR, PBM and UBM (at position 1), alpha for cascade and
    alpha * sigma for DBN/SDBN, so one set of thresholds means different things per model.
``quantile``
    grade = number of ``quantiles`` q with relevance >= the q-quantile of the relevance of all
    shown training pairs (default 0.5, 0.75, 0.9, 0.97: the top 3% get grade 4, the bottom half
    grade 0), the same share of each grade whatever the model's scale.

A pair never clicked gets grade 0 whatever its smoothed relevance: the prior alone is no evidence
of relevance (and a query without clicks keeps giving no ranking gradient).

Inverse-propensity weights: a pair's propensity is the model's examination probability (relative
to position 1) averaged over the positions it was shown at; its weight is
``1 / max(propensity, min_propensity)`` (Joachims, Swaminathan & Schnabel, WSDM 2017), so
documents shown low, where users rarely look, count more.
"""

from __future__ import annotations

import numpy as np


def threshold_grades(relevance: np.ndarray, thresholds) -> np.ndarray:
    r = np.asarray(relevance, float)
    return (r[:, None] >= np.asarray(thresholds, float)[None, :]).sum(axis=1).astype(float)


def quantile_cuts(relevance: np.ndarray, quantiles) -> np.ndarray:
    r = np.asarray(relevance, float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return np.full(len(quantiles), np.inf)
    return np.quantile(r, np.asarray(quantiles, float), method="lower")


def quantile_grades(relevance: np.ndarray, quantiles) -> np.ndarray:
    cuts = quantile_cuts(relevance, quantiles)
    return threshold_grades(relevance, cuts)


def ips_weights(propensity: np.ndarray, min_propensity: float) -> np.ndarray:
    return 1.0 / np.maximum(np.asarray(propensity, float), min_propensity)
