"""The on-disk dataset: a folder of Parquet files with a documented schema.

Layout (every table follows its contract in :mod:`gbltr.schema`)::

    DIR/
      dataset.json          manifest: format version, tables and row counts, free metadata
      queries.parquet       query_id, text [, split, ...]
      documents.parquet     doc_id, title, body, url [, inlinks, pagerank, domain, ...]
      candidates.parquet    query_id, doc_id, rank, retrieval_score   (what first-stage retrieval returned)
      impressions.parquet   session_id, query_id, position, doc_id, clicked [, dwell_time]   (optional)
      labels/NAME.parquet   query_id, doc_id, label, source [, metadata]   (zero or more label sets)
      features.parquet      query_id, doc_id, then numeric columns: precomputed features (optional;
                            e.g. an SVMlight/LETOR file's f1..f46, grouped by a --catalogue file)
      world.json            parameters of the simulated world, when the folder was simulated

The manifest's ``missing`` maps what the source lacks to a sentence saying so (``text``: "svmlight
files carry no document text", ``impressions``, ``features``, ``labels.human`` ...), and
``sources`` lists what was imported from where. gbltr never fills a gap with made-up data: a
missing input is named in every run that trains on the dataset (:mod:`gbltr.pipeline`).

A :class:`SearchDataset` holds the tables in memory. :func:`read_dataset` checks every table
against its contract and the references between them (candidates and impressions must name
known queries and documents) and raises :class:`~gbltr.errors.SchemaError` otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from gbltr import schema
from gbltr.errors import DataError, SchemaError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SearchDataset:
    """A search world in memory: queries, documents, candidates, an optional log, label sets."""

    queries: pl.DataFrame
    documents: pl.DataFrame
    candidates: pl.DataFrame
    impressions: pl.DataFrame | None = None
    labels: dict[str, pl.DataFrame] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    features: pl.DataFrame | None = None
    missing: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)

    def __post_init__(self):
        object.__setattr__(self, "queries", schema.validate(self.queries, schema.QUERIES))
        object.__setattr__(self, "documents", schema.validate(self.documents, schema.DOCUMENTS))
        object.__setattr__(self, "candidates", schema.validate(self.candidates, schema.CANDIDATES))
        if self.impressions is not None:
            object.__setattr__(self, "impressions", schema.validate(self.impressions, schema.IMPRESSIONS))
        object.__setattr__(
            self,
            "labels",
            {k: schema.validate(v, schema.LABELS, where=f"label set {k!r}") for k, v in self.labels.items()},
        )
        if self.features is not None:
            object.__setattr__(self, "features", validate_features(self.features))
        _check_references(self)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The precomputed feature columns of ``features.parquet`` (empty without one)."""
        return () if self.features is None else tuple(c for c in self.features.columns if c not in ("query_id", "doc_id"))

    def label_set(self, name: str) -> pl.DataFrame:
        if name not in self.labels:
            raise DataError(
                f"label set {name!r} not in this dataset; found: {sorted(self.labels) or 'none'}"
            )
        return self.labels[name]

    def with_labels(self, name: str, frame: pl.DataFrame) -> "SearchDataset":
        return replace(self, labels={**self.labels, name: frame})

    def split_ids(self, split: str) -> pl.Series:
        """Query ids of one split (``train``/``valid``/``test``); needs the queries' split column."""
        if "split" not in self.queries.columns:
            raise DataError("queries table has no 'split' column; expected train/valid/test per query")
        return self.queries.filter(pl.col("split") == split)["query_id"]


FEATURES_KEY = ("query_id", "doc_id")


def validate_features(frame: pl.DataFrame, where: str = "features.parquet") -> pl.DataFrame:
    """query_id, doc_id (unique together) and numeric feature columns, returned as Float64."""
    missing = [c for c in FEATURES_KEY if c not in frame.columns]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {missing}; expected query_id, doc_id, then feature columns")
    cols = [c for c in frame.columns if c not in FEATURES_KEY]
    if not cols:
        raise SchemaError(f"{where}: no feature column; expected numeric columns after query_id, doc_id")
    bad = [c for c in cols if not frame.schema[c].is_numeric()]
    if bad:
        raise SchemaError(f"{where}: column(s) {bad} are not numeric ({[str(frame.schema[c]) for c in bad]}); "
                          "expected numeric precomputed features")
    frame = frame.with_columns(pl.col("query_id", "doc_id").cast(pl.String), pl.col(cols).cast(pl.Float64))
    dup = frame.select(FEATURES_KEY).is_duplicated()
    if dup.any():
        ex = frame.filter(dup).row(0, named=True)
        raise SchemaError(f"{where}: {int(dup.sum())} rows share a (query_id, doc_id), e.g. "
                          f"({ex['query_id']!r}, {ex['doc_id']!r}); expected one row per pair")
    return frame


def _check_references(ds: SearchDataset) -> None:
    q = ds.queries.select("query_id")
    d = ds.documents.select("doc_id")
    for name, frame in (("candidates", ds.candidates), ("impressions", ds.impressions)):
        if frame is None or frame.height == 0:
            continue
        unknown_q = frame.select("query_id").unique().join(q, on="query_id", how="anti")
        if unknown_q.height:
            raise SchemaError(
                f"{name}: {unknown_q.height} query_id(s) not in the queries table, "
                f"e.g. {unknown_q['query_id'][0]!r}; expected every query_id to be defined"
            )
        unknown_d = frame.select("doc_id").unique().join(d, on="doc_id", how="anti")
        if unknown_d.height:
            raise SchemaError(
                f"{name}: {unknown_d.height} doc_id(s) not in the documents table, "
                f"e.g. {unknown_d['doc_id'][0]!r}; expected every doc_id to be defined"
            )
    if ds.features is not None:
        stray = ds.features.select(FEATURES_KEY).join(ds.candidates.select(FEATURES_KEY), on=list(FEATURES_KEY), how="anti")
        if stray.height:
            raise SchemaError(
                f"features.parquet: {stray.height} (query_id, doc_id) pair(s) are not candidates, e.g. "
                f"{stray.row(0)}; expected features only for candidates"
            )


def write_dataset(ds: SearchDataset, path: str | Path, *, extra_json: dict[str, dict] | None = None) -> Path:
    """Write ``ds`` as a dataset folder (see module docstring) and return the folder."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"queries": ds.queries, "documents": ds.documents, "candidates": ds.candidates}
    if ds.impressions is not None:
        tables["impressions"] = ds.impressions
    if ds.features is not None:
        tables["features"] = ds.features
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    if ds.labels:
        (out / "labels").mkdir(exist_ok=True)
        for name, frame in ds.labels.items():
            frame.write_parquet(out / "labels" / f"{name}.parquet")
    manifest = {
        "format_version": FORMAT_VERSION,
        "tables": {k: v.height for k, v in tables.items()},
        "labels": {k: v.height for k, v in ds.labels.items()},
        "metadata": ds.metadata,
        "missing": ds.missing,
        "sources": ds.sources,
    }
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    for name, content in (extra_json or {}).items():
        (out / name).write_text(json.dumps(content, indent=2, sort_keys=True))
    return out


def read_dataset(path: str | Path) -> SearchDataset:
    """Read a dataset folder written by :func:`write_dataset` (or by hand, following the layout)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"dataset folder {str(root)!r} does not exist; expected a folder with queries.parquet etc.")
    missing = [n for n in ("queries", "documents", "candidates") if not (root / f"{n}.parquet").exists()]
    if missing:
        found = sorted(p.name for p in root.iterdir())
        raise DataError(
            f"dataset folder {str(root)!r}: missing {', '.join(m + '.parquet' for m in missing)}; found {found}"
        )
    metadata, manifest = {}, {}
    if (root / "dataset.json").exists():
        manifest = json.loads((root / "dataset.json").read_text())
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise DataError(
                f"dataset folder {str(root)!r} has format_version {version}; this gbltr reads {FORMAT_VERSION}"
            )
        metadata = manifest.get("metadata", {})

    def read(name: str) -> pl.DataFrame:
        file = root / f"{name}.parquet"
        try:
            return pl.read_parquet(file)
        except Exception as exc:  # polars raises several types for a broken file
            raise DataError(f"could not read {file}: {exc}") from exc

    impressions = read("impressions") if (root / "impressions.parquet").exists() else None
    labels = {}
    if (root / "labels").is_dir():
        for file in sorted((root / "labels").glob("*.parquet")):
            labels[file.stem] = pl.read_parquet(file)
    try:
        return SearchDataset(
            queries=read("queries"),
            documents=read("documents"),
            candidates=read("candidates"),
            impressions=impressions,
            labels=labels,
            metadata=metadata,
            features=read("features") if (root / "features.parquet").exists() else None,
            missing=dict(manifest.get("missing", {})),
            sources=list(manifest.get("sources", [])),
        )
    except SchemaError as exc:
        raise SchemaError(f"dataset folder {str(root)!r}: {exc}") from exc
