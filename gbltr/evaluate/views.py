"""Means over a per-query frame, as views: overall and per frequency bucket.

Per-query numbers (:mod:`gbltr.evaluate.metrics`) are the primitive. A bucket is a join of the
per-query frame with a query-statistics table (query_id, bucket); "overall" is the same frame
with every query in one bucket. Both go through :func:`long_views` and one ``group_by``, so
there is no second code path for buckets.

Queries that cannot rank (NaN metric: no relevant document, or a single grade; see the convention
in :mod:`gbltr.evaluate.metrics`) are excluded from the means and counted by reason in
``n_no_relevant`` and ``n_single_grade``. The reason is read from the per-query frame's
``excluded`` column; a frame without one (an older or hand-made run) counts every NaN as
``n_no_relevant``. ``n_queries`` counts every query of the view, so a mean is over
:func:`n_scored` = ``n_queries - n_no_relevant - n_single_grade`` queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from gbltr.buckets import BUCKETS as BUCKET_ORDER, OVERALL
from gbltr.errors import SchemaError
from gbltr.words import Noun
from gbltr.evaluate.metrics import EXCLUSIONS, metric_columns


def view_order(buckets) -> list[str]:
    """``overall`` first, then high / medium / low, then any other bucket name sorted."""
    names = {str(b) for b in buckets if b is not None}
    known = [b for b in BUCKET_ORDER if b in names]
    return [OVERALL] + known + sorted(names - set(known) - {OVERALL})


SCORED_WHAT = Noun("test query that can rank (a relevant document and two grades)",
                   "test queries that can rank (a relevant document and two grades)")
"""How reports name the queries a mean is over (bucket notes and counts of multi-run reports)."""
COUNTS = tuple(f"n_{reason}" for reason in EXCLUSIONS)
"""The per-view counts of excluded queries: ``n_no_relevant``, ``n_single_grade``."""


def n_scored(counts: dict) -> int:
    """Queries a view's mean is over: ``n_queries`` less every excluded count (:data:`COUNTS`)."""
    return int(counts["n_queries"]) - sum(int(counts.get(c, 0)) for c in COUNTS)


def exclusion_counts(per_query: pl.DataFrame, metric: str) -> list[pl.Expr]:
    """Aggregations ``n_no_relevant``, ``n_single_grade`` over a per-query frame: by its ``excluded``
    column when present, else (older frames) every NaN ``metric`` is ``n_no_relevant``."""
    if "excluded" in per_query.columns:
        return [(pl.col("excluded") == reason).sum().cast(pl.Int64).alias(f"n_{reason}") for reason in EXCLUSIONS]
    nan = pl.col(metric).cast(pl.Float64).fill_null(float("nan")).is_nan()
    return [nan.sum().cast(pl.Int64).alias("n_no_relevant"), pl.lit(0, dtype=pl.Int64).alias("n_single_grade")]


def with_buckets(
    per_query: pl.DataFrame,
    query_stats: pl.DataFrame | None = None,
    *,
    bucket_col: str = "bucket",
) -> pl.DataFrame:
    """Attach ``bucket_col`` to ``per_query`` by a left join on query_id with ``query_stats``.

    ``query_stats`` columns: query_id, ``bucket_col``. Without it, ``per_query`` must already
    hold ``bucket_col`` (or has no buckets: the result then has only the overall view).
    """
    if "query_id" not in per_query.columns:
        raise SchemaError(f"per-query frame: missing column 'query_id'; found {per_query.columns}")
    if query_stats is None:
        return per_query
    missing = [c for c in ("query_id", bucket_col) if c not in query_stats.columns]
    if missing:
        raise SchemaError(
            f"query statistics table: missing column(s) {missing}; expected ['query_id', "
            f"{bucket_col!r}], found {query_stats.columns}"
        )
    stats = query_stats.select(pl.col("query_id").cast(pl.String), pl.col(bucket_col).cast(pl.String))
    if stats["query_id"].is_duplicated().any():
        raise SchemaError(
            "query statistics table: expected one row per query_id, found duplicates; "
            "deduplicate it before joining"
        )
    base = per_query.drop(bucket_col) if bucket_col in per_query.columns else per_query
    return base.join(stats, on="query_id", how="left")


def long_views(per_query: pl.DataFrame, *, bucket_col: str = "bucket") -> pl.DataFrame:
    """The per-query frame stacked once per view, with a ``view`` column (String).

    Each query appears under ``overall`` and, when ``bucket_col`` is present and not null,
    under its bucket. Every mean, count and significance test groups by ``view`` on this frame.
    """
    overall = per_query.with_columns(pl.lit(OVERALL).alias("view"))
    if bucket_col not in per_query.columns:
        return overall
    bucketed = per_query.filter(pl.col(bucket_col).is_not_null()).with_columns(
        pl.col(bucket_col).cast(pl.String).alias("view")
    )
    return pl.concat([overall, bucketed], how="vertical_relaxed")


def summarise(
    per_query: pl.DataFrame,
    query_stats: pl.DataFrame | None = None,
    *,
    bucket_col: str = "bucket",
    metrics: Sequence[str] | None = None,
) -> dict[str, dict[str, float | int]]:
    """Mean of each metric per view, with counts.

    ``per_query``: query_id, metric columns (Float64, NaN = no relevant document) and optionally
    ``bucket_col``; or pass ``query_stats`` (query_id, ``bucket_col``) to join buckets on.
    ``metrics`` defaults to every metric column (:func:`gbltr.evaluate.metrics.metric_columns`).

    Returns ``{"overall": {"ndcg@10": mean, ..., "n_queries": int, "n_no_relevant": int,
    "n_single_grade": int}, "high": {...}, "medium": {...}, "low": {...}}`` in that order (other
    bucket names after). The counts are those of :func:`exclusion_counts`; a mean is over the other
    queries, and None when there are none.
    """
    df = with_buckets(per_query, query_stats, bucket_col=bucket_col)
    names = list(metrics) if metrics is not None else metric_columns(df)
    missing = [m for m in names if m not in df.columns]
    if missing or not names:
        raise SchemaError(
            f"per-query frame: metric column(s) {missing or names} not found; found {df.columns}"
        )
    df = df.with_columns(pl.col(names).cast(pl.Float64).fill_null(float("nan")))
    long = long_views(df, bucket_col=bucket_col)
    agg = long.group_by("view").agg(
        pl.len().alias("n_queries"),
        *exclusion_counts(long, names[0]),
        *[pl.col(m).filter(pl.col(m).is_not_nan()).mean().alias(m) for m in names],
    )
    rows = {r["view"]: r for r in agg.iter_rows(named=True)}
    out: dict[str, dict[str, float | int]] = {}
    for view in view_order(rows):
        r = rows.get(view)
        if r is None:  # an empty frame: overall with no queries
            out[view] = {**{m: None for m in names}, "n_queries": 0, **{c: 0 for c in COUNTS}}
            continue
        out[view] = {**{m: r[m] for m in names}, "n_queries": int(r["n_queries"]), **{c: int(r[c]) for c in COUNTS}}
    return out
