"""Query-document text features (:func:`text_features`): tokenize (:mod:`~gbltr.features.text.tokens`),
index (:mod:`~gbltr.features.text.index`), score (:mod:`~gbltr.features.text.scoring`) and match
(:mod:`~gbltr.features.text.match`), all as lazy Polars.
"""

from __future__ import annotations

import polars as pl

from gbltr.errors import DataError
from gbltr.features.text.index import build_vocabulary, index_tokens, tokenize_fields
from gbltr.features.text.match import _with_exact
from gbltr.features.text.scoring import TextParams, _attach_field, _field_aggregates
from gbltr.features.text.tokens import tokenize

#: The text fields of a document that are indexed and scored, in feature-name order.
TEXT_FIELDS = ("title", "body")
#: The per-field scores of :func:`text_features`; column ``f"{score}_{field}"``.
SCORES = ("bm25", "tfidf", "lm_dir", "lm_jm", "coverage", "exact", "bigram")


def text_features(
    queries: pl.DataFrame | pl.LazyFrame,
    documents: pl.DataFrame | pl.LazyFrame,
    pairs: pl.DataFrame | pl.LazyFrame,
    *,
    params: TextParams = TextParams(),
) -> pl.DataFrame:
    """Query-document text features of ``pairs`` (formulas in :mod:`gbltr.features.text.scoring`).

    Inputs: queries(query_id, text), documents(doc_id, title, body), pairs(query_id, doc_id), ids
    unique (see :func:`gbltr.features.build.build_features`, which validates them). Collection
    statistics come from all rows of ``documents``.
    Output: query_id, doc_id and for each field f of :data:`TEXT_FIELDS` the Float64 columns
    ``{score}_{f}`` for score in :data:`SCORES`; one row per pair, row order not defined.
    Raises :class:`~gbltr.errors.DataError` if a pair names an unknown query or document.
    """
    documents = documents.lazy()
    pairs = pairs.lazy().select("query_id", "doc_id").with_row_index("pair")
    doc_ix = documents.select("doc_id").with_row_index("doc_idx")
    qtok = (
        queries.lazy()
        .join(pairs.select("query_id").unique(), on="query_id", how="semi")
        .select("query_id", tokens=tokenize(pl.col("text")))
        .collect()
    )
    P = pairs.join(doc_ix, on="doc_id", how="left").join(
        qtok.lazy().select("query_id", known=pl.lit(True)), on="query_id", how="left"
    ).collect()
    unknown = P.filter(pl.col("doc_idx").is_null() | pl.col("known").is_null())
    if unknown.height:
        ex = unknown.row(0, named=True)
        raise DataError(
            f"pairs: {unknown.height} pair(s) name a query or document absent from the queries/documents "
            f"tables, e.g. (query_id={ex['query_id']!r}, doc_id={ex['doc_id']!r}); expected every pair's "
            "ids to exist (filter the pairs or pass the full tables)"
        )
    P = P.drop("known")

    vocab = build_vocabulary(qtok)
    qterms = (
        qtok.lazy()
        .select("query_id", term=pl.col("tokens"))
        .explode("term")
        .join(vocab.lazy(), on="term", how="inner")
        .group_by("query_id", "term_id")
        .agg(qtf=pl.len())
    )
    qbigrams = (
        qtok.lazy()
        .select("query_id", first=pl.col("tokens"), second=pl.col("tokens").list.shift(-1))
        .explode("first", "second")
        .drop_nulls("second")
        .join(vocab.lazy().rename({"term": "first", "term_id": "first_id"}), on="first")
        .join(vocab.lazy().rename({"term": "second", "term_id": "second_id"}), on="second")
        .select("query_id", "first_id", "second_id")
        .unique()
    )
    q_info = qtok.lazy().select(
        "query_id",
        q_len=pl.col("tokens").list.len(),
        q_phrase=" " + pl.col("tokens").list.join(" ") + " ",
    ).join(
        qbigrams.group_by("query_id").agg(n_bigrams=pl.len()), on="query_id", how="left"
    )
    pair_terms, pair_bigrams, qbigram_ids, q_info = pl.collect_all(
        [
            P.lazy().select("pair", "query_id", "doc_idx").join(qterms, on="query_id").drop("query_id"),
            P.lazy().select("pair", "query_id", "doc_idx").join(qbigrams, on="query_id").drop("query_id"),
            qbigrams.select("first_id", "second_id").unique(),
            q_info,
        ]
    )

    token_frames = tokenize_fields(documents, list(TEXT_FIELDS))
    indexes = [index_tokens(token_frames[f], f, vocab, qbigram_ids) for f in TEXT_FIELDS]
    # Both fields' statistics are joined onto the same (pair, query term) rows, then one group_by.
    scored = pair_terms
    aggs: list[pl.Expr] = []
    for index in indexes:
        scored = _attach_field(scored, index, vocab.height)
        aggs += _field_aggregates(index, params)
    out = (
        P.lazy()
        .join(q_info.lazy(), on="query_id", how="left")
        .join(scored.lazy().group_by("pair").agg(aggs), on="pair", how="left")
    )
    for index in indexes:
        out = out.join(
            pair_bigrams.lazy()
            .join(index.bigrams.lazy(), on=["doc_idx", "first_id", "second_id"], how="semi")
            .group_by("pair")
            .agg(pl.len().alias(f"_matched_{index.field}")),
            on="pair",
            how="left",
        )
    out = out.with_columns(
        [pl.col(f"{s}_{f}").fill_null(0.0) for f in TEXT_FIELDS for s in SCORES if s not in ("exact", "bigram")]
        + [
            (pl.col(f"_matched_{f}").fill_null(0) / pl.col("n_bigrams")).fill_null(0.0).alias(f"bigram_{f}")
            for f in TEXT_FIELDS
        ]
    ).collect()
    out = _with_exact(out, indexes)
    return out.select("query_id", "doc_id", *[f"{s}_{f}" for f in TEXT_FIELDS for s in SCORES])
