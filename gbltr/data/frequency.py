"""Query frequency and frequency buckets.

A query's frequency is its number of sessions in the search log (distinct ``session_id``).
Bucket names and thresholds live in :mod:`gbltr.buckets`.

Buckets are a column of a query-statistics table (``query_id, frequency, bucket``); every
per-bucket view joins with it, so there is one code path for all views.
"""

from __future__ import annotations

import polars as pl

from gbltr.buckets import BucketSpec


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


def query_frequency_scan(impressions_path, query_ids: pl.Series) -> pl.DataFrame:
    """:func:`query_frequency` over an impressions Parquet file read by Polars' streaming engine:
    the log is scanned in batches (two columns only), so a log larger than memory is counted
    without loading it. Same result as ``query_frequency(pl.read_parquet(path), query_ids)``.
    ``impressions_path`` may also be a ``pl.LazyFrame`` of the log (:mod:`gbltr.data.stream`)."""
    lf = impressions_path if isinstance(impressions_path, pl.LazyFrame) else pl.scan_parquet(impressions_path)
    counts = (
        lf
        .select("query_id", "session_id")
        .group_by("query_id")
        .agg(frequency=pl.col("session_id").n_unique().cast(pl.Int64))
        .collect(engine="streaming")
    )
    base = pl.DataFrame({"query_id": query_ids.unique().sort()})
    return base.join(counts, on="query_id", how="left").with_columns(pl.col("frequency").fill_null(0)).sort("query_id")
