"""Match features of the text features.

Match features: ``coverage`` = distinct query terms present / distinct query terms;
``bigram`` = distinct ordered query bigrams occurring adjacently / distinct query bigrams (0 for
queries under two tokens); ``exact`` = 1.0 if the token sequence of the query occurs contiguously in
the field (single-token queries: the token occurs), else 0.0.
"""

from __future__ import annotations

import polars as pl

from gbltr.features.text.index import FieldIndex


def _with_exact(out: pl.DataFrame, indexes: list[FieldIndex]) -> pl.DataFrame:
    """Add exact_f: single-token queries from coverage; longer queries verified on the text.

    A query of two or more tokens can only occur as a phrase where all its bigrams occur
    (bigram_f == 1), so only those pairs get the literal substring test on the space-joined
    tokens (taken from the index, not re-tokenized).
    """
    single = pl.col("q_len") == 1
    for index in indexes:
        f = index.field
        todo = out.filter((pl.col("q_len") >= 2) & (pl.col(f"bigram_{f}") >= 1.0)).select(
            "pair", "doc_idx", "q_phrase"
        )
        phrases = index.tokens.join(todo.select(pl.col("doc_idx").unique()), on="doc_idx", how="semi").select(
            "doc_idx", d_phrase=" " + pl.col("tokens").list.join(" ") + " "
        )
        hits = todo.join(phrases, on="doc_idx", how="left").select(
            "pair", _hit=pl.col("d_phrase").str.contains(pl.col("q_phrase"), literal=True)
        )
        out = (
            out.join(hits, on="pair", how="left")
            .with_columns(
                pl.when(single)
                .then((pl.col(f"coverage_{f}") > 0).cast(pl.Float64))
                .otherwise(pl.col("_hit").fill_null(False).cast(pl.Float64))
                .alias(f"exact_{f}")
            )
            .drop("_hit")
        )
    return out
