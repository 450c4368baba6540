"""Frequency buckets: their names, their order and how a query's frequency maps to one.

The one place for these facts. Buckets follow the seed paper's high / medium / low split (Yu,
Bi, Guo et al., arXiv 2511.06635) by fixed thresholds on a query's frequency (its number of
sessions in the log, :mod:`gbltr.data.frequency`); the defaults are ``high >= 100`` and
``medium >= 10`` sessions, so ``low`` holds queries with 0-9 sessions, including queries never
seen in the log.

Real logs rarely fit fixed thresholds (TREC Session 2014 has no query with 100 sessions), so
``[buckets] quantiles = [q_medium, q_high]`` derives the thresholds from the log instead:
``medium_min`` and ``high_min`` become the ``q_medium`` and ``q_high`` quantiles of the
queries' frequencies (:func:`resolve_spec`), rounded up to integers, and the resolved
thresholds are recorded with every run. Every report lists every bucket with its query count,
zero included, and flags buckets with fewer than :data:`MIN_TEST_QUERIES` queries as too small
for a significance test (:func:`bucket_notes`); the same minimum withholds the tests and intervals.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gbltr.errors import ConfigError
from gbltr.words import Noun, counted, noun

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

BUCKETS = ("high", "medium", "low")
"""Bucket names, most frequent first: the order of every table and plot."""
OVERALL = "overall"
"""The view holding every query."""
VIEWS = (OVERALL, *BUCKETS)
BY_FREQUENCY = tuple(reversed(BUCKETS))
"""Bucket names by increasing frequency (``low``, ``medium``, ``high``): the order of interpolation knots
and monotone fits."""
LOWEST = BY_FREQUENCY[0]
"""The bucket of a query never seen in the log (frequency 0)."""
DEFAULT_HIGH_MIN = 100
DEFAULT_MEDIUM_MIN = 10
MIN_TEST_QUERIES = 10
"""The one minimum for inference in every report (compare, experiment, ablation, heatmaps, plots):
a view with fewer scored test queries gets no significance test, no p-value and no confidence
interval (:func:`gbltr.evaluate.significance.paired_by_view`, :func:`gbltr.evaluate.compare.mean_ci`);
its cell shows ``n`` instead, and :func:`bucket_notes` says so."""

log = logging.getLogger("gbltr")


@dataclass(frozen=True)
class BucketSpec:
    """Frequency thresholds: ``high`` if frequency >= high_min, ``medium`` if >= medium_min."""

    high_min: int = DEFAULT_HIGH_MIN
    medium_min: int = DEFAULT_MEDIUM_MIN

    def __post_init__(self):
        if not (0 < self.medium_min < self.high_min):
            raise ConfigError(
                f"bucket thresholds must satisfy 0 < medium_min < high_min; found "
                f"medium_min={self.medium_min}, high_min={self.high_min}"
            )

    def of(self, frequency) -> "np.ndarray":
        """The bucket name of each frequency (a NumPy array of str): the same rule as :meth:`expr`."""
        import numpy as np

        f = np.asarray(frequency, dtype=float)
        return np.where(f >= self.high_min, "high", np.where(f >= self.medium_min, "medium", LOWEST))

    def expr(self, column: str = "frequency") -> pl.Expr:
        import polars as pl  # only where data is touched: configs and --help stay light

        f = pl.col(column)
        return (
            pl.when(f >= self.high_min)
            .then(pl.lit("high"))
            .when(f >= self.medium_min)
            .then(pl.lit("medium"))
            .otherwise(pl.lit(LOWEST))
            .alias("bucket")
        )


def check_quantiles(quantiles) -> tuple[float, ...]:
    """``[]`` (thresholds are used) or two increasing quantiles in (0, 1): medium, then high."""
    q = tuple(float(x) for x in quantiles)
    if q and (len(q) != 2 or not (0 < q[0] < q[1] < 1)):
        raise ConfigError(
            f"buckets.quantiles={list(q)}; expected two increasing numbers in (0, 1), the quantiles "
            "of query frequency where 'medium' and 'high' start, e.g. [0.5, 0.9]"
        )
    return q


def resolve_spec(spec: BucketSpec, quantiles, frequencies) -> BucketSpec:
    """The thresholds for this log: ``spec`` itself, or the ``quantiles`` of ``frequencies``.

    Quantile thresholds are rounded up to integers; when the log cannot separate the buckets
    (many queries share one frequency) the thresholds are pushed apart to keep
    ``0 < medium_min < high_min`` and a warning says so.
    """
    q = check_quantiles(quantiles)
    if not q:
        return spec
    import numpy as np  # only where data is touched: configs and --help stay light

    f = np.asarray(frequencies, dtype=float)
    if f.size == 0:
        raise ConfigError("buckets.quantiles needs query frequencies, but there are no queries")
    medium = max(1, math.ceil(float(np.quantile(f, q[0]))))
    high = max(medium + 1, math.ceil(float(np.quantile(f, q[1]))))
    if high == medium + 1 and math.ceil(float(np.quantile(f, q[1]))) <= medium:
        log.warning("buckets.quantiles %s: the log's frequencies cannot separate medium and high; "
                    "using medium_min=%d, high_min=%d", list(q), medium, high)
    log.info("buckets from quantiles %s of query frequency: high >= %d, medium >= %d", list(q), high, medium)
    return BucketSpec(high, medium)


def bucket_counts(buckets) -> dict[str, int]:
    """Queries per bucket, every bucket of :data:`BUCKETS` listed (zero included)."""
    values = [str(b) for b in buckets]
    return {b: values.count(b) for b in BUCKETS} | {b: values.count(b) for b in sorted(set(values) - set(BUCKETS))}


TEST_QUERY = noun("test query")


def bucket_notes(counts: dict[str, int], what: str | Noun = TEST_QUERY) -> list[str]:
    """One line per bucket that is empty or too small for a significance test (``what``: the noun
    counted, singular or :class:`~gbltr.words.Noun`)."""
    what = what if isinstance(what, Noun) else noun(what)
    notes = []
    for b in BUCKETS:
        n = counts.get(b, 0)
        if n == 0:
            notes.append(f"bucket {b!r} has no {what.plural}: no result for it")
        elif n < MIN_TEST_QUERIES:
            notes.append(f"bucket {b!r} has {counted(n, what)}, fewer than {MIN_TEST_QUERIES}: too few for a "
                         "significance test or a confidence interval")
    return notes


NOTES_HEADING = "Buckets too small for a test:"
"""The heading every report puts its bucket notes under (their own paragraph, never items of a list above)."""


def note_lines(notes) -> list[str]:
    """Markdown: the bucket notes as their own paragraph under :data:`NOTES_HEADING` (nothing when none)."""
    notes = list(notes)
    return ["", NOTES_HEADING, "", *[f"- {n}" for n in notes]] if notes else []


def bucket_lines(counts: dict[str, int], notes, what: str | Noun = TEST_QUERY) -> list[str]:
    """Markdown lines of a multi-run report: ``what`` per bucket (zero included) and the notes."""
    if not counts:
        return []
    what = str(what if isinstance(what, Noun) else noun(what))
    return ([f"{what[:1].upper()}{what[1:]} per bucket: " + ", ".join(f"{b} {n}" for b, n in counts.items()) + "."]
            + note_lines(notes) + [""])
