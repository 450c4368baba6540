"""Query frequency and frequency buckets.

A query's frequency is its number of sessions in the search log (distinct ``session_id``).
Buckets follow the seed paper's high / medium / low split (Yu, Bi, Guo et al., arXiv 2511.06635)
by fixed thresholds on that count; the defaults are ``high >= 100`` and ``medium >= 10``
sessions, so ``low`` holds queries with 0-9 sessions, including queries never seen in the log.

Buckets are a column of a query-statistics table (``query_id, frequency, bucket``); every
per-bucket view joins with it, so there is one code path for all views.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gbltr.errors import ConfigError

BUCKETS = ("high", "medium", "low")


@dataclass(frozen=True)
class BucketSpec:
    """Frequency thresholds: ``high`` if frequency >= high_min, ``medium`` if >= medium_min."""

    high_min: int = 100
    medium_min: int = 10

    def __post_init__(self):
        if not (0 < self.medium_min < self.high_min):
            raise ConfigError(
                f"bucket thresholds must satisfy 0 < medium_min < high_min; found "
                f"medium_min={self.medium_min}, high_min={self.high_min}"
            )

    def expr(self, column: str = "frequency") -> pl.Expr:
        f = pl.col(column)
        return (
            pl.when(f >= self.high_min)
            .then(pl.lit("high"))
            .when(f >= self.medium_min)
            .then(pl.lit("medium"))
            .otherwise(pl.lit("low"))
            .alias("bucket")
        )


def query_frequency(impressions: pl.DataFrame | None, query_ids: pl.Series) -> pl.DataFrame:
    """Return ``query_id, frequency`` for every id in ``query_ids`` (0 when not in the log)."""
    base = pl.DataFrame({"query_id": query_ids.unique().sort()})
    if impressions is None or impressions.height == 0:
        return base.with_columns(frequency=pl.lit(0, dtype=pl.Int64))
    counts = impressions.group_by("query_id").agg(frequency=pl.col("session_id").n_unique().cast(pl.Int64))
    return (
        base.join(counts, on="query_id", how="left")
        .with_columns(pl.col("frequency").fill_null(0))
        .sort("query_id")
    )


def query_stats(impressions: pl.DataFrame | None, query_ids: pl.Series, spec: BucketSpec) -> pl.DataFrame:
    """``query_id, frequency, bucket`` for every query id given."""
    return query_frequency(impressions, query_ids).with_columns(spec.expr())
