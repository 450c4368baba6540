"""``impressions``: a generic click log in Parquet or CSV, with a column mapping.

One row per (session, position): the document shown there and whether it was clicked. Columns
are named by ``--map NAME=COLUMN,...`` for the names that differ from gbltr's:

=============  ========  ==================================================================
name           needed    meaning
=============  ========  ==================================================================
``session``    yes       one search (SERP) id; with ``position`` unique per row
``query``      yes       query id
``doc``        yes       document id
``position``   yes       1-based displayed position
``clicked``    yes       0/1 or true/false
``dwell_time`` no        seconds (Float)
``query_text`` no        query text (one value per query)
``url``        no        document URL
``title``      no        document title
``body``       no        document text
=============  ========  ==================================================================

Example: ``gbltr import impressions log.csv --map session=sid,query=qid,doc=url_id,clicked=click``.
Unmapped names are looked up under their own name. Rows with a null in a needed column are an
error naming the column and the row count.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gbltr.data.importers.base import Part, documents_frame, queries_frame
from gbltr.errors import ConfigError, DataError, InputError, ParseError
from gbltr.inputs import check_file, read_parquet
from gbltr.schema import IMPRESSIONS, validate

NEEDED = ("session", "query", "doc", "position", "clicked")
OPTIONAL = ("dwell_time", "query_text", "url", "title", "body")
TARGET = {"session": "session_id", "query": "query_id", "doc": "doc_id", "position": "position", "clicked": "clicked",
          "dwell_time": "dwell_time"}


def parse_map(items) -> dict[str, str]:
    """``["query=qid,doc=url", ...]`` -> ``{"query": "qid", "doc": "url"}``; unknown names are errors."""
    out = {}
    for item in items or ():
        for pair in str(item).split(","):
            if not pair.strip():
                continue
            name, sep, col = pair.partition("=")
            name = name.strip()
            if not sep or not col.strip():
                raise ConfigError(f"--map {pair!r}; expected NAME=COLUMN, e.g. query=qid")
            if name not in NEEDED + OPTIONAL:
                raise ConfigError(f"--map: unknown name {name!r}; choose one of: {', '.join(NEEDED + OPTIONAL)}")
            out[name] = col.strip()
    return out


def _load(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return read_parquet(path, "impressions file", expected="a Parquet table of impressions")
    try:
        if path.suffix in (".csv", ".tsv"):
            check_file(path, "impressions file", f"a {path.suffix[1:].upper()} table of impressions")
            return pl.read_csv(path, separator="\t" if path.suffix == ".tsv" else ",", infer_schema_length=10000)
    except InputError:
        raise
    except Exception as exc:  # polars raises several types for a broken file
        raise ParseError(f"{path}: could not read it as {path.suffix[1:]}: {exc}") from exc
    raise DataError(f"impressions: {path} has suffix {path.suffix!r}; expected .parquet, .csv or .tsv")


def read(paths: list[Path], options) -> Part:
    mapping = parse_map(options.get("map"))
    frames = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"impressions: {path} is not a file; expected a Parquet or CSV log")
        df = _load(path)
        cols = {name: mapping.get(name, name) for name in NEEDED + OPTIONAL}
        absent = [f"{n} (column {c!r})" for n, c in cols.items() if n in NEEDED and c not in df.columns]
        if absent:
            raise DataError(f"impressions {path}: missing {', '.join(absent)}; found columns {df.columns}; "
                            "map them with --map NAME=COLUMN")
        present = {n: c for n, c in cols.items() if c in df.columns}
        for n in NEEDED:
            nulls = df[present[n]].null_count()
            if nulls:
                raise DataError(f"impressions {path}: column {present[n]!r} ({n}) has {nulls} null value(s); expected none")
        clicked = df[present["clicked"]]
        if clicked.dtype == pl.String:
            low = clicked.str.to_lowercase()
            bad = ~low.is_in(["0", "1", "true", "false"])
            if bad.any():
                raise ParseError(f"impressions {path}: column {present['clicked']!r} has value {clicked.filter(bad)[0]!r}; "
                                 "expected 0/1 or true/false")
            df = df.with_columns(low.is_in(["1", "true"]).alias(present["clicked"]))
        frames.append((df, present))
    logs, qtexts, docs = [], [], []
    for df, present in frames:
        log = df.select([pl.col(c).alias(TARGET[n]) for n, c in present.items() if n in TARGET])
        logs.append(log.with_columns(pl.col("session_id", "query_id", "doc_id").cast(pl.String)))
        if "query_text" in present:
            qtexts.append(df.select(pl.col(present["query"]).cast(pl.String).alias("query_id"),
                                    pl.col(present["query_text"]).cast(pl.String).alias("text")).unique())
        dcols = [n for n in ("url", "title", "body") if n in present]
        if dcols:
            docs.append(df.select(pl.col(present["doc"]).cast(pl.String).alias("doc_id"),
                                  *[pl.col(present[n]).cast(pl.String).alias(n) for n in dcols]).unique())
    log = validate(pl.concat(logs, how="diagonal_relaxed"), IMPRESSIONS, where="impressions import")
    queries = pl.concat(qtexts).unique() if qtexts else queries_frame(log["query_id"].unique().sort().to_list())
    documents = (pl.concat(docs, how="diagonal_relaxed").unique() if docs else None)
    if documents is not None:
        documents = pl.concat([documents_frame([]), documents], how="diagonal_relaxed")
    else:
        documents = documents_frame(log["doc_id"].unique().sort().to_list())
    missing = {"labels.human": "an impression log has no human labels (merge qrels with --also qrels=FILE)",
               "features": "no precomputed features in an impression log"}
    return Part("impressions", [str(p) for p in paths], queries=queries, documents=documents, impressions=log,
                missing=missing, notes={"map": mapping})
