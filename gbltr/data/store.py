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
against its contract and the references between them (candidates, impressions and every label
set must name known queries and documents; impression positions lie in 1..:data:`MAX_POSITION`)
and raises :class:`~gbltr.errors.SchemaError` otherwise. A label-set name becomes a file name,
so it must match :data:`LABEL_SET_NAME` (no path separators, no ``..``).

:func:`fingerprint` is a short, stable hash of the tables that define what a run is evaluated on
(queries, documents, candidates, impressions, human labels and the manifest); run folders record
it and ``gbltr compare`` refuses runs whose fingerprints differ.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from gbltr import schema
from gbltr.errors import DataError, SchemaError
from gbltr.folders import run_folder

FORMAT_VERSION = 1
MAX_POSITION = 10_000
"""Largest impression position accepted: click models keep one parameter per position."""
LABEL_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
"""A label-set name: it becomes ``labels/NAME.parquet``, so no separators and no leading dot."""
FINGERPRINT_FILES = (
    "dataset.json", "queries.parquet", "documents.parquet", "candidates.parquet",
    "impressions.parquet", "labels/human.parquet",
)
"""The files :func:`fingerprint` hashes (those present): what a run is evaluated on. Other label
sets are training inputs that legitimately differ between compared runs."""


def check_label_set_name(name: str) -> str:
    """Return ``name`` if it is a safe label-set name, else raise :class:`SchemaError`."""
    if not isinstance(name, str) or not LABEL_SET_NAME.match(name) or ".." in name:
        raise SchemaError(
            f"label set name {name!r}: expected letters, digits, '_', '-' or '.' (not leading, no '..'), "
            "at most 100 characters; it becomes the file name labels/NAME.parquet"
        )
    return name


def fingerprint(path: str | Path) -> dict:
    """``{"sha1": hex, "files": {name: hex}}`` over :data:`FINGERPRINT_FILES` present in ``path``.

    Hashes the file bytes (cheap: one read; stable: the same folder, copied or not, gives the
    same value). Rewriting a table with another library version may change it; that is a refusal
    on the safe side.
    """
    root = Path(path)
    files = {}
    for name in FINGERPRINT_FILES:
        file = root / name
        if file.is_file():
            h = hashlib.sha1()
            with file.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            files[name] = h.hexdigest()[:16]
    total = hashlib.sha1(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    return {"sha1": total, "files": files}


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
        for k in self.labels:
            check_label_set_name(k)
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
        check_label_set_name(name)
        return replace(self, labels={**self.labels, name: frame})

    def split_ids(self, split: str) -> pl.Series:
        """Query ids of one split (``train``/``valid``/``test``); needs the queries' split column."""
        if "split" not in self.queries.columns:
            raise DataError("queries table has no 'split' column; expected train/valid/test per query")
        return self.queries.filter(pl.col("split") == split)["query_id"]


def _check_references(ds: SearchDataset) -> None:
    q = ds.queries.select("query_id")
    d = ds.documents.select("doc_id")
    tables = [("candidates", ds.candidates), ("impressions", ds.impressions)]
    tables += [(f"label set {k!r}", v) for k, v in ds.labels.items()]
    for name, frame in tables:
        if frame is None or frame.height == 0:
            continue
        for col, known, table in (("query_id", q, "queries"), ("doc_id", d, "documents")):
            unknown = frame.select(col).unique().join(known, on=col, how="anti").sort(col)
            if unknown.height:
                rows = frame.join(unknown, on=col, how="semi").height
                raise SchemaError(
                    f"{name}: {unknown.height} {col}(s) not in the {table} table, e.g. {unknown[col][0]!r} "
                    f"({rows} row(s)); expected every {col} to be defined (look for stray spaces or typos "
                    "in the ids)"
                )
    imp = ds.impressions
    if imp is not None and imp.height:
        bad = imp.filter((pl.col("position") < 1) | (pl.col("position") > MAX_POSITION))
        if bad.height:
            r = bad.row(0, named=True)
            raise SchemaError(
                f"impressions: {bad.height} row(s) with position outside 1..{MAX_POSITION}, e.g. "
                f"position {r['position']} in session {r['session_id']!r}; expected 1-based display positions"
            )


def write_dataset(ds: SearchDataset, path: str | Path, *, extra_json: dict[str, dict] | None = None,
                  extra_parquet: dict[str, pl.DataFrame] | None = None, overwrite: bool = False) -> Path:
    """Write ``ds`` as a dataset folder (see module docstring) and return the folder.

    Written atomically (:func:`gbltr.folders.run_folder`): an existing non-empty folder is refused
    unless ``overwrite``, which replaces it whole (only a folder holding ``dataset.json``), so no
    table or label set of an older dataset survives beside the new ones. ``extra_json``: file
    name -> JSON content; ``extra_parquet``: relative path without suffix -> frame (e.g.
    ``latent/documents``), written inside the same atomic folder.
    """
    with run_folder(path, overwrite=overwrite, marker="dataset.json", kind="dataset folder") as tmp:
        _write_dataset_files(ds, tmp, extra_json, extra_parquet)
    return Path(path)


def _write_dataset_files(ds: SearchDataset, out: Path, extra_json, extra_parquet) -> Path:
    tables = {"queries": ds.queries, "documents": ds.documents, "candidates": ds.candidates}
    if ds.impressions is not None:
        tables["impressions"] = ds.impressions
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    if ds.labels:
        (out / "labels").mkdir(exist_ok=True)
        for name, frame in ds.labels.items():
            check_label_set_name(name)
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
    for name, frame in (extra_parquet or {}).items():
        file = out / f"{name}.parquet"
        file.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(file)
    return out


def _read_parquet(file: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(file)
    except Exception as exc:  # polars raises several types for a broken file
        raise DataError(f"could not read {file}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                        "expected a Parquet table (rewrite or remove the file)") from exc


def _read_manifest(file: Path) -> dict:
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: expected a JSON object (the dataset manifest), found text that does not parse: {exc}") from exc
    if not isinstance(manifest, dict):
        raise DataError(f"{file}: expected a JSON object (the dataset manifest), found {type(manifest).__name__}")
    return manifest


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
        manifest = _read_manifest(root / "dataset.json")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise DataError(
                f"dataset folder {str(root)!r} has format_version {version}; this gbltr reads {FORMAT_VERSION}"
            )
        metadata = manifest.get("metadata", {})
        if not isinstance(metadata, dict):
            raise DataError(f"{root / 'dataset.json'}: 'metadata' must be a JSON object, found {type(metadata).__name__}")

    def read(name: str) -> pl.DataFrame:
        return _read_parquet(root / f"{name}.parquet")

    impressions = read("impressions") if (root / "impressions.parquet").exists() else None
    labels = {}
    if (root / "labels").is_dir():
        for file in sorted((root / "labels").glob("*.parquet")):
            labels[check_label_set_name(file.stem)] = _read_parquet(file)
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
