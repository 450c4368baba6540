"""Query-document pairs with text: what the annotator labels.

Two sources:

* a gbltr dataset folder (:func:`pairs_from_dataset`): ``queries.parquet`` (query_id, text),
  ``documents.parquet`` (doc_id, title, body, url) and ``candidates.parquet`` (query_id, doc_id,
  rank, retrieval_score). The pairs are the candidates, in rank order; the document text is
  ``title`` and ``body`` joined by a blank line.
* a pairs file (:func:`read_pairs`) with columns ``query_id, query, doc_id, text`` and optionally
  ``rank``; accepted forms, by extension: ``.parquet``; ``.jsonl`` / ``.ndjson`` (one JSON object
  per line); ``.tsv`` (tab-separated with a header row, no quoting); ``.csv`` (with a header row).

The result is a frame ``query_id, query, doc_id, text, rank`` (ids as ``pl.String``), sorted by
query (first-appearance order) and rank; ``rank`` is the row order within the query when absent.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from gbltr.errors import DataError, InputError, SchemaError
from gbltr.inputs import read_parquet, read_text
from gbltr.schema import CANDIDATES, DOCUMENTS, QUERIES, validate

PAIR_COLUMNS = ("query_id", "query", "doc_id", "text")
PAIR_FORMATS = (".parquet", ".jsonl", ".ndjson", ".tsv", ".csv")


def _finish(df: pl.DataFrame, where: str) -> pl.DataFrame:
    missing = [c for c in PAIR_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"pairs in {where}: missing column(s) {missing}; expected {list(PAIR_COLUMNS)} [+ rank], found {df.columns}")
    df = df.with_columns(
        pl.col("query_id").cast(pl.String), pl.col("doc_id").cast(pl.String),
        pl.col("query").cast(pl.String), pl.col("text").cast(pl.String).fill_null(""),
    )
    for c in ("query_id", "doc_id", "query"):
        if df[c].null_count():
            raise SchemaError(f"pairs in {where}: column {c!r} has {df[c].null_count()} null value(s); expected none")
    if "rank" not in df.columns:
        df = df.with_columns(pl.int_range(1, pl.len() + 1).over("query_id").cast(pl.Int32).alias("rank"))
    dup = df.group_by("query_id", "doc_id").len().filter(pl.col("len") > 1)
    if dup.height:
        raise SchemaError(f"pairs in {where}: {dup.height} duplicate (query_id, doc_id) pair(s), e.g. {dup.row(0)[:2]}; expected each pair once")
    order = df.select("query_id").unique(maintain_order=True).with_row_index("_q")
    return (
        df.join(order, on="query_id").sort("_q", "rank", maintain_order=True).drop("_q")
        .select("query_id", "query", "doc_id", "text", pl.col("rank").cast(pl.Int32))
    )


def read_pairs(path: str | Path) -> pl.DataFrame:
    """Read a pairs file (Parquet, JSONL, TSV or CSV; see the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    expected = "pairs with columns query_id, query, doc_id, text [, rank]"
    if suffix == ".parquet":
        df = read_parquet(path, "pairs file", expected=f"a Parquet table of {expected}")
    elif suffix in (".jsonl", ".ndjson", ".tsv", ".csv"):
        kind = {".tsv": "TSV", ".csv": "CSV"}.get(suffix, "JSON lines")
        data = read_text(path, "pairs file", f"{kind} {expected}").encode()
        try:
            if kind == "JSON lines":
                df = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
            else:
                df = pl.read_csv(io.BytesIO(data), separator="\t" if kind == "TSV" else ",",
                                 quote_char=None if kind == "TSV" else '"', infer_schema=False)
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"pairs file {str(path)!r}: expected {kind} {expected}, found text that does not parse: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc
    else:
        raise DataError(f"pairs file {path}: unknown extension {suffix!r}; expected one of {PAIR_FORMATS}")
    if "rank" in df.columns:
        df = df.with_columns(pl.col("rank").cast(pl.Int32, strict=False))
    return _finish(df, str(path))


def pairs_from_dataset(folder: str | Path) -> pl.DataFrame:
    """Pairs from a dataset folder's candidates, queries and documents (module docstring)."""
    folder = Path(folder)
    tables = {}
    for name, contract in (("queries", QUERIES), ("documents", DOCUMENTS), ("candidates", CANDIDATES)):
        p = folder / f"{name}.parquet"
        if not p.exists():
            raise DataError(f"dataset folder {folder}: missing {name}.parquet; expected queries, documents and candidates tables")
        tables[name] = validate(read_parquet(p, "dataset table"), contract, where=str(p))
    docs = tables["documents"].select(
        "doc_id",
        pl.concat_str([pl.col("title").fill_null(""), pl.col("body").fill_null("")], separator="\n\n").str.strip_chars().alias("text"),
    )
    df = (
        tables["candidates"].select("query_id", "doc_id", "rank")
        .join(tables["queries"].select("query_id", pl.col("text").alias("query")), on="query_id", how="left")
        .join(docs, on="doc_id", how="left")
    )
    lost = df.filter(pl.col("query").is_null() | pl.col("text").is_null())
    if lost.height:
        raise DataError(f"dataset folder {folder}: {lost.height} candidate(s) whose query or document is missing, e.g. {lost.row(0)[:2]}; expected every candidate to join")
    if df.height and (df["text"] == "").all():
        raise DataError(f"dataset folder {folder}: no candidate document has a title or body; expected document "
                        "text for an LLM to judge (an imported log carries ids only: add the text with "
                        "--also corpus=FILE when importing)")
    return _finish(df, str(folder))


def limit_queries(pairs: pl.DataFrame, n: int | None) -> pl.DataFrame:
    """The pairs of the first ``n`` queries (in order of first appearance)."""
    if n is None:
        return pairs
    keep = pairs["query_id"].unique(maintain_order=True).head(n)
    return pairs.filter(pl.col("query_id").is_in(keep.implode()))
