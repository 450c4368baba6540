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

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gbltr.errors import ConfigError, DeviceError, ModelError
from gbltr.progress import lightgbm_callback
from gbltr.threads import use_threads
from gbltr.train.backends.base import Backend, TrainRequest
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


class LightGBMBackend(Backend):
    """LightGBM: per-row weights, positions, custom objectives, bin references (registry:
    :data:`gbltr.train.backends.REGISTRY`)."""

    name = "lightgbm"
    _bins: dict | None = None  # inside bins_reused(): dataset key -> that matrix's constructed Datasets

    @contextmanager
    def bins_reused(self):
        """Within this block a training matrix is binned once. A later fit on the same array (and
        the same parameters) that differs only in its objective trains on the first fit's
        constructed Datasets themselves; one that differs in more (labels, weights, an
        ``init_model`` to continue) takes them as ``reference=``, which copies the bin boundaries
        instead of finding them again. Either way the bins, so the models, are the ones a fresh
        fit makes. The Datasets are dropped when the block ends."""
        outer = self._bins
        self._bins = {} if outer is None else outer
        try:
            yield
        finally:
            self._bins = outer

    def _bin_key(self, X, names, params) -> tuple | None:
        if self._bins is None:
            return None
        settings = {k: v for k, v in params.items() if k not in ("objective", "learning_rate")}  # not the bins' business
        return id(X), X.shape, str(names), repr(sorted(settings.items(), key=lambda kv: kv[0]))

    def train(self, request: TrainRequest) -> FittedRanker:
        """Train a booster. ``objective``: None for built-in lambdarank, else a ranking objective
        ``fn(scores, group_ptr) -> (grad, hess)`` adapted by :mod:`gbltr.train.backends.custom`.
        ``bin_reference``: a feature matrix whose feature histograms (bin boundaries) are used
        instead of ``train_X``'s; the stacked FAMOL form passes the unstacked rows, since doubling
        every row changes LightGBM's count-based bin merging. ``position``: [n_rows] displayed
        positions (0-based): unbiased lambdarank, which learns a position bias factor per position
        alongside the ranker (LightGBM's ``position`` Dataset field, Wang et al. 2018)."""
        r = request
        r.refuse_unsupported(self.name, self.capabilities)
        lgb = _lgb()
        params = params_for(r.cfg, seed=r.seed, label_gain=r.label_gain, eval_at=r.eval_at, device=r.cfg.device,
                            weighted=r.row_weight is not None or r.objective is not None or r.position is not None)
        if r.position is not None and r.objective is not None:
            raise ConfigError("unbiased lambdarank (position) works with the built-in objective only, not a custom one")
        if r.min_data_in_leaf is not None:
            params["min_data_in_leaf"] = r.min_data_in_leaf
        if r.objective is not None:
            params["objective"] = lightgbm_objective(r.objective)
        names = list(r.feature_names) if r.feature_names is not None else "auto"
        binned_X = r.train_X if r.bin_reference is None else r.bin_reference
        key = self._bin_key(binned_X, names, params)
        hit = None if key is None else self._bins.get(key)
        hit = hit if hit is not None and hit["X"] is binned_X else None  # not a different array at a recycled id
        if hit is not None and r.bin_reference is None and r.init_model is None and _same_data(hit, r):
            dtrain, dvalid = hit["dtrain"], hit["dvalid"]  # nothing but the objective differs: the very Datasets
        else:
            reference = None if hit is None else hit["reference"]
            if r.bin_reference is not None and reference is None:
                reference = lgb.Dataset(r.bin_reference, feature_name=names, free_raw_data=False).construct()
            dtrain = lgb.Dataset(r.train_X, label=np.maximum(r.train_y, 0), group=r.train_groups,
                                 weight=r.row_weight, feature_name=names, free_raw_data=False, reference=reference,
                                 position=r.position)
            dvalid = lgb.Dataset(r.valid_X, label=r.valid_y, group=r.valid_groups, reference=dtrain)
            if key is not None and hit is None:
                self._bins[key] = {"X": binned_X, "reference": reference if r.bin_reference is not None else dtrain,
                                   "dtrain": dtrain if r.init_model is None else None, "dvalid": dvalid, "request": r}
        history: dict = {}
        bar = lightgbm_callback(r.n_rounds)
        callbacks = [lgb.record_evaluation(history), bar]
        if r.stop:
            callbacks.append(lgb.early_stopping(r.stop, first_metric_only=True, verbose=False))
        booster = lgb.train(
            params, dtrain, num_boost_round=r.n_rounds, valid_sets=[dvalid], valid_names=["valid"],
            callbacks=callbacks, init_model=r.init_model,
        )
        bar.close()
        curve = list(history.get("valid", {}).get(f"ndcg@{r.eval_at}", []))
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        return self.fitted(booster, int(best), curve)

    def fitted(self, booster, best_iteration: int, history=()) -> FittedRanker:
        return FittedRanker(self.name, booster, tuple(map(str, booster.feature_name())), int(best_iteration),
                            list(history))

    def load(self, path) -> FittedRanker:
        """The booster saved at ``path`` (all its trees are the kept ones); ModelError if it does not load."""
        lgb = _lgb()
        _check_model_text(path)
        try:
            booster = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as exc:
            raise ModelError(f"LightGBM model file {str(path)!r} does not load ({exc}); expected a model.txt "
                             "written by 'gbltr fit' (the file may be truncated or corrupt)") from None
        return self.fitted(booster, booster.current_iteration())

    def predict(self, model, X):
        return np.asarray(model.booster.predict(X, num_iteration=model.best_iteration), dtype=np.float64)

    def contributions(self, model, X):
        out = model.booster.predict(X, num_iteration=model.best_iteration, pred_contrib=True)
        return np.asarray(out, dtype=np.float64)

    def kept_booster(self, model):
        if model.best_iteration >= model.booster.current_iteration():
            return model.booster
        lgb = _lgb()
        return lgb.Booster(model_str=model.booster.model_to_string(num_iteration=model.best_iteration))

    def save(self, model, folder):
        path = Path(folder) / self.model_file
        model.booster.save_model(str(path), num_iteration=model.best_iteration)
        return path

    def split_gains(self, model) -> dict[str, float]:
        return dict(zip(model.booster.feature_name(),
                        model.booster.feature_importance("gain", iteration=model.best_iteration)))

    def forest(self, model):
        """LightGBM's ``value <= threshold`` trees (double thresholds), base score 0."""
        from gbltr.serve.trees import Forest

        dump = model.booster.dump_model(num_iteration=model.best_iteration)
        names = tuple(dump["feature_names"])
        trees = []
        for info in dump["tree_info"]:
            nodes: list = []
            _lgb_node(info["tree_structure"], nodes, names)
            trees.append(tuple(nodes))
        return Forest(self.name, names, tuple(trees), 0.0)


def _same_data(hit: dict, r: TrainRequest) -> bool:
    """Whether ``r`` trains on exactly the rows, labels, groups and weights of the cached Datasets."""
    c = hit["request"]
    if hit["dtrain"] is None or c.valid_X is not r.valid_X:
        return False
    pairs = [(c.train_y, r.train_y), (c.train_groups, r.train_groups), (c.row_weight, r.row_weight),
             (c.position, r.position), (c.valid_y, r.valid_y), (c.valid_groups, r.valid_groups)]
    return all((a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
               for a, b in pairs)


def _lgb_node(d: dict, nodes: list, names) -> int:
    from gbltr.serve.trees import Node

    i = len(nodes)
    if "leaf_value" in d or "split_feature" not in d:
        nodes.append(Node(value=float(d.get("leaf_value", 0.0))))
        return i
    feature = int(d["split_feature"])
    if d["decision_type"] != "<=":
        raise ModelError(
            f"LightGBM tree has a categorical split on {names[feature]!r} (decision_type "
            f"{d['decision_type']!r}); the engines' tree models compare numbers only. Retrain "
            "without categorical_feature"
        )
    threshold = float(d["threshold"])
    missing = d.get("missing_type", "None")
    if missing == "Zero":
        raise ModelError(
            f"LightGBM split on {names[feature]!r} treats zeros as missing (missing_type Zero, "
            "zero_as_missing=true); no engine tree format can send zeros to a default side. "
            "Retrain with zero_as_missing=false"
        )
    if missing == "NaN":
        missing_left = bool(d["default_left"])
    else:  # None: a NaN is read as 0.0 and compared
        missing_left = 0.0 <= threshold
    nodes.append(Node())  # placeholder, children are numbered after it
    left = _lgb_node(d["left_child"], nodes, names)
    right = _lgb_node(d["right_child"], nodes, names)
    nodes[i] = Node(feature, threshold, "<=", missing_left, left, right)
    return i


def _check_model_text(path) -> None:
    """Refuse a truncated or foreign model.txt before LightGBM parses it: LightGBM parses trees
    in OpenMP threads and a format error there aborts the whole process (uncatchable), so the
    structure is checked here: the ``tree`` header, one ``Tree=i`` block per ``tree_sizes`` entry,
    each with its ``leaf_value``, and the ``end of trees`` marker."""
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


BACKEND = LightGBMBackend()
