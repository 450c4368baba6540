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

from pathlib import Path

import numpy as np

from gbltr.errors import ConfigError, DeviceError, ModelError
from gbltr.progress import xgboost_callback
from gbltr.threads import use_threads
from gbltr.groups import group_ptr_from_sizes
from gbltr.train.backends.base import Backend, TrainRequest
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


class XGBoostBackend(Backend):
    """XGBoost: one weight per query group, positions, custom objectives (registry:
    :data:`gbltr.train.backends.REGISTRY`)."""

    name = "xgboost"

    def train(self, request: TrainRequest) -> FittedRanker:
        """Train a booster. ``objective``: None for built-in rank:ndcg, else a ranking objective
        ``fn(scores, group_ptr) -> (grad, hess)``. ``row_weight`` is refused: XGBoost ranking
        takes one weight per query group (``group_weight``). ``position`` [n_rows]: rows are in
        displayed order within each query, so ``lambdarank_unbiased=True`` (XGBoost's
        position-debiased lambdarank) applies; the values themselves are checked to be
        non-decreasing per query."""
        r = request
        xgb = _xgb()
        if r.row_weight is not None:
            raise ConfigError("XGBoost ranking takes one weight per query group, not per row (inverse-propensity "
                              "weights are per row); use --backend lightgbm, or --debias for lambdarank_unbiased")
        r.refuse_unsupported(self.name, self.capabilities, fix=" (a LightGBM setting; use --backend lightgbm)")
        if r.objective is None:
            _check_labels(r.train_y, r.label_gain)
        params = {k: v for k, v in params_for(r.cfg, seed=r.seed, eval_at=r.eval_at, device=r.cfg.device).items()
                  if v is not None}
        if r.position is not None:
            if r.objective is not None:
                raise ConfigError("lambdarank_unbiased works with the built-in rank:ndcg only, not a custom objective")
            pos = np.asarray(r.position)
            ptr = group_ptr_from_sizes(r.train_groups)
            starts = np.zeros(pos.size, bool)
            starts[ptr[:-1][ptr[:-1] < pos.size]] = True
            if np.any((np.diff(pos) < 0) & ~starts[1:]):
                raise ConfigError("lambdarank_unbiased needs rows in displayed-position order within each query")
            params["lambdarank_unbiased"] = True
        dtrain = _dmatrix(r.train_X, r.train_y, r.train_groups, r.feature_names, r.group_weight)
        dvalid = _dmatrix(r.valid_X, r.valid_y, r.valid_groups, r.feature_names)
        obj = None
        if r.objective is not None:
            obj = xgboost_objective(r.objective)
            params.pop("objective")
            params["base_score"] = 0.0
        history: dict = {}
        booster = xgb.train(
            params, dtrain, num_boost_round=r.n_rounds, evals=[(dvalid, "valid")], obj=obj,
            early_stopping_rounds=r.stop or None, evals_result=history, verbose_eval=False, xgb_model=r.init_model,
            callbacks=[xgboost_callback(r.n_rounds)],
        )
        curve = list(history.get("valid", {}).get(f"ndcg@{r.eval_at}", []))
        best = booster.best_iteration + 1 if r.stop and hasattr(booster, "best_iteration") else booster.num_boosted_rounds()
        return self.fitted(booster, int(best), curve)

    def fitted(self, booster, best_iteration: int, history=()) -> FittedRanker:
        return FittedRanker(self.name, booster, tuple(booster.feature_names or ()), int(best_iteration), list(history))

    def load(self, path) -> FittedRanker:
        """The booster saved at ``path`` (all its trees are the kept ones); ModelError if it does not load."""
        xgb = _xgb()
        try:
            booster = xgb.Booster(model_file=str(path))
        except xgb.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise ModelError(f"XGBoost model file {str(path)!r} does not load ({first}); expected a model.json "
                             "written by 'gbltr fit' (the file may be truncated or corrupt)") from None
        return self.fitted(booster, booster.num_boosted_rounds())

    def _dm(self, model, X):
        return _xgb().DMatrix(X, feature_names=list(model.feature_names) or None)

    def predict(self, model, X):
        out = model.booster.predict(self._dm(model, X), iteration_range=(0, model.best_iteration), output_margin=True)
        return np.asarray(out, dtype=np.float64)

    def contributions(self, model, X):
        out = model.booster.predict(self._dm(model, X), iteration_range=(0, model.best_iteration), pred_contribs=True)
        return np.asarray(out, dtype=np.float64)

    def kept_booster(self, model):
        return model.booster[: model.best_iteration]

    def save(self, model, folder):
        path = Path(folder) / self.model_file
        self.kept_booster(model).save_model(str(path))
        return path

    def split_gains(self, model) -> dict[str, float]:
        return self.kept_booster(model).get_score(importance_type="total_gain")

    def forest(self, model):
        """XGBoost's ``value < threshold`` trees (float32 thresholds) and its base score."""
        import json

        from gbltr.serve.trees import Forest, Node

        booster = model.booster[: model.best_iteration] if model.best_iteration < model.booster.num_boosted_rounds() \
            else model.booster
        raw = json.loads(booster.save_raw("json"))
        learner = raw["learner"]
        names = tuple(learner.get("feature_names") or model.feature_names)
        base = learner["learner_model_param"]["base_score"].strip("[]").split(",")[0]
        gb = learner["gradient_booster"]
        if "model" not in gb:
            raise ModelError(f"XGBoost booster {gb.get('name')!r}; only tree boosters (gbtree) export")
        trees = []
        for t in gb["model"]["trees"]:
            left, right = t["left_children"], t["right_children"]
            split_type = t.get("split_type", [0] * len(left))
            nodes = []
            for j in range(len(left)):
                if left[j] == -1:
                    nodes.append(Node(value=float(t["split_conditions"][j])))
                    continue
                feature = int(t["split_indices"][j])
                if split_type[j] != 0:
                    raise ModelError(
                        f"XGBoost tree has a categorical split on {names[feature]!r}; the engines' tree "
                        "models compare numbers only. Retrain without enable_categorical"
                    )
                nodes.append(Node(feature, float(np.float32(t["split_conditions"][j])), "<",
                                  bool(t["default_left"][j]), int(left[j]), int(right[j])))
            trees.append(tuple(nodes))
        return Forest(self.name, names, tuple(trees), float(base))


BACKEND = XGBoostBackend()
