"""Backend-neutral trees: a LightGBM or XGBoost booster as a list of plain decision trees.

Each exporter (:mod:`gbltr.serve.export`) writes these trees in its engine's form, so the
split semantics of the two libraries are read in one place:

LightGBM (``Booster.dump_model``; ``tree.h`` ``NumericalDecision``)
    ``x <= threshold`` goes left, the threshold a double. A NaN goes to the default side when the
    node's ``missing_type`` is ``NaN``; with ``None`` a NaN is read as 0 and compared. A ``Zero``
    missing type (zeros also take the default side) and categorical splits (``==``) have no form
    in the engines' tree models and are refused.
XGBoost (the JSON model, ``Booster.save_raw("json")``)
    ``x < split_condition`` goes left, compared in float32; a NaN goes to the default side
    (``default_left``). Categorical splits (``split_type`` 1) are refused. The model's
    ``base_score`` is added to every prediction (a margin offset).

Leaf values already include the learning rate in both libraries. A :class:`Forest` predicts
with :meth:`Forest.predict`, used only to check conversions; the exported files are checked
by independent evaluators in the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from gbltr.errors import ModelError as ExportError

@dataclass(frozen=True)
class Node:
    """An internal node (``feature >= 0``) or a leaf (``feature == -1``, ``value`` set).

    ``op`` is ``"<="`` (LightGBM; ``threshold`` a double) or ``"<"`` (XGBoost; ``threshold`` a
    float32 value); a value for which ``value op threshold`` holds goes to ``left``.
    ``missing_left``: where a missing (NaN) value goes.
    """

    feature: int = -1
    threshold: float = 0.0
    op: str = "<="
    missing_left: bool = True
    left: int = -1
    right: int = -1
    value: float = 0.0

    @property
    def is_leaf(self) -> bool:
        return self.feature < 0


@dataclass(frozen=True)
class Forest:
    """Trees whose leaf values sum, plus ``base_score``, to the booster's raw score."""

    backend: str
    feature_names: tuple[str, ...]
    trees: tuple[tuple[Node, ...], ...]
    base_score: float = 0.0

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        out = np.full(X.shape[0], self.base_score, dtype=np.float64)
        for tree in self.trees:
            for r in range(X.shape[0]):
                out[r] += tree[_leaf(tree, X[r])].value
        return out


def _leaf(tree, row) -> int:
    i = 0
    while not tree[i].is_leaf:
        n = tree[i]
        x = row[n.feature]
        if np.isnan(x):
            go_left = n.missing_left
        elif n.op == "<=":
            go_left = float(x) <= n.threshold
        else:
            go_left = np.float32(x) < np.float32(n.threshold)
        i = n.left if go_left else n.right
    return i


def forest_of(model) -> Forest:
    """The trees of a :class:`gbltr.train.model.FittedRanker` (up to its kept iteration)."""
    if model.backend == "lightgbm":
        return _lightgbm(model)
    if model.backend == "xgboost":
        return _xgboost(model)
    raise ExportError(f"model backend {model.backend!r}; expected lightgbm or xgboost")


def _lightgbm(model) -> Forest:
    dump = model.booster.dump_model(num_iteration=model.best_iteration)
    names = tuple(dump["feature_names"])
    trees = []
    for info in dump["tree_info"]:
        nodes: list[Node] = []
        _lgb_node(info["tree_structure"], nodes, names)
        trees.append(tuple(nodes))
    return Forest("lightgbm", names, tuple(trees), 0.0)


def _lgb_node(d: dict, nodes: list, names) -> int:
    i = len(nodes)
    if "leaf_value" in d or "split_feature" not in d:
        nodes.append(Node(value=float(d.get("leaf_value", 0.0))))
        return i
    feature = int(d["split_feature"])
    if d["decision_type"] != "<=":
        raise ExportError(
            f"LightGBM tree has a categorical split on {names[feature]!r} (decision_type "
            f"{d['decision_type']!r}); the engines' tree models compare numbers only. Retrain "
            "without categorical_feature"
        )
    threshold = float(d["threshold"])
    missing = d.get("missing_type", "None")
    if missing == "Zero":
        raise ExportError(
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


def _xgboost(model) -> Forest:
    booster = model.booster[: model.best_iteration] if model.best_iteration < model.booster.num_boosted_rounds() else model.booster
    raw = json.loads(booster.save_raw("json"))
    learner = raw["learner"]
    names = tuple(learner.get("feature_names") or model.feature_names)
    base = learner["learner_model_param"]["base_score"].strip("[]").split(",")[0]
    gb = learner["gradient_booster"]
    if "model" not in gb:
        raise ExportError(f"XGBoost booster {gb.get('name')!r}; only tree boosters (gbtree) export")
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
                raise ExportError(
                    f"XGBoost tree has a categorical split on {names[feature]!r}; the engines' tree "
                    "models compare numbers only. Retrain without enable_categorical"
                )
            nodes.append(Node(feature, float(np.float32(t["split_conditions"][j])), "<",
                              bool(t["default_left"][j]), int(left[j]), int(right[j])))
        trees.append(tuple(nodes))
    return Forest("xgboost", names, tuple(trees), float(base))


# ---------------------------------------------------------------- float32 helpers for exporters

def f32_floor(t: float) -> np.float32:
    """The largest float32 <= ``t`` (``x <= t`` and ``x <= f32_floor(t)`` agree on float32 x)."""
    with np.errstate(over="ignore"):  # thresholds beyond float32's range become +-inf
        f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return f


def as_strict(node: Node) -> np.float32:
    """A float32 ``c`` with ``x < c`` equivalent to the node's test for every float32 ``x``."""
    if node.op == "<":
        return np.float32(node.threshold)
    with np.errstate(over="ignore"):
        return np.nextafter(f32_floor(node.threshold), np.float32(np.inf))


def as_inclusive(node: Node) -> np.float32:
    """A float32 ``c`` with ``x <= c`` equivalent to the node's test for every float32 ``x``."""
    if node.op == "<=":
        return f32_floor(node.threshold)
    return np.nextafter(np.float32(node.threshold), np.float32(-np.inf))


def with_base_folded(forest: Forest) -> Forest:
    """The same predictions with ``base_score`` added to every leaf of the first tree (engines'
    tree models have no intercept); a one-leaf tree when there is no tree."""
    if forest.base_score == 0.0:
        return forest
    if not forest.trees:
        return Forest(forest.backend, forest.feature_names, ((Node(value=forest.base_score),),), 0.0)
    first = tuple(Node(value=n.value + forest.base_score) if n.is_leaf else n for n in forest.trees[0])
    return Forest(forest.backend, forest.feature_names, (first, *forest.trees[1:]), 0.0)
