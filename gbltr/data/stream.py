"""The search log read lazily: for logs larger than memory (``train.stream``, ``--engine dask``).

The in-memory pipeline loads ``impressions.parquet`` whole (:func:`gbltr.data.store.read_dataset`).
Here the log is only ever scanned (``pl.scan_parquet``, Polars' streaming engine), and what the
pipeline needs from it is computed by streaming group-bys whose results are O(queries) or
O(distinct shown pairs), never O(log):

- :func:`check_log`: the impressions contract (:data:`gbltr.schema.IMPRESSIONS`: columns, dtypes,
  no nulls), positions in 1..:data:`gbltr.data.store.MAX_POSITION`, every query and document
  known; the same errors as reading the dataset in memory;
- :func:`query_frequency_lazy` / :func:`query_stats_lazy`: the query frequency (distinct sessions
  per query) and buckets, equal to :func:`gbltr.data.frequency.query_stats` on the loaded log;
- click labels: :func:`gbltr.labels.clicks.stream.click_labels_scan`.

What is not checked here: the contract's key (one row per session and position) over the whole
log. Only the rows click labels are made from need it, and
:func:`~gbltr.labels.clicks.stream.click_labels_scan` checks those; elsewhere a duplicate row
cannot change the frequency (distinct sessions). The in-memory reader refuses the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from gbltr import inputs, schema
from gbltr.buckets import BucketSpec
from gbltr.errors import SchemaError

ENGINE = "streaming"


@dataclass(frozen=True)
class LazyLog:
    """An impressions Parquet file (or glob) to scan, with its columns cast to the contract."""

    path: str

    def scan(self) -> pl.LazyFrame:
        lf = inputs.scan_parquet(self.path, "impressions table", expected="a Parquet table of impressions")
        found = lf.collect_schema()
        casts = [pl.col(c).cast(t) for c, t in schema.IMPRESSIONS.columns.items() if c in found and found[c] != t]
        return lf.with_columns(casts) if casts else lf

    def is_empty(self) -> bool:
        with inputs.collecting("impressions table", self.path):
            return self.scan().select(pl.len()).collect(engine=ENGINE).item() == 0


def open_log(path: str | Path) -> LazyLog:
    """The log at ``path``, its columns and dtypes checked against the impressions contract
    (from the Parquet schema: nothing is read but zero rows)."""
    path = str(path)
    head = inputs.scan_parquet(path, "impressions table", expected="a Parquet table of impressions").head(0).collect()
    schema.validate(head, schema.IMPRESSIONS, where=path)
    return LazyLog(path)


def dataset_log(path: str | Path, queries: pl.DataFrame, documents: pl.DataFrame) -> LazyLog | None:
    """The checked lazy log of the dataset folder ``path`` (:func:`open_log` + :func:`check_log`);
    None when the folder has no ``impressions.parquet`` or it has no rows."""
    file = Path(path) / "impressions.parquet"
    if not file.exists():
        return None
    log = open_log(file)
    if log.is_empty():
        return None
    check_log(log, queries, documents)
    return log


def check_log(log: LazyLog, queries: pl.DataFrame, documents: pl.DataFrame) -> None:
    """Nulls, positions and references of the whole log, as :func:`gbltr.data.store.read_dataset`
    checks them in memory (one streaming pass; results O(queries + documents))."""
    with inputs.collecting("impressions table", log.path):
        _check_log(log, queries, documents)


def _check_log(log: LazyLog, queries: pl.DataFrame, documents: pl.DataFrame) -> None:
    from gbltr.data.store import BAD_POSITION, bad_positions_error, unknown_ids_error

    lf = log.scan()
    not_null = schema.IMPRESSIONS.not_null
    # one query at a time (collect_all would hold their hash tables together)
    totals, qids, dids = (q.collect(engine=ENGINE) for q in (
        lf.select(*[pl.col(c).null_count().alias(c) for c in not_null], bad_position=BAD_POSITION.sum()),
        lf.select("query_id").unique(),
        lf.select("doc_id").unique(),
    ))
    for c in not_null:
        if totals[c][0]:
            raise SchemaError(f"impressions table in {log.path}: column {c!r} has {totals[c][0]} null value(s); "
                              "expected none")
    for col, known, ids, table in (("query_id", queries, qids, "queries"), ("doc_id", documents, dids, "documents")):
        unknown = ids.join(known.select(col), on=col, how="anti").sort(col)
        if unknown.height:
            rows = lf.filter(pl.col(col).is_in(unknown[col].implode())).select(pl.len()).collect(engine=ENGINE).item()
            raise unknown_ids_error("impressions", col, table, unknown, rows)
    if totals["bad_position"][0]:
        first = lf.filter(BAD_POSITION).head(1).collect().row(0, named=True)
        raise bad_positions_error("impressions", totals["bad_position"][0], first)


def query_frequency_lazy(log: LazyLog | None, query_ids: pl.Series) -> pl.DataFrame:
    """``query_id, frequency`` (distinct sessions in the log; 0 when absent) for every id given,
    by a streaming group-by: :func:`gbltr.data.frequency.query_frequency_scan`."""
    from gbltr.data.frequency import query_frequency, query_frequency_scan

    if log is None:
        return query_frequency(None, query_ids)
    return query_frequency_scan(log.scan(), query_ids)


def query_stats_lazy(log: LazyLog | None, query_ids: pl.Series, spec: BucketSpec,
                     frequency: pl.DataFrame | None = None) -> pl.DataFrame:
    """``query_id, frequency, bucket``: :func:`gbltr.data.frequency.query_stats` of a lazy log
    (``frequency``: an already computed :func:`query_frequency_lazy`, to scan once)."""
    freq = frequency if frequency is not None else query_frequency_lazy(log, query_ids)
    return freq.with_columns(spec.expr())
