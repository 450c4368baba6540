"""Build the feature table: one row per candidate pair, one column per catalogue feature.

:func:`build_features` joins the query-document text features (:mod:`gbltr.features.text`), the
document features (:mod:`gbltr.features.document`) and the query features
(:mod:`gbltr.features.query`) onto the pairs, and checks the result against the catalogue
(:mod:`gbltr.features.catalogue`): no pair lost, every value finite, and the computed columns are
exactly the catalogue's features minus those omitted for a missing optional input.

No leakage: nothing here reads labels, clicks or impressions; the only log-derived input is
``query_stats``, a per-query session count (popularity, observable at serving time; the pipeline
counts it over the whole log, see :mod:`gbltr.pipeline`), never clicks or labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

import polars as pl

from gbltr.errors import DataError, SchemaError
from gbltr.features.catalogue import Catalogue, load_catalogue
from gbltr.features.document import document_features
from gbltr.features.query import query_features
from gbltr.features.text import TextParams, text_features
from gbltr.schema import DOCUMENTS, QUERIES, Contract, check_finite, validate

KEY = ("query_id", "doc_id")

#: Contract of the pairs to featurise (the candidates, without rank/score).
PAIRS = Contract(
    "pairs",
    required={"query_id": pl.String, "doc_id": pl.String},
    key=KEY,
    not_null=KEY,
)


@dataclass(frozen=True)
class FeatureTable:
    """Features of candidate pairs.

    frame     query_id, doc_id, then one Float64 column per feature in catalogue order, rows
              sorted by (query_id, doc_id). Document authority columns may hold nulls where the
              input column had nulls (missing values); nothing else is null, nothing is NaN/inf.
    features  the feature column names, in order
    groups    feature name -> (group, subgroup) from the catalogue
    omitted   catalogue features not computed -> reason (a missing optional input)
    """

    frame: pl.DataFrame
    features: tuple[str, ...]
    groups: Mapping[str, tuple[str, str]]
    omitted: Mapping[str, str]
    catalogue: Catalogue

    def features_in(self, group_or_subgroup: str) -> tuple[str, ...]:
        """Feature columns of this table in a group or subgroup (unknown name -> ConfigError)."""
        wanted = {f.name for f in self.catalogue.features_in(group_or_subgroup)}
        return tuple(n for n in self.features if n in wanted)

    def select_groups(self, drop: Iterable[str] = (), keep: Iterable[str] | None = None) -> "FeatureTable":
        """A copy without the features of the ``drop`` groups/subgroups (and, if ``keep`` is
        given, with only the features of the ``keep`` groups/subgroups). For ablation."""
        drop_names = {n for g in drop for n in self.features_in(g)}
        names = [n for n in self.features if n not in drop_names]
        if keep is not None:
            keep_names = {n for g in keep for n in self.features_in(g)}
            names = [n for n in names if n in keep_names]
        if not names:
            raise DataError(
                f"select_groups(drop={list(drop)}, keep={None if keep is None else list(keep)}) leaves no "
                f"feature; expected at least one of {list(self.features)}"
            )
        return FeatureTable(
            frame=self.frame.select(*KEY, *names),
            features=tuple(names),
            groups=MappingProxyType({n: self.groups[n] for n in names}),
            omitted=self.omitted,
            catalogue=self.catalogue,
        )


def build_features(
    queries: pl.DataFrame | pl.LazyFrame,
    documents: pl.DataFrame | pl.LazyFrame,
    pairs: pl.DataFrame | pl.LazyFrame,
    query_stats: pl.DataFrame | None = None,
    *,
    params: TextParams = TextParams(),
    catalogue: Catalogue | None = None,
) -> FeatureTable:
    """Featurise ``pairs`` (query_id, doc_id) into a :class:`FeatureTable`.

    queries (query_id, text) and documents (doc_id, title, body, url [, inlinks, pagerank, domain])
    follow :mod:`gbltr.schema`; collection statistics (df, average lengths, domain sizes) come from
    the whole ``documents`` table. query_stats (query_id, frequency) is the TRAINING-log frequency;
    None omits ``query_freq_log1p``. ``catalogue`` defaults to the packaged one.

    Raises :class:`SchemaError` for inputs off their contract or a computed column set that
    differs from the catalogue, and :class:`DataError` for pairs naming unknown ids (with a count
    and an example) and for NaN/inf feature values.
    """
    catalogue = catalogue or load_catalogue()
    queries = validate(queries, QUERIES, where="build_features")
    documents = validate(documents, DOCUMENTS, where="build_features")
    pairs = validate(pairs, PAIRS, where="build_features").select(*KEY)
    _check_known(pairs, queries, "query_id", "queries")
    _check_known(pairs, documents, "doc_id", "documents")

    text = text_features(queries, documents, pairs, params=params)
    docs = document_features(documents)
    qf = query_features(queries, query_stats)
    frame = (
        pairs.lazy()
        .join(text.lazy(), on=list(KEY), how="left")
        .join(docs.frame.lazy(), on="doc_id", how="left")
        .join(qf.frame.lazy(), on="query_id", how="left")
        .collect()
    )
    omitted = {**docs.omitted, **qf.omitted}
    names = _check_against_catalogue([c for c in frame.columns if c not in KEY], omitted, catalogue)
    frame = frame.select(*KEY, *names).sort(list(KEY))
    if frame.height != pairs.height:  # a join fanned out or lost rows: a bug, not bad input
        raise DataError(f"feature table has {frame.height} rows for {pairs.height} pairs; expected one per pair")
    try:
        check_finite(frame, names, where="build_features")
    except SchemaError as e:
        raise DataError(str(e)) from e
    return FeatureTable(
        frame=frame,
        features=tuple(names),
        groups=MappingProxyType({n: (catalogue.feature(n).group, catalogue.feature(n).subgroup) for n in names}),
        omitted=MappingProxyType(omitted),
        catalogue=catalogue,
    )


def _check_known(pairs: pl.DataFrame, table: pl.DataFrame, column: str, name: str) -> None:
    """Raise DataError if some pairs name a ``column`` value absent from ``table``."""
    lost = pairs.join(table.select(column), on=column, how="anti")
    if lost.height:
        n_ids = lost[column].n_unique()
        ex = lost.row(0, named=True)
        raise DataError(
            f"pairs: {lost.height} of {pairs.height} pair(s) name {n_ids} {column}(s) absent from the "
            f"{name} table, e.g. (query_id={ex['query_id']!r}, doc_id={ex['doc_id']!r}); expected every "
            f"pair's {column} in {name} (pass the full {name} table or drop those pairs)"
        )


def _check_against_catalogue(computed: list[str], omitted: dict[str, str], catalogue: Catalogue) -> list[str]:
    """Return the computed names in catalogue order; raise SchemaError on any disagreement."""
    known = set(catalogue.names)
    extra = [c for c in computed if c not in known]
    if extra:
        raise SchemaError(
            f"features {extra} are computed but not in the feature catalogue; expected every "
            "computed feature to be catalogued (add them to features/catalogue.toml)"
        )
    done = set(computed) | set(omitted)
    missing = [n for n in catalogue.names if n not in done]
    if missing:
        raise SchemaError(
            f"catalogue features {missing} are not computed by any feature module; expected the "
            "catalogue to list only computed features (remove them or implement them)"
        )
    undeclared = [n for n in omitted if n in known and not catalogue.feature(n).requires]
    if undeclared:
        raise SchemaError(
            f"features {undeclared} were omitted but the catalogue lists no `requires` for them; "
            "expected omissions only for features with optional inputs"
        )
    return [n for n in catalogue.names if n in set(computed)]


def drop_choices(catalogue: Catalogue | None = None) -> tuple[str, ...]:
    """Group and subgroup names accepted by :meth:`FeatureTable.select_groups`."""
    return (catalogue or load_catalogue()).selectors


__all__ = ["FeatureTable", "PAIRS", "TextParams", "build_features", "drop_choices"]
