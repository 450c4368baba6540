"""Read and write TREC qrels in the ``labels`` contract.

TREC qrels format accepted: one judgement per line, four whitespace-separated fields::

    <query id> <iteration> <doc id> <relevance>
    301 0 FBIS3-10082 1

- The iteration field (usually ``0``) is ignored. Relevance is a number (integer or float,
  negative values such as ``-2`` for spam are kept as they are). Blank lines are skipped; any
  other line without exactly four fields is a :class:`ParseError` naming file, line and text.
- A (query, doc) pair judged twice is an error naming the pair and both line numbers (qrels
  must have one judgement per pair; merge them explicitly before loading). Nothing is
  silently overwritten.

The result is a Polars frame with the ``labels`` contract of :mod:`gbltr.schema`: query_id
(String), doc_id (String), label (Float64), source (String, the caller says which: "human",
"llm" or "click"), in file order. :func:`write_qrels` writes it back as ``qid 0 docno rel``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gbltr.data.trec import write_qrels_lines
from gbltr.inputs import read_lines
from gbltr.errors import ParseError, SchemaError, unknown_choice
from gbltr.schema import LABEL_SOURCES, LABELS, validate

__all__ = ["read_qrels", "write_qrels"]


def _check_source(source: str) -> None:
    if source not in LABEL_SOURCES:
        raise unknown_choice("label source", source, LABEL_SOURCES)


def read_qrels(path: str | Path, *, source: str) -> pl.DataFrame:
    """Read a TREC qrels file into a validated labels frame with ``source`` on every row.

    Raises :class:`ParseError` for a line without four fields or with a non-numeric relevance,
    and for a duplicate (query, doc) pair (naming both lines); :class:`~gbltr.errors.ConfigError`
    for an unknown ``source``.
    """
    _check_source(source)
    path = Path(path)
    df = read_lines(path, "qrels file", "TREC qrels lines '<query> <iteration> <doc> <relevance>'").with_columns(pl.col("text").str.extract_all(r"\S+").alias("tok"))
    bad = df.filter(pl.col("tok").list.len() != 4)
    if bad.height:
        r = bad.row(0, named=True)
        raise ParseError(
            f"{path}, line {r['line']}: expected 4 fields '<query> <iteration> <doc> <relevance>', "
            f"found {len(r['tok'])}: {r['text'].strip()[:80]!r}"
            + (f" ({bad.height - 1} more such line(s))" if bad.height > 1 else "")
        )
    df = df.select(
        "line",
        pl.col("tok").list.get(0).alias("query_id"),
        pl.col("tok").list.get(2).alias("doc_id"),
        pl.col("tok").list.get(3).alias("rel"),
    ).with_columns(pl.col("rel").cast(pl.Float64, strict=False).alias("label"))
    bad = df.filter(pl.col("label").is_null())
    if bad.height:
        r = bad.row(0, named=True)
        raise ParseError(
            f"{path}, line {r['line']}: expected a numeric relevance as the 4th field, found {r['rel']!r}"
        )
    dup = df.filter(pl.struct("query_id", "doc_id").is_duplicated())
    if dup.height:
        q, d = dup["query_id"][0], dup["doc_id"][0]
        at = dup.filter((pl.col("query_id") == q) & (pl.col("doc_id") == d))["line"].to_list()
        n_pairs = dup.select("query_id", "doc_id").n_unique()
        raise ParseError(
            f"{path}: {n_pairs} (query, doc) pair(s) judged more than once, e.g. query {q!r} doc {d!r} "
            f"on lines {', '.join(map(str, at))}; expected one judgement per pair "
            "(deduplicate or aggregate the file first)"
        )
    out = df.select("query_id", "doc_id", "label", pl.lit(source, dtype=pl.String).alias("source"))
    return validate(out, LABELS, where=str(path))


def write_qrels(labels: pl.DataFrame, path: str | Path) -> Path:
    """Write a labels frame as TREC qrels (``query_id 0 doc_id label``), in frame order.

    Integral labels are written as integers (``2``), others in shortest round-trip form.
    Raises :class:`SchemaError` when the frame breaks the labels contract, a label is null
    (qrels cannot say "missing": drop those rows) or an id is empty or contains whitespace
    (:mod:`gbltr.data.trec`, the one writer of TREC files, and its rule).
    """
    path = Path(path)
    df = validate(labels, LABELS, where=f"write_qrels({path})")
    n_null = df["label"].null_count()
    if n_null:
        raise SchemaError(
            f"write_qrels({path}): {n_null} null label(s); expected a number on every row "
            "(qrels cannot hold missing labels: drop those rows first)"
        )
    return write_qrels_lines(df, path)
