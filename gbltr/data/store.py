"""The on-disk dataset: a folder of Parquet files with a documented schema.

Layout (every table follows its contract in :mod:`gbltr.schema`)::

    DIR/
      dataset.json          manifest: format version, tables and row counts, free metadata
      queries.parquet       query_id, text [, split, ...]
      documents.parquet     doc_id, title, body, url [, inlinks, pagerank, domain, ...]
      candidates.parquet    query_id, doc_id, rank, retrieval_score   (what first-stage retrieval returned)
      impressions.parquet   session_id, query_id, position, doc_id, clicked [, dwell_time]   (optional)
      labels/NAME.parquet   query_id, doc_id, label, source [, metadata]   (zero or more label sets)
      world.json            parameters of the simulated world, when the folder was simulated

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
        _check_references(self)

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


def write_dataset(ds: SearchDataset, path: str | Path, *, extra_json: dict[str, dict] | None = None) -> Path:
    """Write ``ds`` as a dataset folder (see module docstring) and return the folder."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"queries": ds.queries, "documents": ds.documents, "candidates": ds.candidates}
    if ds.impressions is not None:
        tables["impressions"] = ds.impressions
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
    metadata = {}
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
        )
    except SchemaError as exc:
        raise SchemaError(f"dataset folder {str(root)!r}: {exc}") from exc
