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
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl

from gbltr import inputs, schema
from gbltr.errors import DataError, SchemaError
from gbltr.folders import check_run_folder, run_folder

FORMAT_VERSION = 1
MAX_POSITION = 10_000
"""Largest impression position accepted: click models keep one parameter per position."""
LABEL_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
"""A label-set name: it becomes ``labels/NAME.parquet``, so no separators and no leading dot."""
FINGERPRINT_FILES = (
    "dataset.json", "queries.parquet", "documents.parquet", "candidates.parquet",
    "impressions.parquet", "labels/human.parquet", "features.parquet",
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
    features: pl.DataFrame | None = None
    missing: dict[str, str] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)

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
        if self.features is not None:
            object.__setattr__(self, "features", validate_features(self.features))
        _check_references(self)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The precomputed feature columns of ``features.parquet`` (empty without one)."""
        return () if self.features is None else tuple(c for c in self.features.columns if c not in ("query_id", "doc_id"))

    def with_labels(self, name: str, frame: pl.DataFrame) -> "SearchDataset":
        check_label_set_name(name)
        return replace(self, labels={**self.labels, name: frame})


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
    tables = [("candidates", ds.candidates), ("impressions", ds.impressions)]
    tables += [(f"label set {k!r}", v) for k, v in ds.labels.items()]
    for name, frame in tables:
        _check_ids(name, frame, q, d)
    _check_positions("impressions", ds.impressions)
    if ds.features is not None:
        stray = ds.features.select(FEATURES_KEY).join(ds.candidates.select(FEATURES_KEY), on=list(FEATURES_KEY), how="anti")
        if stray.height:
            raise SchemaError(
                f"features.parquet: {stray.height} (query_id, doc_id) pair(s) are not candidates, e.g. "
                f"{stray.row(0)}; expected features only for candidates"
            )


def _check_ids(name: str, frame: pl.DataFrame | None, q: pl.DataFrame, d: pl.DataFrame) -> None:
    """Every query_id of ``frame`` is in ``q`` and every doc_id in ``d``."""
    if frame is None or frame.height == 0:
        return
    for col, known, table in (("query_id", q, "queries"), ("doc_id", d, "documents")):
        unknown = frame.select(col).unique().join(known, on=col, how="anti").sort(col)
        if unknown.height:
            raise unknown_ids_error(name, col, table, unknown, frame.join(unknown, on=col, how="semi").height)


def unknown_ids_error(name: str, col: str, table: str, unknown: pl.DataFrame, rows: int) -> SchemaError:
    """The error for ids of ``name`` missing from ``table`` (``unknown``: those ids, sorted; ``rows``:
    the rows that hold them); shared with the streamed log (:mod:`gbltr.data.stream`)."""
    return SchemaError(
        f"{name}: {unknown.height} {col}(s) not in the {table} table, e.g. {unknown[col][0]!r} "
        f"({rows} row(s)); expected every {col} to be defined (look for stray spaces or typos in the ids)"
    )


#: Rows whose display position is out of range.
BAD_POSITION = (pl.col("position") < 1) | (pl.col("position") > MAX_POSITION)


def bad_positions_error(name: str, n_bad: int, first: dict) -> SchemaError:
    """The error for ``n_bad`` impressions outside 1..MAX_POSITION (``first``: one such row)."""
    return SchemaError(
        f"{name}: {n_bad} row(s) with position outside 1..{MAX_POSITION}, e.g. "
        f"position {first['position']} in session {first['session_id']!r}; expected 1-based display positions"
    )


def _check_positions(name: str, imp: pl.DataFrame | None) -> None:
    if imp is not None and imp.height:
        bad = imp.filter(BAD_POSITION)
        if bad.height:
            raise bad_positions_error(name, bad.height, bad.row(0, named=True))


def check_dataset_out(path: str | Path, *, command: str, inputs: Iterable = (), overwrite: bool = False) -> Path:
    """Check, before any work, that ``command`` may write dataset folder ``path`` (the policy of
    :func:`gbltr.folders.check_outputs`); :func:`write_dataset` checks again when it writes."""
    return check_run_folder(path, overwrite=overwrite, marker="dataset.json", kind="dataset folder",
                            command=command, inputs=inputs)


def write_dataset(ds: SearchDataset, path: str | Path, *, extra_json: dict[str, dict] | None = None,
                  extra_parquet: dict[str, pl.DataFrame] | None = None, overwrite: bool = False,
                  impression_chunks: Iterable[pl.DataFrame] | None = None, command: str = "import",
                  inputs: Iterable = ()) -> Path:
    """Write ``ds`` as a dataset folder (see module docstring) and return the folder.

    Written atomically (:func:`gbltr.folders.run_folder`): an existing non-empty folder is refused
    unless ``overwrite``, which replaces it whole (only a folder holding ``dataset.json``), so no
    table or label set of an older dataset survives beside the new ones. ``extra_json``: file
    name -> JSON content; ``extra_parquet``: relative path without suffix -> frame (e.g.
    ``latent/documents``), written inside the same atomic folder.

    ``impression_chunks`` (with ``ds.impressions`` None): a log too large to hold in memory, as
    consecutive frames written in order into one ``impressions.parquet``
    (:func:`_write_impression_chunks`); each is checked as ``ds.impressions`` would be.

    ``command`` wrote the folder (``simulate``, ``import``: ``--overwrite`` replaces only a dataset
    folder the same command wrote) and ``inputs`` are what it read (:func:`gbltr.folders.check_outputs`).
    """
    if impression_chunks is not None and ds.impressions is not None:
        raise DataError("write_dataset: expected impressions either in the dataset or as chunks, found both")
    with run_folder(path, overwrite=overwrite, marker="dataset.json", kind="dataset folder", command=command,
                    inputs=inputs) as tmp:
        _write_dataset_files(ds, tmp, extra_json, extra_parquet, impression_chunks)
    return Path(path)


def _write_dataset_files(ds: SearchDataset, out: Path, extra_json, extra_parquet, impression_chunks=None) -> Path:
    tables = {"queries": ds.queries, "documents": ds.documents, "candidates": ds.candidates}
    if ds.impressions is not None:
        tables["impressions"] = ds.impressions
    if ds.features is not None:
        tables["features"] = ds.features
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    heights = {k: v.height for k, v in tables.items()}
    if impression_chunks is not None:
        heights["impressions"] = _write_impression_chunks(ds, impression_chunks, out / "impressions.parquet")
    if ds.labels:
        (out / "labels").mkdir(exist_ok=True)
        for name, frame in ds.labels.items():
            check_label_set_name(name)
            frame.write_parquet(out / "labels" / f"{name}.parquet")
    manifest = {
        "format_version": FORMAT_VERSION,
        "tables": heights,
        "labels": {k: v.height for k, v in ds.labels.items()},
        "metadata": ds.metadata,
        "missing": ds.missing,
        "sources": ds.sources,
    }
    (out / "dataset.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    for name, content in (extra_json or {}).items():
        (out / name).write_text(json.dumps(content, indent=2, sort_keys=True))
    for name, frame in (extra_parquet or {}).items():
        file = out / f"{name}.parquet"
        file.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(file)
    return out


def _write_impression_chunks(ds: SearchDataset, chunks: Iterable[pl.DataFrame], file: Path) -> int:
    """Write impression frames, in order, into one Parquet ``file`` without holding them all;
    return the row count.

    Each frame is validated against the impressions contract and its ids against ``ds``'s
    queries and documents, as :class:`SearchDataset` checks a whole log. Keys (session, position)
    are checked within a frame; across frames, distinct session-id hashes are compared, and only
    if one repeats (a session split between frames, or a hash collision) is the written file's
    key checked exactly. Frames must all have the first frame's columns and dtypes.
    """
    from polars.io.plugins import register_io_source

    q = ds.queries.select("query_id")
    d = ds.documents.select("doc_id")
    it = iter(chunks)
    first = next(it, None)
    if first is None:
        first = pl.DataFrame(schema=schema.IMPRESSIONS.columns)

    def checked(frame: pl.DataFrame, lo: int) -> pl.DataFrame:
        where = f"impressions rows {lo}..{lo + frame.height - 1}"
        frame = schema.validate(frame, schema.IMPRESSIONS, where=where)
        _check_ids(where, frame, q, d)
        _check_positions(where, frame)
        return frame

    first = checked(first, 0)
    state = {"rows": 0, "error": None, "sessions": []}

    def source(with_columns, predicate, n_rows, batch_size):
        frame = first
        try:
            while frame is not None:
                if state["rows"]:
                    frame = checked(frame, state["rows"])
                    if frame.schema != first.schema:
                        raise SchemaError(f"impressions rows {state['rows']}..: columns {dict(frame.schema)}, "
                                          f"expected those of the first chunk {dict(first.schema)}")
                state["sessions"].append(frame["session_id"].hash(seed=0).unique().to_numpy())
                state["rows"] += frame.height
                out = frame if with_columns is None else frame.select(with_columns)
                yield out if predicate is None else out.filter(predicate)
                frame = next(it, None)
        except Exception as exc:  # re-raised below: Polars would wrap it in its own error
            state["error"] = exc

    register_io_source(source, schema=first.schema).sink_parquet(file)
    if state["error"] is not None:
        raise state["error"]
    hashes = np.sort(np.concatenate(state["sessions"])) if state["sessions"] else np.zeros(0, np.uint64)
    if (hashes[1:] == hashes[:-1]).any():  # a session in two chunks, or a hash collision
        schema.validate(pl.read_parquet(file), schema.IMPRESSIONS, where="impressions (written in chunks)")
    return state["rows"]


def _read_parquet(file: Path) -> pl.DataFrame:
    return inputs.read_parquet(file, "dataset table")


def _read_manifest(file: Path) -> dict:
    return inputs.read_document(file, "dataset manifest", "the dataset manifest (format_version, metadata, ...)",
                                fmt="json")


def check_label_set(root: Path, name: str, frame: pl.DataFrame, listed) -> None:
    """Refuse ``labels/NAME.parquet`` when it is not the set the manifest describes: a set named
    after a source (``human``, ``llm``, ``click``) whose ``source`` column holds another source,
    or a row count other than the one ``dataset.json`` lists for ``NAME`` (``listed``: the
    manifest's ``labels``). Either means the file was replaced after the dataset was written,
    e.g. an LLM label set written over ``labels/human.parquet``, which would be evaluated as
    human judgements."""
    file = root / "labels" / f"{name}.parquet"
    if name in schema.LABEL_SOURCES and "source" in frame.columns:
        other = sorted(str(s) for s in frame["source"].unique().to_list() if s != name)
        if other:
            raise DataError(
                f"{file}: the label set {name!r} holds rows of source(s) {other}; expected only source {name!r}. "
                "The file was replaced by another source's labels: restore it (re-import or re-simulate the "
                "dataset), and keep other labels elsewhere (e.g. fit --llm-labels FILE)"
            )
    if isinstance(listed, dict) and name in listed and listed[name] != frame.height:
        raise DataError(
            f"{file}: {frame.height} rows, but {root / 'dataset.json'} lists {listed[name]} for label set "
            f"{name!r}; expected the set the dataset was written with. The file was replaced or edited after "
            "the dataset was written: restore it, or rewrite the dataset (and its manifest) with gbltr"
        )


def check_no_label_set_missing(root: Path, found: dict, listed) -> None:
    """Refuse a dataset whose manifest lists a label set (``listed``: the manifest's ``labels``)
    with no ``labels/NAME.parquet`` among ``found``: the file was removed after the dataset was
    written, and every count the manifest reports for it would be wrong (a plan would also buy
    labels the dataset had). Removing a set means removing its manifest entry too."""
    gone = sorted(n for n in (listed if isinstance(listed, dict) else {}) if n not in found)
    if gone:
        raise DataError(
            f"{root / 'dataset.json'} lists label set(s) {gone} ({', '.join(f'{n}: {listed[n]} rows' for n in gone)}), "
            f"but {', '.join(str(root / 'labels' / f'{n}.parquet') for n in gone)} is missing; expected every listed "
            "set on disk. Restore the file, or remove its entry from dataset.json's labels if the set was "
            "dropped on purpose"
        )


def read_dataset(path: str | Path, *, impressions: bool = True) -> SearchDataset:
    """Read a dataset folder written by :func:`write_dataset` (or by hand, following the layout).

    ``impressions=False`` leaves the log on disk (``impressions`` is None): the streaming pipeline
    scans it lazily and checks it itself (:mod:`gbltr.data.stream`)."""
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
        manifest = _read_manifest(root / "dataset.json")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise DataError(
                f"dataset folder {str(root)!r} has format_version {version}; this gbltr reads {FORMAT_VERSION}"
            )
        metadata = inputs.field(manifest, "metadata", "table", f"dataset manifest {root / 'dataset.json'}", default={})

    def read(name: str) -> pl.DataFrame:
        return _read_parquet(root / f"{name}.parquet")

    log_ = read("impressions") if impressions and (root / "impressions.parquet").exists() else None
    labels = {}
    if (root / "labels").is_dir():
        for file in sorted((root / "labels").glob("*.parquet")):
            labels[check_label_set_name(file.stem)] = _read_parquet(file)
    for name, frame in labels.items():
        check_label_set(root, name, frame, manifest.get("labels"))
    check_no_label_set_missing(root, labels, manifest.get("labels"))
    try:
        return SearchDataset(
            queries=read("queries"),
            documents=read("documents"),
            candidates=read("candidates"),
            impressions=log_,
            labels=labels,
            metadata=metadata,
            features=read("features") if (root / "features.parquet").exists() else None,
            missing=dict(manifest.get("missing", {})),
            sources=list(manifest.get("sources", [])),
        )
    except SchemaError as exc:
        raise SchemaError(f"dataset folder {str(root)!r}: {exc}") from exc
