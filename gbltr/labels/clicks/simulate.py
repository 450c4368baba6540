"""Click logs simulated from known click-model parameters (recovery tests and benchmarks).

:func:`simulate_log` draws ``n_sessions`` SERPs of ``n_positions`` results: each session picks a
query (uniformly, or Zipf-like with ``zipf``), shows a random permutation's first
``n_positions`` of the query's ``docs_per_query`` documents, and clicks by the chosen model's
generative process (Chuklin, Markov & de Rijke 2015, ch. 3), vectorised over sessions, one
position at a time. Truth: ``alpha`` and ``sigma`` per pair, ``theta`` by position (PBM),
``gamma`` [P, P+1] by (position, previous click; UBM) or the scalar ``continuation`` (DBN).

``examination_eta``: PBM's theta_r = r^-eta (0.7 by default; the built-in world's log uses 1.2).
``attractiveness``: the Beta(a, b) that alpha is drawn from. ``ranking_noise``: None shows each query's documents in a random order; a number ranks them by
``alpha + N(0, ranking_noise)`` per session, so that, as in a real log, the attractive documents sit
high and the others are shown low, where few users look (the case where a prior on
attractiveness biases examination, issue 23).
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
                 n_positions: int = 10, continuation: float = 0.9, zipf: float = 0.0, seed: int = 0,
                 examination_eta: float = 0.7, ranking_noise: float | None = None,
                 attractiveness: tuple[float, float] = (1.0, 2.5)) -> SimulatedLog:
    if model not in GENERATORS:
        raise unknown_choice("simulated click model", model, GENERATORS)
    rng = np.random.default_rng(seed)
    P = n_positions
    n_pairs = n_queries * docs_per_query
    alpha = rng.beta(*attractiveness, n_pairs)
    sigma = rng.beta(2.0, 2.0, n_pairs)
    theta = 1.0 / np.arange(1, P + 1) ** examination_eta
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
    if ranking_noise is not None:  # by noisy attractiveness, best first
        keys = -(alpha.reshape(n_queries, docs_per_query)[query] + ranking_noise * rng.standard_normal(keys.shape))
    if P < docs_per_query and ranking_noise is None:
        order = np.argpartition(keys, P - 1, axis=1)[:, :P]
    else:
        order = np.argsort(keys, axis=1)[:, :P]
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
