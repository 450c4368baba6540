"""Sessions and clicks of the simulated log: a position-based click model with dwell times.

Clicks
    Position-based model (Richardson et al. 2007; Chuklin et al. 2015): a session shows the top
    ``display_k`` of the candidate ranking perturbed by ``N(0, session_noise)``; examination at
    rank k is ``k^-examination_eta`` (the steep decay of the TianGong-ST click matrix in
    ``shared/data/click-sim`` was the reference; it is not read at run time); attractiveness is
    ``sigmoid(click_bias + click_relevance * u + brand_bias * a + e_d)`` with a per-document
    ``e_d ~ N(0, click_noise)``, ``u`` the utility the human judges grade
    (:mod:`gbltr.data.simulate.judges`) and ``a`` the latent authority. Clicked results get a
    log-normal dwell time, ``exp(N(3 + 2 u, 0.8^2))`` seconds, stored to the millisecond
    (:mod:`gbltr.data.simulate.resolution`).

Each query's sessions are its frequency (:mod:`gbltr.data.simulate.queries`); sessions are
simulated :data:`_SESSION_DRAWS` at a time and their impressions become tables a chunk at a time
(:class:`_Log`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gbltr.data.simulate import chunking, resolution
from gbltr.data.simulate.chunking import _ahead, _small_int
from gbltr.data.simulate.ids import _id_strings
from gbltr.data.simulate.laws import _sigmoid
from gbltr.progress import progress

#: Sessions simulated per pass. Part of the world's definition: each pass draws its session noise
#: and then its clicks, so another value interleaves the random stream differently.
_SESSION_DRAWS = 100_000


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
        frame = chunking._FRAME_SESSIONS  # read at call time: tests patch it in chunking
        with progress(total=self.rows, desc="impressions", unit="row") as bar:
            while self.chunks:
                lo, sq_all, shown_all, doc_all, click_all, pos_all = self.chunks.pop(0)
                ends = np.concatenate([[0], np.cumsum(shown_all, dtype=np.int64)])
                for a in range(0, sq_all.size, frame):
                    b = min(a + frame, sq_all.size)
                    sq, shown = sq_all[a:b], shown_all[a:b]
                    rows = slice(ends[a], ends[b])
                    doc, click, pos = doc_all[rows], click_all[rows], pos_all[rows]
                    dwell = resolution.stored(rng.lognormal(3.0 + 2.0 * self.utility[doc], 0.8),
                                              resolution.DWELL_DECIMALS)
                    dwell = np.where(click, dwell, np.nan)
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

