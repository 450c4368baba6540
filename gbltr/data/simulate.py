"""The built-in simulated search world: a seeded generative model of a web search engine.

It exists so that a new user can run gbltr with no data, no network and no API key, and so that
click-trained, LLM-trained and fused rankers can be compared where the truth is known. Every
mechanism below is a parameter of :class:`WorldParams`, written to ``world.json`` beside the
dataset; none is tuned to make a training method win.

Mechanisms
----------
Queries
    Popularity follows a truncated power law, density ``p(x) ~ x^-frequency_exponent`` on
    ``[1, frequency_range]``; the expected sessions of a query are its share of ``sessions``, and
    its frequency (sessions in the log) is a Poisson draw around that, so the tail has a handful
    of sessions or none. Each query has a topic and 1-4 terms drawn from the topic's head terms.
Intent depends on frequency
    ``P(navigational) = sigmoid(intent_bias + intent_coupling * z)``, ``z`` the standardised log
    popularity. Navigational queries are shorter. Human judges weigh a page's authority by
    ``authority_weight_nav`` on navigational and ``authority_weight_info`` on informational
    queries, semantic match by the rest. ``intent_coupling = 0`` is the control world
    (:func:`control_world`), in which intent does not depend on frequency.
Documents
    Each query gets 10-30 candidate documents of its own. A document has a latent semantic match
    ``m`` in [0, 1] to its query (Beta-distributed) and a latent authority ``a`` (standard normal,
    partly shared by its domain: popular domains are reputable brands). Text: title and body
    tokens from a Zipfian vocabulary, on the query's topic with probability ``0.3 + 0.7 m``; query
    terms appear in the title with probability ``0.8 m`` and in the body ``Poisson(4 m^1.5)``
    times; the whole query phrase appears in order with probability ``m^2``. Authority is seen
    only through noisy attributes: inlinks, a PageRank-like score, URL depth, the domain.
Candidates
    Ranked by a production-like noisy first-stage score ``m + 0.35 a + N(0, retrieval_noise)``.
Human labels (0-4)
    Utility ``u = (1 - w_auth) m + w_auth sigmoid(a) + N(0, judge_noise)``, cut at
    ``human_thresholds``. Only for validation and test queries, whose split is drawn per
    frequency bucket so that every bucket has ``test_queries_per_bucket`` test queries.
Clicks
    Position-based model (Richardson et al. 2007; Chuklin et al. 2015): a session shows the top
    ``display_k`` of the candidate ranking perturbed by ``N(0, session_noise)``; examination at
    rank k is ``k^-examination_eta`` (the steep decay of the TianGong-ST click matrix in
    ``shared/data/click-sim`` was the reference; it is not read at run time); attractiveness is
    ``sigmoid(click_bias + click_relevance * u + brand_bias * a + e_d)`` with a per-document
    ``e_d ~ N(0, click_noise)``. Clicked results get a log-normal dwell time.
Simulated LLM annotator
    Sees only text: ``(1 - w) m + w / 2 + N(0, llm_noise)``, ``w`` the mean of the two authority
    weights (it cannot see authority or intent, so it assumes an average page), cut at
    ``human_thresholds - llm_leniency`` (lenient: fewer zeros than humans). It labels every candidate pair; the evaluation protocol decides
    which pairs enter training. Label set ``llm``; human labels are label set ``human``.

The ``latent/`` folder holds the truths (intent, match, authority, utility) for analysis; no
feature or label reads it.

Stored resolution
    Every simulated float is stored rounded (:func:`stored`): dwell times to the millisecond
    (:data:`DWELL_DECIMALS`), scores and latent values to 6 decimals (:data:`FLOAT_DECIMALS`).
    numpy's ``exp``/``log`` take other SIMD kernels on AVX2, AVX-512 and ARM and differ there in
    the last bits; rounding (an exact multiply, ``rint``, divide) maps such neighbours to the
    same stored value, so one seed writes the same bytes, and the same dataset fingerprint, on
    every CPU. The simulation itself runs on the unrounded values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from gbltr.buckets import BUCKETS, BucketSpec
from gbltr.checkpoint import checkpoint
from gbltr.data.store import SearchDataset, check_dataset_out, write_dataset
from gbltr.data.world import WORLD_FILE, WorldParams, control_world, read_world_params
from gbltr.errors import DataError
from gbltr.progress import progress
from gbltr.schema import IMPRESSIONS

__all__ = ["WORLD_FILE", "WorldParams", "control_world", "read_world_params", "simulate_world",
           "write_world"]

DWELL_DECIMALS = 3
"""Dwell times (seconds) are stored to the millisecond: what a real log records."""
FLOAT_DECIMALS = 6
"""Every other simulated float (retrieval score, PageRank-like score, latent values) is stored
to 6 decimals."""


def stored(values, decimals: int = FLOAT_DECIMALS) -> np.ndarray:
    """``values`` at the resolution a simulated table stores (module docstring: same bytes on
    every CPU). NaN stays NaN."""
    return np.round(np.asarray(values, dtype=np.float64), decimals)

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _zipf_cdf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return np.cumsum(w) / w.sum()


def _grades(u: np.ndarray, thresholds) -> np.ndarray:
    return np.searchsorted(np.asarray(thresholds), u, side="right").astype(np.int64)


def _draw_queries(p: WorldParams, rng: np.random.Generator, topic_terms: np.ndarray):
    n = p.queries
    a = p.frequency_exponent
    u = rng.random(n)
    r = p.frequency_range
    if abs(a - 1.0) < 1e-9:
        pop = r**u
    else:
        pop = (1.0 - u * (1.0 - r ** (1.0 - a))) ** (1.0 / (1.0 - a))
    expected = p.sessions * pop / pop.sum()
    freq = rng.poisson(expected)
    z = np.log(pop)
    z = (z - z.mean()) / (z.std() + 1e-12)
    nav = rng.random(n) < _sigmoid(p.intent_bias + p.intent_coupling * z)
    topic = rng.integers(0, p.topics, n)
    length = np.where(nav, rng.integers(1, 3, n), rng.integers(2, 5, n))
    terms = []
    for i in range(n):  # n is small (thousands): a loop over queries is fine
        head = topic_terms[topic[i], :60]
        terms.append(rng.choice(head, size=length[i], replace=False))
    return {"pop": pop, "freq": freq, "nav": nav, "topic": topic, "terms": terms}


def _assign_splits(p: WorldParams, rng: np.random.Generator, freq: np.ndarray) -> np.ndarray:
    spec = BucketSpec(p.high_min, p.medium_min)
    bucket = np.where(freq >= spec.high_min, 0, np.where(freq >= spec.medium_min, 1, 2))
    split = np.full(freq.shape[0], "train", dtype=object)
    need = p.test_queries_per_bucket + p.valid_queries_per_bucket + p.min_train_queries_per_bucket
    for b, name in enumerate(BUCKETS):
        idx = np.flatnonzero(bucket == b)
        if idx.size < need:
            raise DataError(
                f"simulated world has {idx.size} {name}-frequency queries; expected at least {need} "
                f"(test {p.test_queries_per_bucket} + valid {p.valid_queries_per_bucket} + train "
                f"{p.min_train_queries_per_bucket}). Raise --queries or --sessions, or lower the "
                "per-bucket test/valid counts"
            )
        chosen = rng.permutation(idx)
        split[chosen[: p.test_queries_per_bucket]] = "test"
        split[chosen[p.test_queries_per_bucket : p.test_queries_per_bucket + p.valid_queries_per_bucket]] = "valid"
    return split


def _draw_documents(p: WorldParams, rng: np.random.Generator, q: dict, domain_rep: np.ndarray, domain_cdf):
    n_cand = rng.integers(p.candidates_min, p.candidates_max + 1, p.queries)
    qidx = np.repeat(np.arange(p.queries), n_cand)
    nd = qidx.size
    match = rng.beta(0.7, 1.3, nd)
    domain = np.searchsorted(domain_cdf, rng.random(nd))
    authority = 0.6 * domain_rep[domain] + 0.8 * rng.standard_normal(nd)
    on_topic = rng.random(nd) < 0.3 + 0.7 * match
    doc_topic = np.where(on_topic, q["topic"][qidx], rng.integers(0, p.topics, nd))
    return {
        "qidx": qidx,
        "n_cand": n_cand,
        "match": match,
        "domain": domain,
        "authority": authority,
        "topic": doc_topic,
    }


#: Documents rendered per pass while generating text. Their tokens, sort keys and bytes exist only
#: for one such chunk; the random numbers are the same whatever the chunk (see :func:`_ahead`).
_DOC_CHUNK = 50_000


def _small_int(n_values: int):
    return np.int16 if n_values <= np.iinfo(np.int16).max else np.int32


def _ahead(rng: np.random.Generator, k: int) -> np.random.Generator:
    """A new generator whose next draws are ``rng``'s after ``k`` uniform doubles.

    One ``random()`` double consumes exactly one 64-bit PCG64 output, so ``advance(k)`` skips
    ``k`` of them; PCG64 keeps a buffered 32-bit half for 32-bit draws, which a real run of doubles
    leaves alone but ``advance`` clears, so it is carried over by hand. ``rng`` is not changed.
    """
    if not isinstance(rng.bit_generator, np.random.PCG64):
        raise TypeError(f"expected a PCG64 generator, found {type(rng.bit_generator).__name__}")
    state = rng.bit_generator.state
    bits = np.random.PCG64()
    bits.state = state
    bits.advance(int(k))
    moved = bits.state
    moved["has_uint32"], moved["uinteger"] = state["has_uint32"], state["uinteger"]
    bits.state = moved
    return np.random.Generator(bits)


def _skip(rng: np.random.Generator, k: int) -> None:
    """Move ``rng`` on by ``k`` uniform doubles, as if ``rng.random(k)`` had been called."""
    rng.bit_generator.state = _ahead(rng, k).bit_generator.state


class _Filler:
    """Filler tokens of one text field, drawn a chunk of documents at a time.

    The random stream is the old one-pass order: ``n`` uniforms for the Zipf ranks of all ``n``
    tokens, then ``n`` for topic vs background, then ``n`` sort keys. Three generators start at
    offsets 0, n and 2n of that stream and each is read in document order, so chunk by chunk they
    give exactly the numbers of the single pass; the caller's generator skips all ``3n``.
    """

    def __init__(self, rng, topic_terms, term_cdf, topics, counts, background):
        self.n = int(counts.sum())
        self.ranks, self.sides, self.keys = (_ahead(rng, k * self.n) for k in range(3))
        _skip(rng, 3 * self.n)
        self.topic_terms, self.term_cdf, self.background = topic_terms, term_cdf, background
        self.topics = topics.astype(_small_int(topic_terms.shape[0]))
        self.counts = counts

    def draw(self, lo: int, hi: int):
        """(counts, token ids int32, sort keys) of documents ``lo .. hi - 1``; call in order."""
        counts = self.counts[lo:hi]
        k = int(counts.sum())
        last = self.topic_terms.shape[1] - 1
        r = np.minimum(np.searchsorted(self.term_cdf, self.ranks.random(k)), last)
        from_topic = self.sides.random(k) >= self.background
        token_topic = np.repeat(self.topics[lo:hi], counts)
        tok = np.where(from_topic, self.topic_terms[token_topic, r], self.topic_terms[-1, r]).astype(np.int32)
        return counts, tok, self.keys.random(k)


def _render_kernel():
    """Compile (once, cached) the numba kernel that writes the texts of all documents."""
    from numba import njit

    @njit(cache=True, nogil=True)
    def render(counts, toks, keys, vocab_bytes, vocab_off):
        """Document i's text: its tokens from every piece, ordered by their random key, joined
        by single spaces; documents separated by one newline byte. Pieces are in document order
        (``counts[p][i]`` tokens of document i in piece p). Returns (bytes, end offset per doc)."""
        n_pieces = len(counts)
        nd = counts[0].shape[0]
        total = 0
        for p in range(n_pieces):
            t = toks[p]
            for k in range(t.shape[0]):
                total += vocab_off[t[k] + 1] - vocab_off[t[k]] + 1  # token + space/newline
        out = np.empty(total, dtype=np.uint8)
        ends = np.empty(nd, dtype=np.int64)
        starts = np.zeros(n_pieces, dtype=np.int64)
        o = 0
        width = 1
        for i in range(nd):
            m = 0
            for p in range(n_pieces):
                m += counts[p][i]
            if m > width:
                width = m
        kbuf = np.empty(width, dtype=np.float64)
        tbuf = np.empty(width, dtype=np.int64)
        for i in range(nd):
            m = 0
            for p in range(n_pieces):
                a = starts[p]
                c = counts[p][i]
                for k in range(c):
                    kbuf[m] = keys[p][a + k]
                    tbuf[m] = toks[p][a + k]
                    m += 1
                starts[p] = a + c
            order = np.argsort(kbuf[:m], kind="mergesort")
            for k in range(m):
                t = tbuf[order[k]]
                for b in range(vocab_off[t], vocab_off[t + 1]):
                    out[o] = vocab_bytes[b]
                    o += 1
                out[o] = 32 if k + 1 < m else 10  # " " between tokens, "\n" after the document
                o += 1
            ends[i] = o
        return out[:o], ends

    return render


_RENDER = None
_PIECES = 3  # pieces per field: filler, query terms, phrases (title has no phrases)


def _vocab_bytes(vocab: list[str]):
    encoded = [v.encode("ascii") for v in vocab]
    off = np.zeros(len(encoded) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(b) for b in encoded])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), off


def _join_texts(pieces, vocab, nd: int) -> pl.Series:
    """One string per document from integer token pieces ``[(counts, tok, key), ...]``.

    Token ``t`` is ``vocab[t]`` (``vocab``: a list of strings, or its :func:`_vocab_bytes`);
    tokens of a document are ordered by ``key``. The bytes are written by one numba pass and
    become Polars strings by splitting the buffer at newlines (no per-token Python or fixed-width
    string objects).
    """
    global _RENDER
    if _RENDER is None:
        _RENDER = _render_kernel()
    vocab_bytes, vocab_off = _vocab_bytes(vocab) if isinstance(vocab, list) else vocab
    if nd == 0:
        return pl.Series([], dtype=pl.String)
    empty = (np.zeros(nd, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64))
    pieces = list(pieces) + [empty] * (_PIECES - len(pieces))  # homogeneous tuples: one compile
    counts = tuple(np.ascontiguousarray(c, dtype=np.int64) for c, _, _ in pieces)
    toks = tuple(np.ascontiguousarray(t, dtype=np.int32) for _, t, _ in pieces)
    keys = tuple(np.ascontiguousarray(k, dtype=np.float64) for _, _, k in pieces)
    del pieces
    buf, ends = _RENDER(counts, toks, keys, vocab_bytes, vocab_off)
    text = str(memoryview(buf[: int(ends[-1]) - 1]), "ascii")
    return pl.Series([text]).str.split("\n").explode()


def _render_field(filler: _Filler, extra, vocab, nd: int) -> pl.Series:
    """The texts of one field, :data:`_DOC_CHUNK` documents at a time: filler tokens from
    ``filler`` plus the ``extra`` pieces ``(counts, ids, keys)`` (in document order)."""
    vocab = _vocab_bytes(vocab)
    starts = [np.concatenate([[0], np.cumsum(c)]) for c, _, _ in extra]
    parts = []
    for lo in range(0, nd, _DOC_CHUNK):
        hi = min(lo + _DOC_CHUNK, nd)
        pieces = [filler.draw(lo, hi)]
        for (c, t, k), s in zip(extra, starts):
            pieces.append((c[lo:hi], t[s[lo] : s[hi]], k[s[lo] : s[hi]]))
        parts.append(_join_texts(pieces, vocab, hi - lo))
    return pl.concat(parts) if parts else pl.Series([], dtype=pl.String)


def _render_text(p, rng, q, d, topic_terms, term_cdf):
    """Title and body strings for every document, as Polars String Series in document order.

    Tokens stay integer ids until :func:`_join_texts` writes the text: ids ``0 .. vocab_size - 1``
    are terms ``t<id>``, id ``vocab_size + i`` is query ``i``'s whole phrase. Every piece below is
    generated in document order, so each is a (count per document, ids, sort keys) triple. Filler
    tokens, the bulk, are drawn while rendering (:class:`_Filler`), a chunk of documents at a time.
    """
    nd = d["qidx"].size
    m = d["match"]
    filler = {}
    for fld, mean, bg in (("title", p.title_length, 0.2), ("body", p.body_length, 0.3)):
        counts = rng.poisson(mean, nd) + 1
        filler[fld] = _Filler(rng, topic_terms, term_cdf, d["topic"], counts, bg)
    fields = {"title": [], "body": []}
    # Query terms injected by match: title with prob 0.8 m, body Poisson(4 m^1.5) times each.
    q_terms = q["terms"]
    lens = np.array([t.size for t in q_terms])
    per_doc = lens[d["qidx"]]
    owner_t = np.repeat(np.arange(nd), per_doc)
    term_ids = np.concatenate([q_terms[i] for i in d["qidx"]]) if nd else np.zeros(0, int)
    in_title = rng.random(owner_t.size) < 0.8 * m[owner_t]
    fields["title"].append((np.bincount(owner_t[in_title], minlength=nd), term_ids[in_title],
                            rng.random(int(in_title.sum()))))
    body_counts = rng.poisson(4.0 * m[owner_t] ** 1.5)
    ob = np.repeat(owner_t, body_counts)
    tb = np.repeat(term_ids, body_counts)
    fields["body"].append((np.bincount(ob, minlength=nd), tb, rng.random(ob.size)))
    phrase = rng.random(nd) < m**2
    op = np.flatnonzero(phrase)
    fields["body"].append((phrase.astype(np.int64), p.vocab_size + d["qidx"][op], rng.random(op.size)))
    del owner_t, term_ids, in_title, body_counts, ob, tb
    vocab = [f"t{i}" for i in range(p.vocab_size)]
    vocab += [" ".join(vocab[t] for t in terms) for terms in q_terms]
    title = _render_field(filler["title"], fields.pop("title"), vocab, nd)
    body = _render_field(filler["body"], fields.pop("body"), vocab, nd)
    return title, body


#: Sessions simulated per pass. Part of the world's definition: each pass draws its session noise
#: and then its clicks, so another value interleaves the random stream differently.
_SESSION_DRAWS = 100_000
#: Sessions per impressions frame that :meth:`_Log.frames` makes (at most one pass of sessions):
#: with ``display_k`` it bounds the impressions a written chunk holds in memory. Any value gives
#: the same table.
_FRAME_SESSIONS = 100_000


class _Log:
    """The impressions of every session, kept compact and turned into tables a chunk at a time.

    While simulating, only each impression's document (int32) and click, and each session's
    number of shown results, are kept; ids, positions and dwell times are made per chunk by
    :meth:`frames`. Dwell times are the random stream's last draws (one log-normal per
    impression, after all sessions), drawn chunk by chunk in the same order from a generator
    that starts where the sessions ended.
    """

    def __init__(self, chunks, dwell_rng, utility, qid, did, n_sessions):
        self.chunks, self.dwell_rng, self.utility = chunks, dwell_rng, utility
        self.qid, self.did, self.n_sessions = qid, did, n_sessions
        self.rows = sum(c[3].size for c in chunks)

    def frames(self):
        """The impressions table in order, one frame per chunk of sessions (iterate once)."""
        rng, self.dwell_rng = self.dwell_rng, None
        if rng is None:
            raise RuntimeError("the simulated impressions were already generated")
        with progress(total=self.rows, desc="impressions", unit="row") as bar:
            while self.chunks:
                lo, sq_all, shown_all, doc_all, click_all, pos_all = self.chunks.pop(0)
                ends = np.concatenate([[0], np.cumsum(shown_all, dtype=np.int64)])
                for a in range(0, sq_all.size, _FRAME_SESSIONS):
                    b = min(a + _FRAME_SESSIONS, sq_all.size)
                    sq, shown = sq_all[a:b], shown_all[a:b]
                    rows = slice(ends[a], ends[b])
                    doc, click, pos = doc_all[rows], click_all[rows], pos_all[rows]
                    dwell = np.where(click, stored(rng.lognormal(3.0 + 2.0 * self.utility[doc], 0.8), DWELL_DECIMALS), np.nan)
                    sessions = _id_strings("s", np.arange(lo + a, lo + b), 8)
                    yield pl.DataFrame(
                        {
                            "session_id": sessions.gather(np.repeat(np.arange(b - a), shown)),
                            "query_id": self.qid.gather(np.repeat(sq, shown)),
                            "position": pl.Series(pos.astype(np.int32)),
                            "doc_id": self.did.gather(doc),
                            "clicked": pl.Series(click),
                            "dwell_time": pl.Series(dwell).fill_nan(None),
                        }
                    )
                    bar.update(doc.size)


def _simulate_sessions(p, rng, q, d, retrieval, utility, authority, qid, did) -> _Log:
    """Impressions of every session: PBM clicks on a per-session perturbation of the ranking."""
    start = np.concatenate([[0], np.cumsum(d["n_cand"])])
    n_sessions = int(q["freq"].sum())
    exam = np.arange(1, p.display_k + 1, dtype=float) ** -p.examination_eta
    doc_noise = rng.normal(0.0, p.click_noise, utility.size)
    attract = _sigmoid(p.click_bias + p.click_relevance * utility + p.brand_bias * authority + doc_noise)
    width = p.candidates_max
    idx_type = np.int32 if max(n_sessions, utility.size, p.queries) < 2**31 - 1 else np.int64
    sess_q = np.repeat(np.arange(p.queries, dtype=idx_type), q["freq"])
    k = min(p.display_k, width)
    pos_type = _small_int(k + 1)
    chunks = []
    with progress(total=n_sessions, desc="sessions", unit="session") as bar:
        for lo in range(0, n_sessions, _SESSION_DRAWS):
            sq = sess_q[lo : lo + _SESSION_DRAWS]
            ns = sq.size
            cols = np.arange(width)
            valid = cols[None, :] < d["n_cand"][sq][:, None]
            doc_index = np.where(valid, start[sq][:, None] + cols[None, :], 0)
            score = retrieval[doc_index] + rng.normal(0.0, p.session_noise, (ns, width))
            score[~valid] = -np.inf
            order = np.argsort(-score, axis=1, kind="stable")[:, :k]
            shown = np.take_along_axis(doc_index, order, axis=1)
            shown_ok = np.take_along_axis(valid, order, axis=1)
            click = rng.random((ns, k)) < exam[None, :k] * attract[shown]
            pos = np.broadcast_to(np.arange(1, k + 1, dtype=pos_type), (ns, k))
            # per impression only the document, click and position; per session its shown count
            chunks.append((lo, sq, shown_ok.sum(axis=1).astype(pos_type), shown[shown_ok].astype(idx_type),
                           click[shown_ok], pos[shown_ok]))
            bar.update(ns)
    return _Log(chunks, _ahead(rng, 0), utility, qid, did, n_sessions)


def _id_strings(prefix: str, index: np.ndarray, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``index`` (``f"{prefix}{i:0{width}d}"``) as a Polars String."""
    return prefix + pl.Series(index).cast(pl.Int64).cast(pl.String).str.zfill(width)


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """``prefix`` + zero-padded ``0 .. n-1`` (``f"{prefix}{i:0{width}d}"``) as a Polars String."""
    return prefix + pl.int_range(n, dtype=pl.Int64, eager=True).cast(pl.String).str.zfill(width)


def simulate_world(params: WorldParams | None = None) -> tuple[SearchDataset, dict[str, pl.DataFrame]]:
    """Generate a world: the dataset and the latent truth tables ``queries`` (intent, topic,
    popularity, frequency) and ``pairs`` (match, authority, utility; each document belongs to one
    query, so its authority is on its pair). Everything is in memory; :func:`write_world` writes
    the same world holding only a chunk of the impressions at a time."""
    tables, latent, log = _simulate(params or WorldParams())
    frames = list(log.frames())
    impressions = pl.concat(frames) if frames else pl.DataFrame(schema=IMPRESSIONS.columns)
    return SearchDataset(impressions=impressions, **tables), latent


def _urls(rng, domain_names, domain: np.ndarray, depth: np.ndarray) -> pl.Series:
    """``https://<domain>/p<i>/p<j>/...``: ``depth[k]`` path parts for document k, each
    ``p`` + a uniform integer in [0, 10000). One vectorised draw gives the same integers as one
    scalar ``rng.integers(0, 10_000)`` per part in document order (each is one bounded 32-bit
    draw either way; tested)."""
    nd = depth.size
    part = "p" + pl.Series(rng.integers(0, 10_000, int(depth.sum()))).cast(pl.String)
    paths = (pl.DataFrame({"doc": np.repeat(np.arange(nd), depth), "part": part})
             .group_by("doc", maintain_order=True).agg(pl.col("part").str.join("/")))
    path = (pl.DataFrame({"doc": np.arange(nd)}).join(paths, on="doc", how="left", maintain_order="left")
            ["part"].fill_null(""))
    return "https://" + pl.Series(domain_names[domain].astype(str)) + "/" + path


def _simulate(p: WorldParams) -> tuple[dict, dict[str, pl.DataFrame], _Log]:
    """The world's :class:`SearchDataset` arguments but impressions, its latent tables, and the
    :class:`_Log` that makes its impressions."""
    rng = np.random.default_rng(p.seed)
    # Topic-term table: topic k's r-th most likely term; the last row is the background order.
    topic_terms = np.stack([rng.permutation(p.vocab_size) for _ in range(p.topics + 1)])
    term_cdf = _zipf_cdf(p.vocab_size, p.term_zipf_exponent)
    q = _draw_queries(p, rng, topic_terms)
    split = _assign_splits(p, rng, q["freq"])
    domain_cdf = _zipf_cdf(p.domains, 1.0)
    domain_rep = np.sort(rng.standard_normal(p.domains))[::-1] * 0.7 + 0.3 * rng.standard_normal(p.domains)
    d = _draw_documents(p, rng, q, domain_rep, domain_cdf)
    title, body = _render_text(p, rng, q, d, topic_terms, term_cdf)
    nd = d["qidx"].size
    a = d["authority"]
    depth = rng.poisson(np.clip(2.2 - 0.9 * a, 0.05, None))
    inlinks = rng.poisson(np.exp(1.0 + 1.3 * a + rng.normal(0, 0.6, nd)))
    pagerank = np.exp(0.8 * a + rng.normal(0, 0.5, nd)) / 10.0
    domain_names = np.array([f"site{i:04d}.example" for i in range(p.domains)], dtype=object)
    url = _urls(rng, domain_names, d["domain"], depth)
    retrieval = d["match"] + 0.35 * a + rng.normal(0.0, p.retrieval_noise, nd)
    w_auth = np.where(q["nav"][d["qidx"]], p.authority_weight_nav, p.authority_weight_info)
    utility = (1 - w_auth) * d["match"] + w_auth * _sigmoid(a) + rng.normal(0, p.judge_noise, nd)
    human = _grades(utility, p.human_thresholds)
    # The annotator reads text only: it sees m, not authority nor intent, and takes the page's
    # authority as average (sigmoid(a) ~ 0.5) under an average authority weight.
    w_bar = 0.5 * (p.authority_weight_nav + p.authority_weight_info)
    llm_score = (1 - w_bar) * d["match"] + w_bar * 0.5 + rng.normal(0, p.llm_noise, nd)
    llm = _grades(llm_score, np.asarray(p.human_thresholds) - p.llm_leniency)

    # ids as Polars strings ("q00042", "d0001234"), gathered by index: no per-row Python objects
    qid = _ids("q", p.queries, 5)
    did = _ids("d", nd, 7)
    q_of_doc = qid.gather(d["qidx"])
    # rank within each query by retrieval score (1 = best)
    order = np.lexsort((-retrieval, d["qidx"]))
    rank = np.empty(nd, np.int32)
    start = np.concatenate([[0], np.cumsum(d["n_cand"])])
    rank[order] = (np.arange(nd) - start[d["qidx"][order]] + 1).astype(np.int32)

    queries = pl.DataFrame(
        {
            "query_id": qid,
            "text": [" ".join(f"t{t}" for t in terms) for terms in q["terms"]],
            "split": split.astype(str),
        }
    )
    documents = pl.DataFrame(
        {
            "doc_id": did,
            "title": title,
            "body": body,
            "url": url,
            "inlinks": inlinks.astype(np.int64),
            "pagerank": stored(pagerank),
            "domain": domain_names[d["domain"]].astype(str),
        }
    )
    candidates = pl.DataFrame(
        {"query_id": q_of_doc, "doc_id": did, "rank": rank, "retrieval_score": stored(retrieval)}
    ).sort(["query_id", "rank"])
    del title, body
    log = _simulate_sessions(p, rng, q, d, retrieval, utility, a, qid, did)
    judged = np.isin(split[d["qidx"]], ["valid", "test"])
    human_labels = pl.DataFrame(
        {
            "query_id": q_of_doc.filter(judged),
            "doc_id": did.filter(judged),
            "label": human[judged].astype(float),
            "source": "human",
        }
    )
    llm_labels = pl.DataFrame(
        {
            "query_id": q_of_doc,
            "doc_id": did,
            "label": llm.astype(float),
            "source": "llm",
            "annotator": "simulated",
        }
    )
    tables = {
        "queries": queries,
        "documents": documents,
        "candidates": candidates,
        "labels": {"human": human_labels, "llm": llm_labels},
        "metadata": {"simulated": True, "seed": p.seed},
    }
    latent = {
        "queries": pl.DataFrame(
            {
                "query_id": qid,
                "intent": np.where(q["nav"], "navigational", "informational"),
                "topic": q["topic"],
                "popularity": stored(q["pop"]),
                "frequency": q["freq"],
            }
        ),
        "pairs": pl.DataFrame(
            {
                "query_id": q_of_doc,
                "doc_id": did,
                "match": stored(d["match"]),
                "authority": stored(a),
                "utility": stored(utility),
            }
        ),
    }
    return tables, latent, log


def write_world(params: WorldParams, out: str | Path, *, overwrite: bool = False) -> Path:
    """Simulate and write a dataset folder with ``world.json`` and ``latent/``, atomically
    (an existing folder only with ``overwrite``: :func:`gbltr.data.store.write_dataset`)."""
    check_dataset_out(out, command="simulate", overwrite=overwrite)  # before the simulation
    checkpoint("simulate")
    tables, latent, log = _simulate(params)
    return write_dataset(SearchDataset(**tables), out, extra_json={WORLD_FILE: params.to_json()},
                         extra_parquet={f"latent/{name}": frame for name, frame in latent.items()},
                         overwrite=overwrite, impression_chunks=log.frames(), command="simulate")
