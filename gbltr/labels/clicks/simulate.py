"""Click logs simulated from known click-model parameters (recovery tests and benchmarks).

:func:`simulate_log` draws ``n_sessions`` SERPs of ``n_positions`` results: each session picks a
query (uniformly, or Zipf-like with ``zipf``), shows a random permutation's first
``n_positions`` of the query's ``docs_per_query`` documents, and clicks by the chosen model's
generative process (Chuklin, Markov & de Rijke 2015, ch. 3), vectorised over sessions, one
position at a time. Truth: ``alpha`` and ``sigma`` per pair, ``theta`` by position (PBM),
``gamma`` [P, P+1] by (position, previous click; UBM) or the scalar ``continuation`` (DBN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gbltr.errors import unknown_choice
from gbltr.labels.clicks.sessions import SessionLog

GENERATORS = ("pbm", "ubm", "dbn", "cascade")


@dataclass(frozen=True)
class SimulatedLog:
    log: SessionLog
    alpha: np.ndarray
    sigma: np.ndarray
    theta: np.ndarray
    gamma: np.ndarray
    continuation: float


def simulate_log(model: str, n_sessions: int, *, n_queries: int = 100, docs_per_query: int = 12,
                 n_positions: int = 10, continuation: float = 0.9, zipf: float = 0.0, seed: int = 0) -> SimulatedLog:
    if model not in GENERATORS:
        raise unknown_choice("simulated click model", model, GENERATORS)
    rng = np.random.default_rng(seed)
    P = n_positions
    n_pairs = n_queries * docs_per_query
    alpha = rng.beta(1.0, 2.5, n_pairs)
    sigma = rng.beta(2.0, 2.0, n_pairs)
    theta = 1.0 / np.arange(1, P + 1) ** 0.7
    r = np.arange(1, P + 1)[:, None]
    rp = np.arange(P + 1)[None, :]
    # UBM: no click above -> 0.9 * 0.85^(r-1); a click at r' above -> 0.95 * 0.8^(r - r' - 1)
    gamma = np.where(rp == 0, 0.9 * 0.85 ** (r - 1), 0.95 * 0.8 ** np.maximum(r - rp - 1, 0)) * (rp < r)
    if zipf > 0:
        w = 1.0 / np.arange(1, n_queries + 1) ** zipf
        query = rng.choice(n_queries, size=n_sessions, p=w / w.sum())
    else:
        query = rng.integers(0, n_queries, n_sessions)
    # first P of a random permutation of each query's documents (argsort of uniform keys)
    keys = rng.random((n_sessions, docs_per_query))
    order = np.argpartition(keys, P - 1, axis=1)[:, :P] if P < docs_per_query else np.argsort(keys, axis=1)[:, :P]
    doc = query[:, None] * docs_per_query + order
    a = alpha[doc]
    u = rng.random((n_sessions, P))
    click = np.zeros((n_sessions, P), bool)
    if model == "pbm":
        click = u < theta[None, :] * a
    elif model == "ubm":
        prev = np.zeros(n_sessions, np.int64)
        for k in range(P):
            click[:, k] = u[:, k] < gamma[k, prev] * a[:, k]
            prev = np.where(click[:, k], k + 1, prev)
    else:
        g, s = (continuation, sigma[doc]) if model == "dbn" else (1.0, np.ones_like(a))
        exam = np.ones(n_sessions, bool)
        v = rng.random((n_sessions, P))
        w = rng.random((n_sessions, P))
        for k in range(P):
            click[:, k] = exam & (u[:, k] < a[:, k])
            satisfied = click[:, k] & (v[:, k] < s[:, k])
            exam = exam & ~satisfied & (w[:, k] < g)
    log_ = SessionLog.from_arrays(doc, click, query)
    return SimulatedLog(log_, alpha, sigma, theta, gamma, continuation)
