"""The one writer of TREC text files: run files and qrels.

Formats written (one record per line, fields separated by one space, ``\\n`` line ends, UTF-8)::

    run file   <query id> Q0 <doc id> <rank> <score> <tag>      (trec_eval's "results" format)
    qrels      <query id> 0 <doc id> <relevance>

Every TREC reader (trec_eval, ir_measures / pytrec_eval, gbltr's own ``--run-file`` and qrels
readers) splits a line on whitespace. So the rule for the text fields (query id, doc id, tag) is:
**written as they are, and refused unless non-empty and free of whitespace** (spaces, tabs, line
breaks, any Unicode space). There is no escaping: no TREC reader would undo it, so an escaped id
would silently become another id. The refusal (:class:`~gbltr.errors.SchemaError`) names the field,
the offending value, how many values break the rule and the file that was to be written; nothing
is written then. Callers check what they know early (:func:`check_token` for a ``--tag`` at the
command line, :func:`check_ids` for ids before expensive work) with the same rule.

Files are written through :func:`gbltr.folders.write_file`: a temporary sibling renamed into place
(a reader sees the old file or the whole new one), a failed write one :class:`~gbltr.errors.WriteError`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gbltr.errors import SchemaError
from gbltr.folders import write_file

__all__ = ["RULE", "check_ids", "check_token", "number_text", "write_qrels_lines", "write_run_lines"]

RULE = "a non-empty value without whitespace (TREC readers split lines on whitespace)"
_BAD = r"(?s)\s|^$"


def check_token(value: str, field: str, where: str = "") -> str:
    """Return ``value`` if it may be a field of a TREC line (:data:`RULE`); else a SchemaError naming it."""
    text = str(value)
    if text == "" or any(ch.isspace() for ch in text):
        raise SchemaError(
            f"{field} {text!r} cannot be written to a TREC file{f' ({where})' if where else ''}: expected {RULE}. "
            "Rename it (e.g. replace spaces with '_')"
        )
    return text


def check_ids(frame: pl.DataFrame, where: str = "", columns=("query_id", "doc_id")) -> None:
    """Refuse a frame whose id columns hold a value TREC files cannot carry (:data:`RULE`)."""
    for col in columns:
        values = frame[col].cast(pl.String)
        bad = values.filter(values.is_null() | values.str.contains(_BAD))
        if bad.len():
            first = bad[0]
            raise SchemaError(
                f"{col} {first!r} cannot be written to a TREC file{f' ({where})' if where else ''}: expected {RULE}; "
                f"found {bad.len()} such value(s). Rename those ids (e.g. replace spaces with '_'), or leave out "
                "the TREC output"
            )


def _write(path: Path, lines: pl.Series, what: str) -> Path:
    text = "\n".join(lines.to_list()) + "\n" if lines.len() else ""
    return write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"), what=what)


def number_text(expr: pl.Expr) -> pl.Expr:
    """Integral floats as ``2`` rather than ``2.0``; others in shortest round-trip form."""
    return (
        pl.when(expr.is_finite() & (expr == expr.round(0)) & (expr.abs() < 1e15))
        .then(expr.cast(pl.Int64).cast(pl.String))
        .otherwise(expr.cast(pl.String))
    )


def write_run_lines(frame: pl.DataFrame, path: str | Path, tag: str) -> Path:
    """Write ``frame`` (query_id, doc_id, rank, score; in frame order) as a TREC run file tagged ``tag``.

    Scores are written with 9 significant digits (``%.9g``). Raises SchemaError for an id or a tag
    that breaks :data:`RULE`, or for a non-finite score, before anything is written."""
    path = Path(path)
    where = str(path)
    check_token(tag, "run tag", where)
    check_ids(frame, where)
    score = frame["score"].cast(pl.Float64)
    if not score.is_finite().all():
        raise SchemaError(f"run file {path}: {int((~score.is_finite()).sum())} score(s) are NaN/inf; expected "
                          "finite scores (trec_eval cannot sort them)")
    lines = pl.Series([f"{q} Q0 {d} {r} {s:.9g} {tag}" for q, d, r, s in
                       frame.select("query_id", "doc_id", "rank", "score").iter_rows()], dtype=pl.String)
    return _write(path, lines, "TREC run file")


def write_qrels_lines(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` (query_id, doc_id, label: Float64, no nulls; in frame order) as TREC qrels
    ``query_id 0 doc_id label``; integral labels as integers. SchemaError for an id breaking :data:`RULE`."""
    path = Path(path)
    check_ids(frame, str(path))
    lines = frame.select(
        pl.concat_str([pl.col("query_id"), pl.lit("0"), pl.col("doc_id"), number_text(pl.col("label"))], separator=" ")
    ).to_series()
    return _write(path, lines, "qrels file")
