"""Human labels as integer grades: the one rule for training (``--labels human``) and early stopping.

Human labels may be negative (TREC spam, -2) or fractional (averaged judgements). The learners'
ranking objectives and early-stopping metrics take integer grades >= 0, so: negative -> 0,
fractional -> rounded half to even (NumPy's and Polars' rounding). Evaluation itself uses the
labels unrounded (:mod:`gbltr.evaluate.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HumanGrades:
    """How many human labels :func:`integer_grades` changed: negative grades set to 0, fractional ones rounded."""

    negative_to_0: int
    fractional_rounded: int

    def __bool__(self) -> bool:
        return bool(self.negative_to_0 or self.fractional_rounded)


def integer_grades(labels) -> tuple[np.ndarray, HumanGrades]:
    """(grades, counts): ``labels`` as integer-valued grades >= 0 (float64; NaN stays NaN) and how many changed."""
    y = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(y)
    rounded = np.rint(y)
    counts = HumanGrades(negative_to_0=int(np.count_nonzero(known & (y < 0))),
                         fractional_rounded=int(np.count_nonzero(known & (rounded != y))))
    return np.clip(rounded, 0, None), counts
