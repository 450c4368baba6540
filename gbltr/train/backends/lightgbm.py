"""LightGBM lambdarank backend (Burges 2010; Ke et al. 2017).

Built-in ``objective="lambdarank"`` or a callable objective from :mod:`gbltr.train.objectives`.
Early stopping and model selection use the validation queries' human labels (``metric=ndcg``
at the largest evaluation cut-off; LightGBM scores queries with no relevant document as 1, and
single-grade queries score 1 under any ranking: constants that do not change which iteration is
best, so early stopping agrees with the exclusions of :func:`gbltr.evaluate.metrics.query_status`).

Device: the PyPI wheel has no CUDA learner (``device_type="cuda"`` needs a CUDA build). Its
CUDA ranking kernels ignore per-row weights and positions, so gbltr refuses weighted ranking
on it rather than train a silently different model.
"""

from __future__ import annotations

import numpy as np

from gbltr.errors import ConfigError, DeviceError, ModelError
from gbltr.progress import lightgbm_callback
from gbltr.threads import use_threads
from gbltr.train.backends.custom import lightgbm_objective
from gbltr.train.model import FittedRanker


def _lgb():
    try:
        import lightgbm
    except ImportError as exc:  # pragma: no cover - lightgbm is a core dependency
        raise DeviceError("the lightgbm backend needs the 'lightgbm' package: pip install lightgbm") from exc
    return lightgbm


def cuda_available() -> bool:
    """Whether this LightGBM build has the CUDA tree learner (the PyPI wheel does not)."""
    lgb = _lgb()
    X = np.random.default_rng(0).random((50, 2))
    try:
        lgb.train({"device_type": "cuda", "verbosity": -1, "num_leaves": 2}, lgb.Dataset(X, X[:, 0]), 1)
    except Exception:
        return False
    return True


def params_for(cfg, *, seed: int, label_gain, eval_at: int, device: str, weighted: bool) -> dict:
    params = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [eval_at],
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "feature_fraction": cfg.feature_fraction,
        "lambda_l2": cfg.lambda_l2,
        "lambdarank_truncation_level": cfg.truncation_level,
        "label_gain": list(label_gain),
        "num_threads": use_threads(cfg.threads),  # also numba's, for callable objectives
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if device == "cuda":
        if not cuda_available():
            raise DeviceError(
                "--device cuda with --backend lightgbm needs a LightGBM built with CUDA; the installed "
                "one has no CUDA tree learner (the PyPI wheel only has OpenCL 'gpu'). Use "
                "--backend xgboost --device cuda, or build LightGBM with -DUSE_CUDA=ON"
            )
        if weighted:
            raise DeviceError(
                "LightGBM's CUDA ranking objective ignores per-row weights, so this weighted "
                "(fused/stacked) training would silently differ from the CPU model; use "
                "--device cpu or --backend xgboost --device cuda"
            )
        params["device_type"] = "cuda"
    return params


def train(
    train_X, train_y, train_groups, valid_X, valid_y, valid_groups, cfg, *,
    seed: int, label_gain, eval_at: int = 10, objective=None, row_weight=None,
    init_model=None, rounds: int | None = None, early_stopping: int | None = None,
    min_data_in_leaf: int | None = None, feature_names=None, bin_reference=None, position=None,
) -> FittedRanker:
    """Train a booster. ``objective``: None for built-in lambdarank, else a kernel
    ``fn(scores, group_ptr) -> (grad, hess)`` adapted by :mod:`gbltr.train.backends.custom`.
    ``bin_reference``: a feature matrix whose feature histograms (bin boundaries) are used
    instead of ``train_X``'s; the stacked FAMOL form passes the unstacked rows, since doubling
    every row changes LightGBM's count-based bin merging. ``position``: [n_rows] displayed
    positions (0-based): unbiased lambdarank, which learns a position bias factor per position
    alongside the ranker (LightGBM's ``position`` Dataset field, Wang et al. 2018)."""
    lgb = _lgb()
    params = params_for(cfg, seed=seed, label_gain=label_gain, eval_at=eval_at, device=cfg.device,
                        weighted=row_weight is not None or objective is not None or position is not None)
    if position is not None and objective is not None:
        raise ConfigError("unbiased lambdarank (position) works with the built-in objective only, not a custom one")
    if min_data_in_leaf is not None:
        params["min_data_in_leaf"] = min_data_in_leaf
    if objective is not None:
        params["objective"] = lightgbm_objective(objective)
    names = list(feature_names) if feature_names is not None else "auto"
    reference = None
    if bin_reference is not None:
        reference = lgb.Dataset(bin_reference, feature_name=names, free_raw_data=False).construct()
    dtrain = lgb.Dataset(train_X, label=np.maximum(train_y, 0), group=train_groups, weight=row_weight,
                         feature_name=names, free_raw_data=False, reference=reference, position=position)
    dvalid = lgb.Dataset(valid_X, label=valid_y, group=valid_groups, reference=dtrain)
    history: dict = {}
    bar = lightgbm_callback(rounds or cfg.rounds)
    callbacks = [lgb.record_evaluation(history), bar]
    stop = cfg.early_stopping if early_stopping is None else early_stopping
    if stop:
        callbacks.append(lgb.early_stopping(stop, first_metric_only=True, verbose=False))
    booster = lgb.train(
        params, dtrain, num_boost_round=rounds or cfg.rounds, valid_sets=[dvalid], valid_names=["valid"],
        callbacks=callbacks, init_model=init_model,
    )
    bar.close()
    curve = list(history.get("valid", {}).get(f"ndcg@{eval_at}", []))
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    return FittedRanker("lightgbm", booster, tuple(map(str, booster.feature_name())), int(best), curve)


def load(path) -> FittedRanker:
    """The booster saved at ``path`` (all its trees are the kept ones); ModelError if it does not load."""
    lgb = _lgb()
    _check_model_text(path)
    try:
        booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as exc:
        raise ModelError(f"LightGBM model file {str(path)!r} does not load ({exc}); expected a model.txt "
                         "written by 'gbltr fit' (the file may be truncated or corrupt)") from None
    return FittedRanker("lightgbm", booster, tuple(booster.feature_name()), booster.current_iteration())


def _check_model_text(path) -> None:
    """Refuse a truncated or foreign model.txt before LightGBM parses it: LightGBM parses trees
    in OpenMP threads and a format error there aborts the whole process (uncatchable), so the
    structure is checked here: the ``tree`` header, one ``Tree=i`` block per ``tree_sizes`` entry,
    each with its ``leaf_value``, and the ``end of trees`` marker."""
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"LightGBM model file {str(path)!r} cannot be read as text ({exc}); expected a model.txt") from None
    problem = None
    sizes = next((line.split("=", 1)[1].split() for line in text.splitlines()[:40] if line.startswith("tree_sizes=")), None)
    if not text.startswith("tree\n"):
        problem = "it does not start with the 'tree' header"
    elif "\nend of trees\n" not in text:
        problem = "it has no 'end of trees' marker (truncated?)"
    else:
        blocks = text.split("\nend of trees\n", 1)[0].split("\nTree=")[1:]
        if sizes is None or len(blocks) != len(sizes):
            problem = f"tree_sizes lists {len(sizes or [])} trees but {len(blocks)} Tree= blocks are present"
        elif any("\nleaf_value=" not in b for b in blocks):
            problem = "a tree block has no leaf_value line"
    if problem:
        raise ModelError(f"LightGBM model file {str(path)!r} is corrupt: {problem}; expected a complete model.txt "
                         "written by 'gbltr fit'")
