"""Frequency buckets: their names, their order and how a query's frequency maps to one.

The one place for these facts. Buckets follow the seed paper's high / medium / low split (Yu,
Bi, Guo et al., arXiv 2511.06635) by fixed thresholds on a query's frequency (its number of
sessions in the log, :mod:`gbltr.data.frequency`); the defaults are ``high >= 100`` and
``medium >= 10`` sessions, so ``low`` holds queries with 0-9 sessions, including queries never
seen in the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gbltr.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

BUCKETS = ("high", "medium", "low")
"""Bucket names, most frequent first: the order of every table and plot."""
OVERALL = "overall"
"""The view holding every query."""
VIEWS = (OVERALL, *BUCKETS)
DEFAULT_HIGH_MIN = 100
DEFAULT_MEDIUM_MIN = 10


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

    def expr(self, column: str = "frequency") -> pl.Expr:
        import polars as pl  # only where data is touched: configs and --help stay light

        f = pl.col(column)
        return (
            pl.when(f >= self.high_min)
            .then(pl.lit("high"))
            .when(f >= self.medium_min)
            .then(pl.lit("medium"))
            .otherwise(pl.lit("low"))
            .alias("bucket")
        )
