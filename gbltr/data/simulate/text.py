"""Text of the simulated documents: title and body tokens from a Zipfian vocabulary.

Text
    Terms ``t0 .. t<vocab_size - 1>`` follow Zipf's law (``term_zipf_exponent``) in each topic's
    own order (a random permutation per topic, plus a background order). A document's title and
    body tokens are on its query's topic with probability ``0.3 + 0.7 m`` (``m`` its latent
    match, :mod:`gbltr.data.simulate.documents`); query terms appear in the title with
    probability ``0.8 m`` and in the body ``Poisson(4 m^1.5)`` times; the whole query phrase
    appears in order with probability ``m^2``.

Tokens stay integer ids until one numba pass writes the bytes of all texts; filler tokens, the
bulk, are drawn a chunk of documents at a time (:data:`gbltr.data.simulate.chunking._DOC_CHUNK`)
from generators placed where the single pass would be, so any chunk size gives the same texts.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.data.simulate import chunking
from gbltr.data.simulate.chunking import _ahead, _skip, _small_int
from gbltr.data.simulate.laws import _zipf_cdf
from gbltr.data.world import WorldParams


def _vocabulary(p: WorldParams, rng: np.random.Generator):
    """(topic-term table, cumulative term probabilities): row k of the table is topic k's terms,
    most likely first; the last row is the background order."""
    topic_terms = np.stack([rng.permutation(p.vocab_size) for _ in range(p.topics + 1)])
    return topic_terms, _zipf_cdf(p.vocab_size, p.term_zipf_exponent)


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
    """The texts of one field, :data:`chunking._DOC_CHUNK` documents at a time: filler tokens from
    ``filler`` plus the ``extra`` pieces ``(counts, ids, keys)`` (in document order)."""
    vocab = _vocab_bytes(vocab)
    starts = [np.concatenate([[0], np.cumsum(c)]) for c, _, _ in extra]
    parts = []
    size = chunking._DOC_CHUNK  # read at call time: tests patch it in chunking
    for lo in range(0, nd, size):
        hi = min(lo + size, nd)
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

