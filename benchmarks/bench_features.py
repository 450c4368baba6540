"""Benchmark: gbltr's Polars text features against rank_bm25 and bm25s on the same pairs.

Synthetic corpus: a Zipfian vocabulary (token ``t<rank>``, P(rank) ~ 1 / rank^1.1), documents of
50-300 body tokens and 3-12 title tokens, queries of 1-4 tokens drawn from the same law, and
uniformly drawn candidate documents per query. Default: 200k documents, 10k queries x 100
candidates = 1M pairs; ``--quick``: 20k documents, 2k queries x 100 = 200k pairs.

Timed, on the body field:

* gbltr: :func:`gbltr.features.text.text_features` (index + BM25, TF-IDF, LM-Dirichlet, LM-JM,
  coverage, bigram and exact match on title *and* body), all pairs, one collect.
* bm25s (``method="lucene"``, float64): index from the same tokens, then ``get_scores`` per query and
  a gather of the candidates' scores. bm25s only computes BM25, so it does less work.
* rank_bm25 (``BM25Okapi``, k1/b set to the same values): pure Python and slow, so it is timed on a
  subsample (a smaller corpus and a few queries) and extrapolated linearly per document (index) and
  per pair (scoring); the output says so.

Ratios printed: end to end (competitors get pre-tokenized input, untimed), "from raw text" (gbltr's
Polars tokenize time added to theirs), and "scoring only" (gbltr's share = its total minus a separate
run of build_index on title and body; an estimate from two runs, not a direct timing).
Timings on a shared machine are noisy: compare ratios from the same run.

Correctness: gbltr's bm25_body must equal bm25s lucene to 1e-6 on every pair (checked here).
Last line: ``RESULT {json}``.
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


def bench_rank_bm25(queries, documents, pairs, params, n_docs_sub: int, n_queries_sub: int):
    """rank_bm25 on the first ``n_docs_sub`` documents; pairs of a few queries restricted to them."""
    from rank_bm25 import BM25Okapi

    sub_docs = documents.head(n_docs_sub)
    doc_tokens = tokens_of(sub_docs, "body")
    t0 = time.perf_counter()
    model = BM25Okapi(doc_tokens, k1=params.k1, b=params.b)
    t_index = time.perf_counter() - t0
    q_tokens = dict(zip(queries["query_id"].to_list(), tokens_of(queries, "text")))
    doc_pos = {d: i for i, d in enumerate(sub_docs["doc_id"].to_list())}
    # same number of candidates per query as the full run, drawn from the subsample
    per_query = pairs.height // queries.height
    rng = np.random.default_rng(1)
    qids = queries["query_id"].head(n_queries_sub).to_list()
    t0 = time.perf_counter()
    n_pairs = 0
    for qid in qids:
        rows = rng.choice(len(doc_pos), per_query, replace=False).tolist()
        model.get_batch_scores(q_tokens[qid], rows)
        n_pairs += len(rows)
    t_score = time.perf_counter() - t0
    return t_index / n_docs_sub, t_score / n_pairs


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20k docs, 2k queries x 100 (200k pairs)")
    ap.add_argument("--skip-rank-bm25", action="store_true")
    args = ap.parse_args(argv)
    n_docs, n_queries, per_query = (20_000, 2_000, 100) if args.quick else (200_000, 10_000, 100)
    params = TextParams()
    t0 = time.perf_counter()
    queries, documents, pairs = make_corpus(n_docs, n_queries, per_query)
    print(f"corpus: {n_docs} docs, {n_queries} queries x {per_query} = {pairs.height} pairs "
          f"(generated in {time.perf_counter() - t0:.1f}s)")

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

    t_bi, t_bs, ref = bench_bm25s(queries, documents, pairs, params)
    t_bm25s = t_bi + t_bs
    print(f"bm25s   lucene BM25 body only: index {t_bi:6.2f}s + score {t_bs:6.2f}s = {t_bm25s:8.2f}s "
          f"(+ tokenize {t_tok:.2f}s = {t_bm25s + t_tok:.2f}s from raw text)")

    joined = feats.join(ref, on=["query_id", "doc_id"], how="inner")
    max_diff = float((joined["bm25_body"] - joined["bm25s"]).abs().max())
    if joined.height != pairs.height or not max_diff <= 1e-6:
        raise SystemExit(f"MISMATCH vs bm25s: {joined.height}/{pairs.height} pairs, max |diff| {max_diff}")
    print(f"check   bm25_body == bm25s lucene on all {joined.height} pairs: max |diff| = {max_diff:.2e}")

    result = {
        "pairs": pairs.height,
        "docs": n_docs,
        "gbltr_s": round(t_gbltr, 3),
        "bm25s_s": round(t_bm25s, 3),
        "bm25s_index_s": round(t_bi, 3),
        "bm25s_score_s": round(t_bs, 3),
        "gbltr_index_s": round(t_gindex, 3),
        "tokenize_s": round(t_tok, 3),
        "speedup_vs_bm25s": round(t_bm25s / t_gbltr, 2),
        "speedup_vs_bm25s_from_raw_text": round((t_bm25s + t_tok) / t_gbltr, 2),
        "max_abs_diff_vs_bm25s": max_diff,
        "speedup_vs_bm25s_scoring_only": round(t_bs / max(t_gbltr - t_gindex, 1e-9), 2),
    }
    if not args.skip_rank_bm25:
        n_sub_docs, n_sub_q = (5_000, 50) if args.quick else (20_000, 100)
        per_doc, per_pair = bench_rank_bm25(queries, documents, pairs, params, n_sub_docs, n_sub_q)
        t_rank = per_doc * n_docs + per_pair * pairs.height
        print(f"rank_bm25 BM25Okapi body only, EXTRAPOLATED from {n_sub_docs} docs / {n_sub_q} queries "
              f"x {per_query}: index {per_doc * n_docs:6.2f}s + score {per_pair * pairs.height:6.2f}s "
              f"= {t_rank:8.2f}s (scoring cost grows with corpus size; extrapolation is a lower bound)")
        result.update(
            rank_bm25_extrapolated_s=round(t_rank, 3),
            speedup_vs_rank_bm25=round(t_rank / t_gbltr, 2),
            speedup_vs_rank_bm25_from_raw_text=round((t_rank + t_tok) / t_gbltr, 2),
        )
        print(f"ratio   rank_bm25 / gbltr = {t_rank / t_gbltr:6.1f}x   from raw text (+tokenize): "
              f"{(t_rank + t_tok) / t_gbltr:6.1f}x   scoring only (rank_bm25 score / gbltr scoring share): "
              f"{per_pair * pairs.height / max(t_gbltr - t_gindex, 1e-9):6.1f}x")
        result["speedup_vs_rank_bm25_scoring_only"] = round(per_pair * pairs.height / max(t_gbltr - t_gindex, 1e-9), 2)
    print(f"ratio   bm25s / gbltr     = {t_bm25s / t_gbltr:6.2f}x   from raw text (+tokenize): "
          f"{(t_bm25s + t_tok) / t_gbltr:6.2f}x   scoring only: {t_bs / max(t_gbltr - t_gindex, 1e-9):6.2f}x"
          "   (gbltr computes 14 features on 2 fields, bm25s 1)")
    print("RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
