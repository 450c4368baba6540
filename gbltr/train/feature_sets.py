"""Train and evaluate on feature-only datasets with human labels (SVMlight / LETOR files).

No log, no text: the file's features and graded labels are all there is, so the training labels
are the file's (human) labels, model selection uses the validation file, and the report has
only the ``overall`` view (no query frequency, so no buckets). Negative labels count as 0 in
evaluation; training needs grades >= 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from gbltr.config import FitConfig
from gbltr.labels.fusion import default_gain
from gbltr.train.dataset import RankingDataset, from_feature_frame


def load_feature_set(path: str | Path, group_file: str | Path | None = None) -> RankingDataset:
    from gbltr.data.svmlight import read_svmlight

    data = read_svmlight(path, group_file=group_file)
    return from_feature_frame(data.frame, data.feature_names)


def fit_feature_sets(train: RankingDataset, valid: RankingDataset, test: RankingDataset, cfg: FitConfig):
    """Train on ``train``'s labels, early-stop on ``valid``, return (model, per-query frame of ``test``)."""
    from gbltr.evaluate.metrics import metric_names, ndcg_per_query
    from gbltr.train.backends import get_backend

    from gbltr.validate import check_trainable

    check_trainable(train, "human", "training file")
    width = max(train.X.shape[1], valid.X.shape[1], test.X.shape[1])
    train, valid, test = (_pad(d, width) for d in (train, valid, test))
    y = np.clip(train.grades("human"), 0, None)
    vy = np.clip(np.nan_to_num(valid.labels["human"]), 0, None)
    gain = default_gain(int(max(y.max(initial=1), vy.max(initial=1))))
    backend = get_backend(cfg.train.backend)
    model = backend.train(train.X, y, train.group_sizes, valid.X, vy, valid.group_sizes, cfg.train, seed=cfg.seed,
                          label_gain=gain, eval_at=10, feature_names=train.feature_names)
    values = ndcg_per_query(model.predict(test.X), test.labels["human"], test.group_ptr, ks=cfg.eval.ks)
    per_query = pl.DataFrame({"query_id": test.query_ids.astype(str)}).with_columns(
        [pl.Series(n, values[:, i]) for i, n in enumerate(metric_names(cfg.eval.ks))])
    return model, per_query


def _pad(ds: RankingDataset, width: int) -> RankingDataset:
    """Sparse files can end at different feature indices: pad with zeros (absent = 0 in SVMlight)."""
    from dataclasses import replace

    if ds.X.shape[1] == width:
        return ds
    X = np.zeros((ds.n_rows, width), np.float32)
    X[:, : ds.X.shape[1]] = ds.X
    return replace(ds, X=X, feature_names=tuple(f"f{i + 1}" for i in range(width)))
