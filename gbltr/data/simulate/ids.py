"""Identifiers of the simulated world: a prefix and a zero-padded index (``q00042``,
``d0001234``, ``s00000007``), built as Polars strings with no per-row Python objects."""

from __future__ import annotations

import numpy as np
import polars as pl


def _id_strings(prefix: str, index: np.ndarray, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``index`` (``f"{prefix}{i:0{width}d}"``) as a Polars String."""
    return prefix + pl.Series(index).cast(pl.Int64).cast(pl.String).str.zfill(width)


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``0 .. n-1`` (``f"{prefix}{i:0{width}d}"``) as a Polars String."""
    return prefix + pl.int_range(n, dtype=pl.Int64, eager=True).cast(pl.String).str.zfill(width)

