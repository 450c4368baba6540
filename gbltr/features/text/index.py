"""Inverted index of a text field.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from gbltr.errors import DataError
from gbltr.features.text.tokens import tokenize


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


def kernels():
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
    post_doc, post_term, post_tf = kernels()[0](
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
        found_doc, found_j = kernels()[2](
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
