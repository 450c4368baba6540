"""The gbltr tokenizer.

One tokenizer (:func:`tokenize`) is used everywhere in gbltr: lowercase, then keep maximal runs
of unicode letters and digits (regex ``[\\p{L}\\p{N}]+``); everything else (punctuation, ``_``,
whitespace) separates tokens. ``"Foo-bar_2 Straße"`` -> ``["foo", "bar", "2", "straße"]``.
"""

from __future__ import annotations

import polars as pl

#: The token pattern of :func:`tokenize`: runs of unicode letters and digits.
TOKEN_PATTERN = r"[\p{L}\p{N}]+"


def tokenize(text: pl.Expr) -> pl.Expr:
    """The gbltr tokenizer as a Polars expression: String -> List[String] (null -> [])."""
    return text.fill_null("").str.to_lowercase().str.extract_all(TOKEN_PATTERN)


def token_count(text: pl.Expr) -> pl.Expr:
    """Number of tokens :func:`tokenize` yields (UInt32), without building the token lists."""
    return text.fill_null("").str.to_lowercase().str.count_matches(TOKEN_PATTERN)


def tokenize_texts(texts: list[str]) -> list[list[str]]:
    """:func:`tokenize` applied to a Python list (for tests and for feeding other libraries)."""
    return pl.Series("text", texts, dtype=pl.String).to_frame().select(tokenize(pl.col("text")))["text"].to_list()
