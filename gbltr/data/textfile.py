"""Reading line-oriented text formats (SVMlight/LETOR, TREC qrels) with line numbers for errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gbltr.errors import ParseError


def read_lines(path: Path) -> pl.DataFrame:
    """Non-blank, non-comment lines with their 1-based line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(f"{path}: expected UTF-8 text, found undecodable bytes at offset {e.start}") from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    df = pl.DataFrame({"text": lines}, schema={"text": pl.String}).with_row_index("line", offset=1)
    df = df.with_columns(pl.col("text").str.strip_chars_end("\r"))
    stripped = pl.col("text").str.strip_chars()
    return df.filter((stripped != "") & ~stripped.str.starts_with("#"))
