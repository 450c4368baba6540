"""Query-level features: constant within a query, so they only help a ranker through interactions.

Input: queries(query_id, text) and, optionally, ``query_stats`` (query_id, frequency Int64 = number
of sessions of the query in the log, :func:`gbltr.data.frequency.query_stats`). Output: query_id
and Float64 columns

``query_len``         number of tokens of the query (:func:`gbltr.features.text.tokenize`, with repeats)
``query_freq_log1p``  ln(1 + frequency); 0 for a query absent from ``query_stats``

Frequency is a popularity counter observable at serving time, not a label: gbltr's pipeline
(:mod:`gbltr.pipeline`) counts it over the whole log, held-out queries' sessions included, and
never reads their clicks. The caller passes it; nothing here reads a log. Without ``query_stats`` (None) ``query_freq_log1p`` is omitted with a warning on
the ``gbltr.features`` logger (a column of zeros would pretend every query is unseen).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import polars as pl

from gbltr.errors import DataError
from gbltr.features.text import tokenize
from gbltr.schema import Contract, validate

logger = logging.getLogger("gbltr.features")

#: Contract of the query statistics table (query frequency: sessions in the log).
QUERY_STATS = Contract(
    "query_stats",
    required={"query_id": pl.String, "frequency": pl.Int64},
    key=("query_id",),
    not_null=("query_id", "frequency"),
)


@dataclass(frozen=True)
class QueryFeatures:
    """query_id + one column per computed feature; ``omitted`` maps feature -> reason."""

    frame: pl.DataFrame
    omitted: dict[str, str] = field(default_factory=dict)


def query_features(queries: pl.DataFrame | pl.LazyFrame, query_stats: pl.DataFrame | None = None) -> QueryFeatures:
    """Compute the query features (see the module docstring); ``queries`` must match the schema."""
    lf = queries.lazy().select("query_id", query_len=tokenize(pl.col("text")).list.len().cast(pl.Float64))
    omitted = {}
    if query_stats is None:
        omitted["query_freq_log1p"] = "no query_stats table given"
        logger.warning(
            "query feature query_freq_log1p omitted: no query_stats (training-log frequencies) given"
        )
    else:
        stats = validate(query_stats, QUERY_STATS, where="query_stats")
        negative = stats.filter(pl.col("frequency") < 0)
        if negative.height:
            raise DataError(
                f"query_stats: {negative.height} negative frequency value(s), e.g. "
                f"{negative.row(0, named=True)}; expected session counts >= 0"
            )
        lf = lf.join(stats.lazy().select("query_id", "frequency"), on="query_id", how="left").select(
            "query_id",
            "query_len",
            query_freq_log1p=pl.col("frequency").fill_null(0).cast(pl.Float64).log1p(),
        )
    return QueryFeatures(lf.collect(), omitted)
