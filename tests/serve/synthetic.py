"""Synthetic ranking rows over catalogue feature names, and tiny rankers trained on them."""

from __future__ import annotations

import numpy as np

from gbltr.config import TrainConfig
from gbltr.train.backends import TrainRequest, get_backend

# All have built-in definitions; doc_pagerank and doc_inlinks_log1p can be missing (catalogue requires).
NAMES = ["bm25_title", "bm25_body", "doc_pagerank", "doc_inlinks_log1p", "query_len", "doc_title_len"]
NULLABLE = (2, 3)
GAIN = [2.0**i - 1 for i in range(5)]


def make_data(seed: int, n_queries: int = 60, per: int = 12, nan_rate: float = 0.2, nan_relevant: bool = False):
    rng = np.random.default_rng(seed)
    n = n_queries * per
    X = rng.random((n, len(NAMES))) * np.array([12, 20, 1, 6, 5, 30])
    X[:, 4] = np.repeat(rng.integers(1, 6, n_queries), per)
    y = np.clip(np.rint(X[:, 0] / 4 + X[:, 2] * 2 + rng.normal(0, 0.5, n)), 0, 4)
    for j in NULLABLE:
        miss = rng.random(n) < nan_rate
        X[miss, j] = np.nan
        if nan_relevant and j == 2:
            y[miss] = 4  # a missing pagerank marks relevant documents: NaN must not go where 0 goes
    return X.astype(np.float32), y, np.full(n_queries, per)


def train(backend: str, X, y, groups, rounds: int = 25):
    cfg = TrainConfig(backend=backend, rounds=rounds, early_stopping=0, min_data_in_leaf=5, num_leaves=15)
    return get_backend(backend).train(TrainRequest(X, y, groups, X, y, groups, cfg, seed=0, label_gain=GAIN, feature_names=NAMES))


