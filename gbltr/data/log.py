"""The search log as the pipeline reads it: one interface, loaded or scanned.

:class:`SearchLog` is what :func:`gbltr.pipeline.prepare` asks of a log: does it have sessions,
each query's frequency (distinct sessions), and click labels for some queries' candidates.

:class:`MemoryLog`
    The impressions table loaded whole (:func:`gbltr.data.store.read_dataset`).
:class:`ScannedLog`
    The impressions Parquet file scanned lazily (:class:`gbltr.data.stream.LazyLog`, ``train.stream``,
    on by default with ``--engine dask``): for logs larger than memory. Same answers as
    :class:`MemoryLog` on the same log (``tests/data/test_stream.py``).

:func:`search_log` picks one for a configuration; nothing else branches on ``cfg.streams``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import polars as pl

from gbltr.data.frequency import query_frequency

if TYPE_CHECKING:
    from gbltr.data.store import SearchDataset
    from gbltr.data.stream import LazyLog
    from gbltr.labels.clicks import ClickLabelConfig, ClickLabels


class SearchLog(Protocol):
    """A search log (impressions: session_id, query_id, doc_id, position, clicked, ...)."""

    streamed: bool

    def has_sessions(self) -> bool:
        """The log has at least one impression."""

    def frequency(self, query_ids: pl.Series) -> pl.DataFrame:
        """``query_id, frequency`` (distinct sessions; 0 when absent) for every id given, sorted."""

    def click_labels(self, candidates: pl.DataFrame, query_ids: pl.Series, config: ClickLabelConfig) -> ClickLabels:
        """Click labels of ``query_ids``' candidates; only those queries' impressions are read."""


@dataclass(frozen=True, eq=False)
class MemoryLog:
    """A loaded impressions table (None or empty: no log)."""

    impressions: pl.DataFrame | None
    streamed = False

    def has_sessions(self) -> bool:
        return self.impressions is not None and self.impressions.height > 0

    def frequency(self, query_ids: pl.Series) -> pl.DataFrame:
        return query_frequency(self.impressions, query_ids)

    def click_labels(self, candidates, query_ids, config):
        from gbltr.labels.clicks import click_labels

        return click_labels(self.impressions, candidates, query_ids, config)


@dataclass(frozen=True)
class ScannedLog:
    """An impressions file scanned lazily, already checked (:func:`gbltr.data.stream.dataset_log`;
    None: no log or an empty one)."""

    lazy: LazyLog | None
    streamed = True

    def has_sessions(self) -> bool:
        return self.lazy is not None

    def frequency(self, query_ids: pl.Series) -> pl.DataFrame:
        from gbltr.data.stream import query_frequency_lazy

        return query_frequency_lazy(self.lazy, query_ids)

    def click_labels(self, candidates, query_ids, config):
        from gbltr.labels.clicks.stream import click_labels_scan

        return click_labels_scan(self.lazy, candidates, query_ids, config)


def open_dataset(path, streams: bool) -> tuple[SearchDataset, SearchLog]:
    """The dataset folder ``path`` and its search log: scanned and checked without loading it
    (``streams``, :func:`gbltr.data.stream.dataset_log`), or loaded with the dataset."""
    from gbltr.data.store import read_dataset
    from gbltr.data.stream import dataset_log

    ds = read_dataset(path, impressions=not streams)
    return ds, (ScannedLog(dataset_log(path, ds.queries, ds.documents)) if streams else MemoryLog(ds.impressions))
