"""Queries of the simulated world: popularity, frequency, intent, terms, and the split.

Queries
    Popularity follows a truncated power law, density ``p(x) ~ x^-frequency_exponent`` on
    ``[1, frequency_range]``; the expected sessions of a query are its share of ``sessions``, and
    its frequency (sessions in the log) is a Poisson draw around that, so the tail has a handful
    of sessions or none. Each query has a topic and 1-4 terms drawn from the topic's head terms.
Intent depends on frequency
    ``P(navigational) = sigmoid(intent_bias + intent_coupling * z)``, ``z`` the standardised log
    popularity. Navigational queries are shorter. Human judges weigh a page's authority by
    ``authority_weight_nav`` on navigational and ``authority_weight_info`` on informational
    queries, semantic match by the rest (:mod:`gbltr.data.simulate.judges`). ``intent_coupling =
    0`` is the control world (:func:`gbltr.data.world.control_world`), in which intent does not
    depend on frequency.
Split
    Validation and test queries (the judged ones) are drawn per frequency bucket, so that every
    bucket has ``test_queries_per_bucket`` test and ``valid_queries_per_bucket`` validation
    queries; the rest train.
"""

from __future__ import annotations

import numpy as np

from gbltr.buckets import BUCKETS, BucketSpec
from gbltr.data.simulate.laws import _sigmoid
from gbltr.data.world import WorldParams
from gbltr.errors import DataError


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

