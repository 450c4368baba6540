"""Benchmark: gbltr's Polars text features against rank_bm25 and bm25s on the same pairs.

Synthetic corpus: a Zipfian vocabulary (token ``t<rank>``, P(rank) ~ 1 / rank^1.1), documents of
50-300 body tokens and 3-12 title tokens, queries of 1-4 tokens drawn from the same law, and
uniformly drawn candidate documents per query. Default: 200k documents, 10k queries x 100
candidates = 1M pairs; ``--quick``: 20k documents, 2k queries x 100 = 200k pairs.

Timed (tokenization by gbltr's Polars tokenizer; where input is "pre-tokenized" it is done untimed):

* gbltr end to end: :func:`gbltr.features.text.text_features` from raw text (tokenize, index and
  BM25, TF-IDF, LM-Dirichlet, LM-JM, coverage, bigram and exact match on title *and* body).
* gbltr BM25 only: ``index_tokens`` on the pre-tokenized body (a List[String] column) + the BM25
  aggregate of :func:`text_features` on the candidate pairs (same internal functions).
* bm25s (``method="lucene"``, float64): index from the pre-tokenized body (Python lists), then
  ``get_scores_from_ids`` per query (all documents) and a gather of the candidates' scores.
* rank_bm25 (``BM25Okapi``, same k1/b): index on the *whole* pre-tokenized corpus (measured), then
  ``get_batch_scores`` on every query's real candidates: nothing extrapolated by default. With
  ``--rank-bm25-queries N``, N evenly spread queries are scored and the time scaled by query count
  (still against the full-size index: ``get_batch_scores`` converts the whole ``doc_len`` list to
  an array per call, so its cost grows with the corpus and a smaller corpus would understate it).

Ratios printed per competitor: end to end (gbltr from raw text with 14 features; competitor
pre-tokenized, BM25 only), from raw text for both (the Polars tokenize time added to the
competitor's), and apples to apples (BM25 on the body, pre-tokenized for all three, index + score
of the candidate pairs). Timings on a shared machine are noisy: compare ratios from the same run.

Correctness: gbltr's bm25_body (both paths) must equal bm25s lucene to 1e-6 on every pair (checked here).
gbltr is warmed up on a tiny input first (numba kernels are compiled once per install, then
cached). Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl

from gbltr.features.text import TEXT_FIELDS, TextParams, build_index, build_vocabulary, text_features, tokenize


def zipf_tokens(rng: np.random.Generator, n: int, vocab: int, s: float = 1.1) -> np.ndarray:
    """``n`` token ranks (0-based) drawn with P(rank r) ~ 1 / (r + 1)^s."""
    p = 1.0 / np.arange(1, vocab + 1) ** s
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n)), vocab - 1)


def _texts(rng: np.random.Generator, lengths: np.ndarray, vocab: int) -> pl.Series:
    """One space-joined text of ``t<rank>`` tokens per entry of ``lengths``."""
    ids = zipf_tokens(rng, int(lengths.sum()), vocab)
    doc = np.repeat(np.arange(len(lengths)), lengths)
    frame = pl.DataFrame({"doc": doc, "tok": ids}).with_columns(tok="t" + pl.col("tok").cast(pl.String))
    joined = frame.group_by("doc", maintain_order=True).agg(pl.col("tok").str.join(" "))
    # every length is >= 1, so every doc index is present, in order
    return joined["tok"]


def make_corpus(n_docs: int, n_queries: int, per_query: int, vocab: int = 100_000, seed: int = 0):
    """Return (queries, documents, pairs) frames following gbltr.schema."""
    rng = np.random.default_rng(seed)
    body = _texts(rng, rng.integers(50, 301, n_docs), vocab)
    title = _texts(rng, rng.integers(3, 13, n_docs), vocab)
    documents = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(n_docs)],
            "title": title,
            "body": body,
            "url": [f"https://site{i % 500}.example/p/{i}" for i in range(n_docs)],
        }
    )
    qtext = _texts(rng, rng.integers(1, 5, n_queries), vocab)
    queries = pl.DataFrame({"query_id": [f"q{i}" for i in range(n_queries)], "text": qtext})
    cand = np.stack([rng.choice(n_docs, per_query, replace=False) for _ in range(n_queries)])
    pairs = pl.DataFrame(
        {
            "query_id": np.repeat(queries["query_id"].to_numpy(), per_query),
            "doc_id": documents["doc_id"].to_numpy()[cand.ravel()],
        }
    )
    return queries, documents, pairs


def tokens_of(frame: pl.DataFrame, column: str) -> list[list[str]]:
    return frame.select(tokenize(pl.col(column)))[column].to_list()


def bench_gbltr(queries, documents, pairs, params):
    t0 = time.perf_counter()
    feats = text_features(queries, documents, pairs, params=params)
    return time.perf_counter() - t0, feats


def bench_bm25s(queries, documents, pairs, params):
    import bm25s

    doc_tokens = tokens_of(documents, "body")
    q_tokens = dict(zip(queries["query_id"].to_list(), tokens_of(queries, "text")))
    doc_pos = {d: i for i, d in enumerate(documents["doc_id"].to_list())}
    grouped = pairs.group_by("query_id", maintain_order=True).agg("doc_id")
    t0 = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=params.k1, b=params.b, dtype="float64")
    retriever.index(doc_tokens, show_progress=False)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    vocab = retriever.vocab_dict
    out_q, out_d, out_s = [], [], []
    for qid, dids in grouped.iter_rows():
        ids = [vocab[t] for t in q_tokens[qid] if t in vocab]
        rows = np.fromiter((doc_pos[d] for d in dids), dtype=np.int64, count=len(dids))
        scores = retriever.get_scores_from_ids(ids)[rows] if ids else np.zeros(len(dids))
        out_q.extend([qid] * len(dids))
        out_d.extend(dids)
        out_s.append(scores)
    t_score = time.perf_counter() - t0
    frame = pl.DataFrame({"query_id": out_q, "doc_id": out_d, "bm25s": np.concatenate(out_s)})
    return t_index, t_score, frame


def bench_rank_bm25(queries, documents, pairs, params, n_queries_scored: int | None):
    """rank_bm25 indexed on the whole corpus (pre-tokenized, untimed tokenization), then
    ``get_batch_scores`` on the real candidates of ``n_queries_scored`` evenly spread queries
    (None: all). Returns (t_index, t_score_measured, queries scored, t_score for all queries).

    Scoring is extrapolated by query count only (every query has the same number of candidates,
    and each call's cost is measured on the full-size index: ``get_batch_scores`` converts the
    whole ``doc_len`` list to an array per call, so its cost grows with the corpus).
    """
    from rank_bm25 import BM25Okapi

    doc_tokens = tokens_of(documents, "body")
    t0 = time.perf_counter()
    model = BM25Okapi(doc_tokens, k1=params.k1, b=params.b)
    t_index = time.perf_counter() - t0
    q_tokens = dict(zip(queries["query_id"].to_list(), tokens_of(queries, "text")))
    doc_pos = {d: i for i, d in enumerate(documents["doc_id"].to_list())}
    grouped = pairs.group_by("query_id", maintain_order=True).agg("doc_id")
    if n_queries_scored is not None and n_queries_scored < grouped.height:
        grouped = grouped.gather_every(grouped.height // n_queries_scored).head(n_queries_scored)
    work = [(q_tokens[qid], [doc_pos[d] for d in dids]) for qid, dids in grouped.iter_rows()]
    t0 = time.perf_counter()
    for tokens, rows in work:
        model.get_batch_scores(tokens, rows)
    t_score = time.perf_counter() - t0
    n_all = pairs["query_id"].n_unique()
    return t_index, t_score, len(work), t_score * n_all / len(work)


def bench_gbltr_bm25_only(queries, documents, pairs, params):
    """gbltr's index + BM25 machinery on the body field only, from pre-tokenized input (untimed).

    Same code as :func:`text_features` (index_tokens, then the per-field join and the BM25
    aggregate), restricted to what bm25s and rank_bm25 compute: one field, one score.
    """
    from gbltr.features.text import index_tokens
    from gbltr.features.text.scoring import _attach_field, _field_aggregates

    doc_tokens = documents.select(tokens=tokenize(pl.col("body"))).with_row_index("doc_idx")
    qtok = queries.select("query_id", tokens=tokenize(pl.col("text")))
    doc_ix = documents.select("doc_id").with_row_index("doc_idx")
    t0 = time.perf_counter()
    vocab = build_vocabulary(qtok)
    index = index_tokens(doc_tokens, "body", vocab)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    qterms = (
        qtok.lazy().select("query_id", term="tokens").explode("term")
        .join(vocab.lazy(), on="term").group_by("query_id", "term_id").agg(qtf=pl.len())
    )
    rows = pairs.lazy().with_row_index("pair").join(doc_ix.lazy(), on="doc_id").join(qterms, on="query_id").collect()
    scored = (
        _attach_field(rows, index, vocab.height).lazy()
        .group_by("pair").agg(_field_aggregates(index, params)[0])
    )
    out = (
        pairs.lazy().with_row_index("pair").join(scored, on="pair", how="left")
        .select("query_id", "doc_id", pl.col("bm25_body").fill_null(0.0))
        .collect()
    )
    return t_index, time.perf_counter() - t0, out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20k docs, 2k queries x 100 (200k pairs)")
    ap.add_argument("--skip-rank-bm25", action="store_true")
    ap.add_argument("--rank-bm25-queries", type=int, default=None,
                    help="score rank_bm25 on this many queries (full index) and extrapolate by query "
                         "count; default: all queries (~1.5 min of rank_bm25 scoring on the full run)")
    args = ap.parse_args(argv)
    n_docs, n_queries, per_query = (20_000, 2_000, 100) if args.quick else (200_000, 10_000, 100)
    params = TextParams()
    t0 = time.perf_counter()
    queries, documents, pairs = make_corpus(n_docs, n_queries, per_query)
    print(f"corpus: {n_docs} docs, {n_queries} queries x {per_query} = {pairs.height} pairs "
          f"(generated in {time.perf_counter() - t0:.1f}s)")

    # untimed warm-up on a tiny slice: loads (first run ever: compiles) the numba kernels
    warm = queries.head(20).select("query_id").join(documents.head(200).select("doc_id"), how="cross")
    text_features(queries.head(20), documents.head(200), warm, params=params)
    t_gbltr, feats = bench_gbltr(queries, documents, pairs, params)
    print(f"gbltr   text_features (14 features, title+body, index included): {t_gbltr:8.2f}s "
          f"({pairs.height / t_gbltr / 1e6:.2f} M pairs/s)")
    # the indexing share, timed separately with the same public functions text_features calls
    t0 = time.perf_counter()
    vocab = build_vocabulary(queries.select(tokens=tokenize(pl.col("text"))))
    for field in TEXT_FIELDS:
        build_index(documents, field, vocab)
    t_gindex = time.perf_counter() - t0
    print(f"gbltr   of which indexing title+body (separate run, no bigrams): {t_gindex:6.2f}s -> "
          f"scoring share ~ {t_gbltr - t_gindex:.2f}s (difference of two runs)")

    # bm25s and rank_bm25 get the corpus pre-tokenized (by gbltr's tokenizer, untimed), gbltr
    # tokenizes inside its timing: the Polars tokenize time is added to theirs for "from raw text".
    t0 = time.perf_counter()
    documents.select(tokenize(pl.col("body")))
    queries.select(tokenize(pl.col("text")))
    t_tok = time.perf_counter() - t0
    print(f"tokenize body + queries (Polars, gbltr's tokenizer; bm25s/rank_bm25 get tokens untimed): {t_tok:6.2f}s")

    t_gi, t_gs, g_only = bench_gbltr_bm25_only(queries, documents, pairs, params)
    t_gbm25 = t_gi + t_gs
    print(f"gbltr   BM25 body only, pre-tokenized: index {t_gi:6.2f}s + score {t_gs:6.2f}s = {t_gbm25:8.2f}s")

    t_bi, t_bs, ref = bench_bm25s(queries, documents, pairs, params)
    t_bm25s = t_bi + t_bs
    print(f"bm25s   BM25 body only, pre-tokenized: index {t_bi:6.2f}s + score {t_bs:6.2f}s = {t_bm25s:8.2f}s "
          "(lucene, float64; get_scores over all docs per query, then a gather of the candidates)")

    for name, frame, col in (("text_features bm25_body", feats, "bm25_body"), ("BM25-only path", g_only, "bm25_body")):
        joined = frame.join(ref, on=["query_id", "doc_id"], how="inner")
        max_diff = float((joined[col] - joined["bm25s"]).abs().max())
        if joined.height != pairs.height or not max_diff <= 1e-6:
            raise SystemExit(f"MISMATCH vs bm25s ({name}): {joined.height}/{pairs.height} pairs, max |diff| {max_diff}")
        print(f"check   gbltr {name} == bm25s lucene on all {joined.height} pairs: max |diff| = {max_diff:.2e}")

    result = {
        "pairs": pairs.height,
        "docs": n_docs,
        "gbltr_s": round(t_gbltr, 3),
        "gbltr_index_s": round(t_gindex, 3),
        "gbltr_bm25_only_s": round(t_gbm25, 3),
        "gbltr_bm25_only_index_s": round(t_gi, 3),
        "bm25s_s": round(t_bm25s, 3),
        "bm25s_index_s": round(t_bi, 3),
        "bm25s_score_s": round(t_bs, 3),
        "tokenize_s": round(t_tok, 3),
        "max_abs_diff_vs_bm25s": max_diff,
    }
    ratios = {"bm25s": t_bm25s}
    if not args.skip_rank_bm25:
        n_rq = args.rank_bm25_queries
        r_index, r_score, r_nq, r_score_all = bench_rank_bm25(queries, documents, pairs, params, n_rq)
        t_rank = r_index + r_score_all
        how = "all queries measured" if r_nq == n_queries else f"measured on {r_nq} queries, x{n_queries / r_nq:.0f} by query count"
        print(f"rank_bm25 BM25Okapi body only, pre-tokenized, full {n_docs}-doc index: index {r_index:6.2f}s (measured) "
              f"+ score {r_score_all:6.2f}s ({how}) = {t_rank:8.2f}s")
        result.update(rank_bm25_s=round(t_rank, 3), rank_bm25_index_s=round(r_index, 3),
                      rank_bm25_score_s=round(r_score_all, 3), rank_bm25_queries_measured=r_nq)
        ratios["rank_bm25"] = t_rank
    for name, t in ratios.items():
        e2e, raw, a2a = t / t_gbltr, (t + t_tok) / t_gbltr, t / t_gbm25
        print(f"ratio   {name:9s} / gbltr: end to end {e2e:6.2f}x (gbltr: raw text, 14 features x 2 fields; "
              f"{name}: pre-tokenized body, BM25)   from raw text for both (+tokenize) {raw:6.2f}x   "
              f"APPLES TO APPLES (BM25 body, pre-tokenized, index + score) {a2a:6.2f}x")
        result.update({f"speedup_vs_{name}": round(e2e, 2), f"speedup_vs_{name}_from_raw_text": round(raw, 2),
                       f"speedup_vs_{name}_bm25_only": round(a2a, 2)})
    print("RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
