"""XGBoost ``rank:ndcg`` backend (Chen & Guestrin 2016), built-in or with a custom objective.

Rows arrive sorted by query (XGBoost needs sorted ``qid``); groups are passed as sizes. Its
ranking weights are one per query group and are renormalised, unlike LightGBM's per-row
weights. ``lambdarank_pair_method="topk"`` with ``lambdarank_num_pair_per_sample`` set to the
truncation level matches LightGBM's truncation. Custom objectives go through ``xgb.train(obj=)``
(``XGBRanker`` refuses callables), reading groups from ``group_ptr``.

Device: ``--device cuda`` sets ``device="cuda"`` (GPU tree building); without a visible CUDA
GPU it fails with a clear message instead of falling back silently.
"""

from __future__ import annotations

import numpy as np

from gbltr.errors import ConfigError, DeviceError, ModelError
from gbltr.progress import xgboost_callback
from gbltr.threads import use_threads
from gbltr.train.backends.custom import xgboost_objective
from gbltr.train.model import FittedRanker

EXP_GAIN_MAX_LABEL = 31  # XGBoost's exponential gain 2^label - 1 is limited to labels < 32


def _xgb():
    import xgboost

    return xgboost


def cuda_available() -> bool:
    """A CUDA device is visible (driver API) and this XGBoost was built with CUDA."""
    xgb = _xgb()
    if not xgb.build_info().get("USE_CUDA", False):
        return False
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return False
    return count.value > 0


def _check_labels(y: np.ndarray, label_gain) -> None:
    if y.size and y.max() > EXP_GAIN_MAX_LABEL:
        raise ConfigError(
            f"XGBoost rank:ndcg uses exponential gain 2^label - 1 and accepts labels up to "
            f"{EXP_GAIN_MAX_LABEL}; found {int(y.max())}. Rescale the labels or use --backend lightgbm"
        )
    expected = [2.0**g - 1 for g in range(len(label_gain))]
    if list(label_gain) != expected:
        raise ConfigError(
            f"XGBoost's built-in rank:ndcg only has the exponential gain 2^g - 1 ({expected}); found "
            f"gain table {list(label_gain)}. Use a custom objective (fusion) or --backend lightgbm"
        )


def params_for(cfg, *, seed: int, eval_at: int, device: str) -> dict:
    if device == "cuda" and not cuda_available():
        raise DeviceError(
            "--device cuda needs a visible NVIDIA GPU and an XGBoost built with CUDA; none found "
            "(no libcuda.so.1 or no device). Use --device cpu"
        )
    return {
        "objective": "rank:ndcg",
        "eval_metric": f"ndcg@{eval_at}",
        "eta": cfg.learning_rate,
        "max_depth": cfg.max_depth,
        "max_leaves": cfg.num_leaves,
        "grow_policy": "lossguide",
        "lambda": cfg.lambda_l2,
        "colsample_bytree": cfg.feature_fraction,
        "tree_method": "hist",
        "device": device,
        "lambdarank_pair_method": "topk",
        "lambdarank_num_pair_per_sample": cfg.truncation_level,
        "nthread": use_threads(cfg.threads),  # also numba's, for callable objectives
        "seed": seed,
    }


def _dmatrix(X, y, groups, names, group_weight=None):
    xgb = _xgb()
    dm = xgb.DMatrix(X, label=np.maximum(y, 0), feature_names=list(names) if names is not None else None)
    dm.set_group(np.asarray(groups, dtype=np.uint32))
    if group_weight is not None:
        dm.set_weight(np.asarray(group_weight, dtype=np.float32))
    return dm


def train(
    train_X, train_y, train_groups, valid_X, valid_y, valid_groups, cfg, *,
    seed: int, label_gain, eval_at: int = 10, objective=None, group_weight=None,
    init_model=None, rounds: int | None = None, early_stopping: int | None = None,
    feature_names=None, row_weight=None, min_data_in_leaf=None, position=None,
) -> FittedRanker:
    """Train a booster. ``objective``: None for built-in rank:ndcg, else a kernel
    ``fn(scores, group_ptr) -> (grad, hess)``. ``row_weight`` is refused: XGBoost ranking
    takes one weight per group (``group_weight``). ``position`` [n_rows]: rows are in displayed
    order within each query, so ``lambdarank_unbiased=True`` (XGBoost's position-debiased
    lambdarank) applies; the values themselves are checked to be non-decreasing per query."""
    xgb = _xgb()
    if row_weight is not None:
        raise ConfigError("XGBoost ranking takes one weight per query group, not per row (inverse-propensity "
                          "weights are per row); use --backend lightgbm, or --debias for lambdarank_unbiased")
    if objective is None:
        _check_labels(train_y, label_gain)
    params = {k: v for k, v in params_for(cfg, seed=seed, eval_at=eval_at, device=cfg.device).items() if v is not None}
    if position is not None:
        if objective is not None:
            raise ConfigError("lambdarank_unbiased works with the built-in rank:ndcg only, not a custom objective")
        pos = np.asarray(position)
        ptr = np.r_[0, np.cumsum(train_groups)]
        starts = np.zeros(pos.size, bool)
        starts[ptr[:-1][ptr[:-1] < pos.size]] = True
        if np.any((np.diff(pos) < 0) & ~starts[1:]):
            raise ConfigError("lambdarank_unbiased needs rows in displayed-position order within each query")
        params["lambdarank_unbiased"] = True
    dtrain = _dmatrix(train_X, train_y, train_groups, feature_names, group_weight)
    dvalid = _dmatrix(valid_X, valid_y, valid_groups, feature_names)
    obj = None
    if objective is not None:
        obj = xgboost_objective(objective)
        params.pop("objective")
        params["base_score"] = 0.0
    history: dict = {}
    stop = cfg.early_stopping if early_stopping is None else early_stopping
    booster = xgb.train(
        params, dtrain, num_boost_round=rounds or cfg.rounds, evals=[(dvalid, "valid")], obj=obj,
        early_stopping_rounds=stop or None, evals_result=history, verbose_eval=False, xgb_model=init_model,
        callbacks=[xgboost_callback(rounds or cfg.rounds)],
    )
    curve = list(history.get("valid", {}).get(f"ndcg@{eval_at}", []))
    best = booster.best_iteration + 1 if stop and hasattr(booster, "best_iteration") else booster.num_boosted_rounds()
    return FittedRanker("xgboost", booster, tuple(booster.feature_names or ()), int(best), curve)


def load(path) -> FittedRanker:
    """The booster saved at ``path`` (all its trees are the kept ones); ModelError if it does not load."""
    xgb = _xgb()
    try:
        booster = xgb.Booster(model_file=str(path))
    except xgb.core.XGBoostError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ModelError(f"XGBoost model file {str(path)!r} does not load ({first}); expected a model.json "
                         "written by 'gbltr fit' (the file may be truncated or corrupt)") from None
    return FittedRanker("xgboost", booster, tuple(booster.feature_names or ()), booster.num_boosted_rounds())
