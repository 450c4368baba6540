"""Text features: hand-computed BM25, agreement with bm25s / rank_bm25, LM against numpy, edge cases."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import polars as pl
import pytest

from gbltr.errors import ConfigError, DataError
from gbltr.features.text import SCORES, TEXT_FIELDS, TextParams, text_features, token_count, tokenize, tokenize_texts


def _frames(bodies, queries, titles=None):
    docs = pl.DataFrame(
        {
            "doc_id": [f"d{i + 1}" for i in range(len(bodies))],
            "title": titles if titles is not None else [""] * len(bodies),
            "body": bodies,
        }
    )
    qs = pl.DataFrame({"query_id": [f"q{i + 1}" for i in range(len(queries))], "text": queries})
    pairs = qs.select("query_id").join(docs.select("doc_id"), how="cross")
    return qs, docs, pairs


def _scores(feats: pl.DataFrame, query_id: str, column: str) -> list[float]:
    return feats.filter(pl.col("query_id") == query_id).sort("doc_id")[column].to_list()


def test_tokenizer_lowercases_and_splits_on_non_letters_digits():
    assert tokenize_texts(["Foo-bar_2 Straße, ÉTÉ!", None, "", "t1  t22\tt3"]) == [
        ["foo", "bar", "2", "straße", "été"],
        [],
        [],
        ["t1", "t22", "t3"],
    ]


def test_token_count_agrees_with_tokenize():
    texts = ["İx a-b", None, "", "Foo_bar ÉTÉ 12", "  t1\n\tt2 ", "ﬁne Ⅻ ²"]
    frame = pl.DataFrame({"t": texts}).select(n=token_count(pl.col("t")), m=tokenize(pl.col("t")).list.len())
    assert frame["n"].to_list() == frame["m"].to_list()


def test_bm25_three_documents_by_hand():
    # N = 3, dl = (3, 2, 4), avgdl = 9 / 3 = 3, k1 = 1.2, b = 0.75, query "a c".
    # idf(a): df 1 -> ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(8/3)
    # idf(c): df 2 -> ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6)
    # d1 "a b a": a tf 2, K = 1.2 * (0.25 + 0.75 * 3/3) = 1.2 -> 2 / 3.2 = 0.625 -> 0.625 ln(8/3)
    # d2 "b c":   c tf 1, K = 1.2 * (0.25 + 0.75 * 2/3) = 0.9 -> 1 / 1.9        -> ln(1.6) / 1.9
    # d3 "c c c d": c tf 3, K = 1.2 * (0.25 + 0.75 * 4/3) = 1.5 -> 3 / 4.5 = 2/3 -> (2/3) ln(1.6)
    qs, docs, pairs = _frames(["a b a", "b c", "c c c d"], ["a c"])
    feats = text_features(qs, docs, pairs)
    expected = [0.625 * math.log(8 / 3), math.log(1.6) / 1.9, (2 / 3) * math.log(1.6)]
    assert _scores(feats, "q1", "bm25_body") == pytest.approx(expected, abs=1e-12)
    # every title is empty: all title scores 0 (no division by the zero average length)
    assert _scores(feats, "q1", "bm25_title") == [0.0, 0.0, 0.0]
    # TF-IDF (ltn): d1 (1 + ln 2) ln(3/1); d2 1 * ln(3/2); d3 (1 + ln 3) ln(3/2)
    assert _scores(feats, "q1", "tfidf_body") == pytest.approx(
        [(1 + math.log(2)) * math.log(3), math.log(1.5), (1 + math.log(3)) * math.log(1.5)], abs=1e-12
    )
    # coverage of {a, c}: d1 1/2, d2 1/2, d3 1/2
    assert _scores(feats, "q1", "coverage_body") == [0.5, 0.5, 0.5]


def _random_corpus(seed=3, n_docs=40, vocab=25):
    rng = np.random.default_rng(seed)
    bodies = [" ".join(f"w{t}" for t in rng.integers(0, vocab, rng.integers(1, 30))) for _ in range(n_docs)]
    queries = [" ".join(f"w{t}" for t in rng.integers(0, vocab, rng.integers(1, 5))) for _ in range(8)]
    return bodies, queries


def test_bm25_equals_bm25s_lucene():
    bm25s = pytest.importorskip("bm25s")
    bodies, queries = _random_corpus()
    bodies[5] = ""  # an empty document counts in N and in the average length
    qs, docs, pairs = _frames(bodies, queries)
    params = TextParams(k1=1.5, b=0.6)
    feats = text_features(qs, docs, pairs, params=params)
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.6, dtype="float64")
    retriever.index(tokenize_texts(bodies), show_progress=False)
    for i, q in enumerate(tokenize_texts(queries)):
        ids = [retriever.vocab_dict[t] for t in q if t in retriever.vocab_dict]
        order = sorted(range(len(bodies)), key=lambda j: f"d{j + 1}")  # doc_id string order
        ref = retriever.get_scores_from_ids(ids)[order]
        ours = np.array(_scores(feats, f"q{i + 1}", "bm25_body"))
        assert np.max(np.abs(ours - ref)) < 1e-6, queries[i]


def test_bm25_tf_part_equals_rank_bm25_okapi():
    # rank_bm25.BM25Okapi = (k1 + 1) * idf_okapi * tf / (tf + K), idf_okapi = ln((N - df + .5) / (df + .5))
    # (floored at 0.25 * mean idf when negative); Lucene's = idf_lucene * tf / (tf + K). For a
    # one-term query with df < N / 2 (no floor) the two differ by the factor
    # (k1 + 1) * idf_okapi / idf_lucene, which this test removes.
    rank_bm25 = pytest.importorskip("rank_bm25")
    bodies, _ = _random_corpus(seed=7, n_docs=60, vocab=40)
    tokens = tokenize_texts(bodies)
    n = len(bodies)
    df = Counter(t for doc in tokens for t in set(doc))
    rare = sorted(t for t, d in df.items() if d < n / 2)[:5]
    qs, docs, pairs = _frames(bodies, rare)
    feats = text_features(qs, docs, pairs)
    model = rank_bm25.BM25Okapi(tokens, k1=1.2, b=0.75)
    order = sorted(range(n), key=lambda j: f"d{j + 1}")
    for i, term in enumerate(rare):
        d = df[term]
        factor = 2.2 * math.log((n - d + 0.5) / (d + 0.5)) / math.log(1 + (n - d + 0.5) / (d + 0.5))
        ref = model.get_scores([term])[order]
        ours = np.array(_scores(feats, f"q{i + 1}", "bm25_body")) * factor
        np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_language_models_against_numpy():
    bodies, queries = _random_corpus(seed=11)
    bodies[3] = ""
    queries.append("w3 zzz w3")  # a term absent from the collection, and a repeated term
    qs, docs, pairs = _frames(bodies, queries)
    params = TextParams(mu=10.0, jm_lambda=0.3)
    feats = text_features(qs, docs, pairs, params=params)
    tokens = tokenize_texts(bodies)
    cf = Counter(t for doc in tokens for t in doc)
    total = sum(cf.values())
    order = sorted(range(len(bodies)), key=lambda j: f"d{j + 1}")
    for i, q in enumerate(tokenize_texts(queries)):
        dir_ref, jm_ref = [], []
        for j in order:
            tf, dl = Counter(tokens[j]), len(tokens[j])
            p_c = np.array([(cf[t] + 1) / (total + 1) for t in q])  # Lucene's collection model
            tfs = np.array([tf[t] for t in q], dtype=float)
            dir_ref.append(np.sum(np.log((tfs + 10.0 * p_c) / (dl + 10.0))))
            p_ml = tfs / dl if dl else np.zeros_like(tfs)
            jm_ref.append(np.sum(np.log(0.7 * p_ml + 0.3 * p_c)))
        np.testing.assert_allclose(_scores(feats, f"q{i + 1}", "lm_dir_body"), dir_ref, rtol=1e-12)
        np.testing.assert_allclose(_scores(feats, f"q{i + 1}", "lm_jm_body"), jm_ref, rtol=1e-12)


def test_missing_query_terms_and_empty_texts_stay_finite():
    qs, docs, pairs = _frames(["a b", "", "b b"], ["nothere", "a nothere", ""], titles=["", None, "x"])
    feats = text_features(qs, docs, pairs)
    values = feats.select(pl.exclude("query_id", "doc_id")).to_numpy()
    assert np.isfinite(values).all()
    assert feats.height == 9
    # an unseen term: no BM25/TF-IDF/coverage credit anywhere
    assert _scores(feats, "q1", "bm25_body") == [0.0, 0.0, 0.0]
    # LM-Dirichlet with p(t|C) = 1 / (|C| + 1) = 1/5 (|C| = 4 body tokens), mu = 2000
    expected = [math.log(2000 * 0.2 / (dl + 2000)) for dl in (2, 0, 2)]
    assert _scores(feats, "q1", "lm_dir_body") == pytest.approx(expected, rel=1e-12)
    # an empty query scores 0 everywhere
    empty = feats.filter(pl.col("query_id") == "q3").select(pl.exclude("query_id", "doc_id")).to_numpy()
    assert (empty == 0).all()


def test_match_features():
    bodies = ["x new york city y", "york new", "new x york", "new"]
    qs, docs, pairs = _frames(bodies, ["New York City", "new", "york york"])
    feats = text_features(qs, docs, pairs)
    assert _scores(feats, "q1", "exact_body") == [1.0, 0.0, 0.0, 0.0]
    assert _scores(feats, "q1", "bigram_body") == [1.0, 0.0, 0.0, 0.0]  # bigrams (new york), (york city)
    assert _scores(feats, "q1", "coverage_body") == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3])
    assert _scores(feats, "q2", "exact_body") == [1.0, 1.0, 1.0, 1.0]  # one token: present
    assert _scores(feats, "q2", "bigram_body") == [0.0, 0.0, 0.0, 0.0]  # no bigrams
    assert _scores(feats, "q3", "exact_body") == [0.0, 0.0, 0.0, 0.0]  # "york york" never adjacent


def test_output_columns_and_one_row_per_pair():
    qs, docs, pairs = _frames(["a b", "b c"], ["a", "c b"])
    feats = text_features(qs, docs, pairs)
    assert feats.columns == ["query_id", "doc_id"] + [f"{s}_{f}" for f in TEXT_FIELDS for s in SCORES]
    assert feats.height == pairs.height
    assert feats.select("query_id", "doc_id").sort("query_id", "doc_id").equals(pairs.sort("query_id", "doc_id"))


def test_unknown_document_in_pairs_is_an_error():
    qs, docs, pairs = _frames(["a b"], ["a"])
    pairs = pl.concat([pairs, pl.DataFrame({"query_id": ["q1"], "doc_id": ["nope"]})])
    with pytest.raises(DataError, match=r"1 pair\(s\).*nope"):
        text_features(qs, docs, pairs)


@pytest.mark.parametrize("kwargs", [{"k1": -1.0}, {"b": 1.5}, {"mu": 0.0}, {"jm_lambda": 0.0}])
def test_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match="expected"):
        TextParams(**kwargs)


def test_bigram_does_not_span_two_documents():
    # "new" ends d1 and "york" starts d2: adjacent in the exploded token stream, not in a document
    qs, docs, pairs = _frames(["a new", "york b", "new york"], ["new york"])
    feats = text_features(qs, docs, pairs)
    assert _scores(feats, "q1", "bigram_body") == [0.0, 0.0, 1.0]
    assert _scores(feats, "q1", "exact_body") == [0.0, 0.0, 1.0]


def test_index_matches_python_reference_across_row_slices():
    """Postings, term statistics and bigrams of the numba index equal a Counter-based reference.

    Enough documents (with empty and null ones) that :func:`tokenize_fields` cuts them into one row
    slice per Polars thread; the tokens must equal :func:`tokenize` row for row.
    """
    from gbltr.features.text import build_index, build_vocabulary, tokenize_fields

    rng = np.random.default_rng(3)
    words = ["a", "b", "c", "d", "Ünï", "中文", "42", "x"]
    bodies = [
        None if i % 17 == 0 else " ".join(rng.choice(words, rng.integers(0, 12)).tolist()) + ",.!"
        for i in range(101)
    ]
    docs = pl.DataFrame({"body": bodies}, schema={"body": pl.String})
    expected_tokens = tokenize_texts(bodies)
    assert tokenize_fields(docs, ["body"])["body"]["tokens"].to_list() == expected_tokens

    vocab = build_vocabulary(pl.DataFrame({"tokens": [["a", "c", "ünï", "中文", "zz"]]}))
    ids = dict(zip(vocab["term"].to_list(), vocab["term_id"].to_list()))
    bigrams = pl.DataFrame(
        {"first_id": [ids["a"], ids["c"], ids["中文"]], "second_id": [ids["c"], ids["a"], ids["ünï"]]},
        schema={"first_id": pl.UInt32, "second_id": pl.UInt32},
    )
    index = build_index(docs, "body", vocab, bigrams)

    want_post, want_bi = set(), set()
    for d, toks in enumerate(expected_tokens):
        for t, tf in Counter(t for t in toks if t in ids).items():
            want_post.add((d, ids[t], tf))
        for a, b in zip(toks, toks[1:]):
            if a in ids and b in ids and (ids[a], ids[b]) in set(bigrams.iter_rows()):
                want_bi.add((d, ids[a], ids[b]))
    assert set(index.postings.iter_rows()) == want_post and index.postings.height == len(want_post)
    assert set(index.bigrams.iter_rows()) == want_bi and index.bigrams.height == len(want_bi)
    stats = {t: (df, cf) for t, df, cf in index.term_stats.iter_rows()}
    for t, tid in ids.items():
        rows = [(d, tf) for d, term, tf in want_post if term == tid]
        assert stats.get(tid, (0, 0)) == (len(rows), sum(tf for _, tf in rows)), t
    assert index.doc_lengths.sort("doc_idx")["length"].to_list() == [len(t) for t in expected_tokens]
