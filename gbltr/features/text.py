"""Tokenizer, inverted index and query-document text features, all as lazy Polars.

One tokenizer (:func:`tokenize`) is used everywhere in gbltr: lowercase, then keep maximal runs
of unicode letters and digits (regex ``[\\p{L}\\p{N}]+``); everything else (punctuation, ``_``,
whitespace) separates tokens. ``"Foo-bar_2 Straße"`` -> ``["foo", "bar", "2", "straße"]``.

Index (:func:`build_index`): one :class:`FieldIndex` per text field (``title``, ``body``), with
postings (doc_idx, term_id, tf), doc_lengths (doc_idx, length), term_stats (term_id, df, cf),
bigrams (doc_idx, first_id, second_id) and the scalars n_docs, total_length, avg_length.
``doc_idx`` is the row of the document, ``term_id`` the row of the term in the vocabulary
(:func:`build_vocabulary`: the distinct query tokens). It is built with lazy Polars (tokenize, explode,
map terms to ids through an Enum cast), then one numba pass over the hits counts tf and another
finds the query bigrams; each field is tokenized once.
Scoring is Polars too: explode query terms, join them to the pairs, look tf up in the document's
postings (numba), gather term statistics and lengths, and sum per pair. No Python loop touches rows.

Collection statistics (N, df, cf, |C|, avgdl) are computed from the documents table given to
:func:`build_index` / :func:`text_features`, not from the candidate pairs: pass the whole corpus
(or the same corpus at train and test time) for the statistics to mean the same thing.
Restricting postings to the query vocabulary keeps df/cf exact for those terms (they depend on the
term's own postings only) and makes indexing cheap.

Scores for a (query, document, field), summing over query tokens t with their query count qtf,
with tf = count of t in the field, dl = field length, N = documents, df/cf = document/collection
frequency of t in the field, |C| = total field tokens (see :class:`TextParams` for the constants):

* BM25, Lucene variant (Robertson et al. 1994, "Okapi at TREC-3"; Lucene >= 8 as described by
  Kamphuis et al. 2020, "Which BM25 do you mean?"):
  ``idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))`` with ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``.
  Identical to ``bm25s.BM25(method="lucene")``. ``rank_bm25.BM25Okapi`` differs: it multiplies
  by (k1 + 1) and uses ``idf = ln((N - df + 0.5) / (df + 0.5))`` floored at ``0.25 * mean idf``.
* TF-IDF (SMART ``ltn``; Salton & Buckley 1988): ``(1 + ln tf) * ln(N / df)`` for tf > 0, else 0.
* LM with Dirichlet smoothing (Zhai & Lafferty 2001, "A study of smoothing methods for language
  models applied to ad hoc IR"), the full query log-likelihood
  ``ln((tf + mu * p(t|C)) / (dl + mu))``.
* LM with Jelinek-Mercer smoothing (same paper), ``ln((1 - lambda) * tf / dl + lambda * p(t|C))``
  (``tf / dl`` taken as 0 for an empty field).

Query terms absent from the collection: the collection model is Lucene's
(``LMSimilarity.DefaultCollectionModel``) ``p(t|C) = (cf + 1) / (|C| + 1)``, so a term never seen
in the field still has probability ``1 / (|C| + 1) > 0`` and both LM scores stay finite; such a
term adds the same penalty to every document of equal length. BM25 and TF-IDF give it 0.
A query without tokens scores 0 on every feature.

Match features: ``coverage`` = distinct query terms present / distinct query terms;
``bigram`` = distinct ordered query bigrams occurring adjacently / distinct query bigrams (0 for
queries under two tokens); ``exact`` = 1.0 if the token sequence of the query occurs contiguously in
the field (single-token queries: the token occurs), else 0.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gbltr.errors import ConfigError, DataError

#: The token pattern of :func:`tokenize`: runs of unicode letters and digits.
TOKEN_PATTERN = r"[\p{L}\p{N}]+"
#: The text fields of a document that are indexed and scored, in feature-name order.
TEXT_FIELDS = ("title", "body")
#: The per-field scores of :func:`text_features`; column ``f"{score}_{field}"``.
SCORES = ("bm25", "tfidf", "lm_dir", "lm_jm", "coverage", "exact", "bigram")


def tokenize(text: pl.Expr) -> pl.Expr:
    """The gbltr tokenizer as a Polars expression: String -> List[String] (null -> [])."""
    return text.fill_null("").str.to_lowercase().str.extract_all(TOKEN_PATTERN)


def token_count(text: pl.Expr) -> pl.Expr:
    """Number of tokens :func:`tokenize` yields (UInt32), without building the token lists."""
    return text.fill_null("").str.to_lowercase().str.count_matches(TOKEN_PATTERN)


def tokenize_texts(texts: list[str]) -> list[list[str]]:
    """:func:`tokenize` applied to a Python list (for tests and for feeding other libraries)."""
    return pl.Series("text", texts, dtype=pl.String).to_frame().select(tokenize(pl.col("text")))["text"].to_list()


@dataclass(frozen=True)
class TextParams:
    """Constants of the text scores.

    k1, b: BM25 term-frequency saturation and length normalisation (Lucene defaults 1.2, 0.75).
    mu: Dirichlet prior (Zhai & Lafferty 2001 recommend ~2000). jm_lambda: weight of the
    collection model in Jelinek-Mercer smoothing (0.1 suits short queries, same paper).
    """

    k1: float = 1.2
    b: float = 0.75
    mu: float = 2000.0
    jm_lambda: float = 0.1

    def __post_init__(self) -> None:
        checks = [
            ("k1", self.k1 >= 0, ">= 0"),
            ("b", 0 <= self.b <= 1, "in [0, 1]"),
            ("mu", self.mu > 0, "> 0"),
            ("jm_lambda", 0 < self.jm_lambda <= 1, "in (0, 1]"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ConfigError(
                    f"text feature parameter {name}={getattr(self, name)!r}; expected {want}"
                )


@dataclass(frozen=True)
class FieldIndex:
    """Inverted index of one text field of a documents table, restricted to a vocabulary.

    ``doc_idx`` is the row number of the document in the documents table given to
    :func:`build_index`; ``term_id`` is the row of the term in the vocabulary frame (term, term_id).

    doc_lengths  doc_idx, length (UInt32)        tokens in the field; 0 for empty or null text
    postings     doc_idx, term_id, tf (UInt32)   vocabulary terms only
    term_stats   term_id, df, cf                 documents containing the term, total occurrences
    bigrams      doc_idx, first_id, second_id    distinct adjacent pairs among the indexed bigrams
    tokens       doc_idx, tokens (List[String])  the tokenized field (kept for phrase checks)
    n_docs, total_length, avg_length             over every row of the documents table
    """

    field: str
    n_docs: int
    total_length: float
    avg_length: float
    doc_lengths: pl.DataFrame
    postings: pl.DataFrame
    term_stats: pl.DataFrame
    bigrams: pl.DataFrame
    tokens: pl.DataFrame


_kernels = None


def _compile():
    """Compile on first use (keeps ``import gbltr.features.text`` cheap) the three index kernels.

    count(doc, term, V): (doc_idx, term_id) hits, each document's hits contiguous ->
    (doc_idx, term_id, tf) UInt32 arrays, grouped by document, terms in order of first occurrence.
    lookup(doc_ptr, post_term, post_tf, doc, term): tf of each (doc, term) row (0 if absent), with
    the postings grouped by document and ``doc_ptr[d]:doc_ptr[d + 1]`` the postings of document d.
    adjacent(g, doc, term, first_ptr, second): (doc_idx, j) for each distinct wanted bigram j found
    in a document as two consecutive hits (g = stream position, advancing by one in the same
    document); the wanted bigrams sorted by (first, second), ``first_ptr[f]:first_ptr[f + 1]`` those
    starting with term f and ``second`` their second term ids. Each document's hits contiguous.
    """
    global _kernels
    if _kernels is not None:
        return _kernels
    import numba

    @numba.njit(cache=True, nogil=True)
    def count(doc, term, n_terms):  # pragma: no cover - compiled
        n = doc.shape[0]
        out_doc = np.empty(n, np.uint32)
        out_term = np.empty(n, np.uint32)
        out_tf = np.empty(n, np.uint32)
        counts = np.zeros(n_terms, np.uint32)
        seen = np.empty(n_terms, np.uint32)  # distinct terms of the current document
        k = 0
        i = 0
        while i < n:
            d = doc[i]
            m = 0
            j = i
            while j < n and doc[j] == d:
                t = term[j]
                if counts[t] == 0:
                    seen[m] = t
                    m += 1
                counts[t] += 1
                j += 1
            for x in range(m):
                t = seen[x]
                out_doc[k] = d
                out_term[k] = t
                out_tf[k] = counts[t]
                counts[t] = 0
                k += 1
            i = j
        return out_doc[:k], out_term[:k], out_tf[:k]

    @numba.njit(cache=True, nogil=True)
    def lookup(doc_ptr, post_term, post_tf, doc, term):  # pragma: no cover - compiled
        out = np.zeros(doc.shape[0], np.uint32)
        for r in range(doc.shape[0]):
            t = term[r]
            for x in range(doc_ptr[doc[r]], doc_ptr[doc[r] + 1]):
                if post_term[x] == t:
                    out[r] = post_tf[x]
                    break
        return out

    @numba.njit(cache=True, nogil=True)
    def adjacent(g, doc, term, first_ptr, second):  # pragma: no cover - compiled
        seen_in = np.full(second.shape[0], -1, np.int64)  # last document where bigram j was found
        n = g.shape[0]
        out_doc = np.empty(max(n - 1, 0), np.uint32)
        out_j = np.empty(max(n - 1, 0), np.int64)
        k = 0
        for i in range(n - 1):
            if g[i + 1] != g[i] + 1 or doc[i + 1] != doc[i]:
                continue
            lo = first_ptr[term[i]]
            hi = first_ptr[term[i] + 1]
            if lo == hi:
                continue
            j = lo + np.searchsorted(second[lo:hi], term[i + 1])
            if j < hi and second[j] == term[i + 1] and seen_in[j] != doc[i]:
                seen_in[j] = doc[i]
                out_doc[k] = doc[i]
                out_j[k] = j
                k += 1
        return out_doc[:k], out_j[:k]

    _kernels = (count, lookup, adjacent)
    return _kernels


def build_vocabulary(token_lists: pl.LazyFrame | pl.DataFrame, column: str = "tokens") -> pl.DataFrame:
    """Distinct tokens of a List[String] column -> term, term_id (UInt32, 0..V-1, sorted by term)."""
    return (
        token_lists.lazy()
        .select(term=pl.col(column).explode())
        .drop_nulls()
        .unique()
        .sort("term")
        .with_row_index("term_id")
        .select("term", "term_id")
        .collect()
    )


def build_index(
    documents: pl.DataFrame | pl.LazyFrame,
    field: str,
    vocabulary: pl.DataFrame,
    bigrams: pl.DataFrame | None = None,
) -> FieldIndex:
    """Index ``documents[field]`` for the terms of ``vocabulary`` (term, term_id).

    ``bigrams`` (first_id, second_id): the ordered term pairs whose adjacent occurrences are indexed.
    Lazy plans, materialised at two points so that nothing runs twice: the token lists, and the
    vocabulary hits (exploded tokens mapped to ids); lengths, postings (tf counted per document in
    one numba pass) and bigrams derive from them. df/cf are exact for
    vocabulary terms: they depend only on the term's own postings.
    """
    return index_tokens(tokenize_fields(documents, [field])[field], field, vocabulary, bigrams)


def tokenize_fields(documents: pl.DataFrame | pl.LazyFrame, fields: list[str]) -> dict[str, pl.DataFrame]:
    """field -> token frame (doc_idx UInt32 = row number, tokens List[String]) by :func:`tokenize`.

    The regex tokenizer runs on one thread per expression, so the fields are cut into row slices
    (one per Polars thread) and all slices of all fields are tokenized in one ``collect_all``.
    """
    frame = documents.lazy().select(fields).collect()
    k = max(1, min(pl.thread_pool_size(), frame.height))
    step = max(1, -(-frame.height // k))
    parts = pl.collect_all(
        [frame.lazy().slice(i * step, step).select(tokens=tokenize(pl.col(f))) for f in fields for i in range(k)]
    )
    return {
        f: pl.concat(parts[j * k : (j + 1) * k], rechunk=False).with_row_index("doc_idx")
        for j, f in enumerate(fields)
    }


def index_tokens(
    token_frame: pl.DataFrame,
    field: str,
    vocabulary: pl.DataFrame,
    bigrams: pl.DataFrame | None = None,
) -> FieldIndex:
    """:func:`build_index` from already tokenized text: token_frame(doc_idx, tokens).

    ``doc_idx`` (UInt32) must be the row number (0..n-1, in order); ``tokens`` (List[String]) the
    output of :func:`tokenize`. For callers that hold tokens already (and for benchmarks that give
    every library the same pre-tokenized input).
    """
    # The vocabulary hits are materialised once, then lengths, postings and bigrams derive from
    # them (collect_all does not reliably share such subplans).
    docs = token_frame.lazy()
    doc_lengths = docs.select("doc_idx", length=pl.col("tokens").list.len().cast(pl.UInt32))
    if not vocabulary["term_id"].equals(pl.Series(range(vocabulary.height)), check_dtypes=False, check_names=False):
        raise DataError("vocabulary: expected term_id = 0..V-1 in row order, found another numbering; build it with build_vocabulary")
    n_terms = max(vocabulary.height, 1)
    # Occurrences of vocabulary terms; g = position in the exploded token stream (adjacency test).
    # Casting to an Enum of the vocabulary maps a term to its row (= term_id) and others to null.
    hits = (
        docs.explode("tokens")
        .with_row_index("g")
        .select("g", "doc_idx", term_id=pl.col("tokens").cast(pl.Enum(vocabulary["term"]), strict=False).to_physical())
        .drop_nulls("term_id")
        .collect()
        .lazy()
    )
    # Term frequencies: one pass over the hits with a dense per-document counter (numba); the hits
    # of a document are contiguous because the explode keeps row order. Sorting a doc*V+term key
    # and run-length encoding it gave the same postings ~8x slower.
    hit_frame = hits.collect()
    post_doc, post_term, post_tf = _compile()[0](
        hit_frame["doc_idx"].cast(pl.UInt32).to_numpy(), hit_frame["term_id"].cast(pl.UInt32).to_numpy(), n_terms
    )
    postings = pl.LazyFrame({"doc_idx": post_doc, "term_id": post_term, "tf": post_tf})
    if bigrams is None or bigrams.height == 0:
        found = pl.LazyFrame(schema={"doc_idx": pl.UInt32, "first_id": pl.UInt32, "second_id": pl.UInt32})
    else:
        # hits keep stream order, so the next hit is the next token iff g advances by one in the same doc
        wanted = bigrams.select(pl.col("first_id", "second_id").cast(pl.UInt32)).unique().sort("first_id", "second_id")
        first = wanted["first_id"].to_numpy()
        second = wanted["second_id"].to_numpy()
        first_ptr = np.searchsorted(first, np.arange(n_terms + 1, dtype=np.uint32), side="left")
        found_doc, found_j = _compile()[2](
            hit_frame["g"].cast(pl.UInt32).to_numpy(),
            hit_frame["doc_idx"].cast(pl.UInt32).to_numpy(),
            hit_frame["term_id"].cast(pl.UInt32).to_numpy(),
            first_ptr,
            second,
        )
        found = pl.LazyFrame({"doc_idx": found_doc, "first_id": first[found_j], "second_id": second[found_j]})
    doc_lengths, postings, found = pl.collect_all([doc_lengths, postings, found])
    term = postings["term_id"].to_numpy()
    term_stats = pl.DataFrame(
        {
            "term_id": np.arange(n_terms, dtype=np.uint32),
            "df": np.bincount(term, minlength=n_terms).astype(np.uint32),
            "cf": np.bincount(term, weights=postings["tf"].to_numpy(), minlength=n_terms).astype(np.uint32),
        }
    ).filter(pl.col("df") > 0)
    n_docs = doc_lengths.height
    total = float(doc_lengths["length"].sum())
    return FieldIndex(
        field=field,
        n_docs=n_docs,
        total_length=total,
        avg_length=total / n_docs if n_docs else 0.0,
        doc_lengths=doc_lengths,
        postings=postings,
        term_stats=term_stats,
        bigrams=found,
        tokens=token_frame,
    )


def text_features(
    queries: pl.DataFrame | pl.LazyFrame,
    documents: pl.DataFrame | pl.LazyFrame,
    pairs: pl.DataFrame | pl.LazyFrame,
    *,
    params: TextParams = TextParams(),
) -> pl.DataFrame:
    """Query-document text features of ``pairs`` (formulas in the module docstring).

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


def _attach_field(rows: pl.DataFrame, index: FieldIndex, n_vocab: int) -> pl.DataFrame:
    """rows(pair, doc_idx, term_id, qtf, ...) + tf_f, df_f, cf_f, len_f of field f (0 when absent).

    tf by scanning the document's postings (numba; ~80 per document, cheaper than hashing the
    whole postings table for a join); df, cf and the length by gathering from dense per-term and
    per-document arrays.
    """
    f = index.field
    n_terms = max(n_vocab, 1)
    dense = (
        pl.DataFrame({"term_id": pl.arange(0, n_terms, eager=True).cast(pl.UInt32)})
        .join(index.term_stats, on="term_id", how="left", maintain_order="left")
        .fill_null(0)
    )
    lengths = index.doc_lengths.sort("doc_idx")["length"]
    postings = index.postings
    if not postings["doc_idx"].is_sorted():
        postings = postings.sort("doc_idx")
    post_doc = postings["doc_idx"].cast(pl.UInt32).to_numpy()
    doc_ptr = np.searchsorted(post_doc, np.arange(index.n_docs + 1, dtype=np.uint32), side="left")
    tf = _compile()[1](
        doc_ptr,
        postings["term_id"].cast(pl.UInt32).to_numpy(),
        postings["tf"].cast(pl.UInt32).to_numpy(),
        rows["doc_idx"].cast(pl.UInt32).to_numpy(),
        rows["term_id"].cast(pl.UInt32).to_numpy(),
    )
    return rows.with_columns(
        pl.Series(f"tf_{f}", tf, dtype=pl.UInt32),
        pl.lit(dense["df"]).gather(pl.col("term_id")).alias(f"df_{f}"),
        pl.lit(dense["cf"]).gather(pl.col("term_id")).alias(f"cf_{f}"),
        pl.lit(lengths).gather(pl.col("doc_idx")).alias(f"len_{f}"),
    )


def _field_aggregates(index: FieldIndex, p: TextParams) -> list[pl.Expr]:
    """Per-pair sums over query terms: bm25_f, tfidf_f, lm_dir_f, lm_jm_f, coverage_f."""
    f = index.field
    tf, df, cf = (pl.col(f"{c}_{f}").cast(pl.Float64) for c in ("tf", "df", "cf"))
    qtf, dl = pl.col("qtf").cast(pl.Float64), pl.col(f"len_{f}").cast(pl.Float64)
    n, total, avgdl = float(index.n_docs), index.total_length, index.avg_length
    present = pl.col(f"tf_{f}") > 0
    idf = (1.0 + (n - df + 0.5) / (df + 0.5)).log()
    norm = dl / avgdl if avgdl > 0 else pl.lit(1.0)  # every field empty: no length to normalise
    bm25 = pl.when(present).then(qtf * idf * tf / (tf + p.k1 * (1.0 - p.b + p.b * norm))).otherwise(0.0)
    tfidf = pl.when(present).then(qtf * (1.0 + tf.log()) * (n / df).log()).otherwise(0.0)
    p_c = (cf + 1.0) / (total + 1.0)
    lm_dir = qtf * ((tf + p.mu * p_c) / (dl + p.mu)).log()
    p_ml = pl.when(dl > 0).then(tf / dl).otherwise(0.0)
    lm_jm = qtf * ((1.0 - p.jm_lambda) * p_ml + p.jm_lambda * p_c).log()
    return [
        bm25.sum().alias(f"bm25_{f}"),
        tfidf.sum().alias(f"tfidf_{f}"),
        lm_dir.sum().alias(f"lm_dir_{f}"),
        lm_jm.sum().alias(f"lm_jm_{f}"),
        (present.sum() / pl.len()).cast(pl.Float64).alias(f"coverage_{f}"),
    ]


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
