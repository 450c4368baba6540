"""Backend-neutral trees: a LightGBM or XGBoost booster as a list of plain decision trees.

Each exporter (:mod:`gbltr.serve.export`) writes these trees in its engine's form. Each backend
reads its own library's dump into them (:meth:`gbltr.train.backends.base.Backend.forest`:
``LightGBMBackend.forest``, ``XGBoostBackend.forest``), with these split semantics:

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

from dataclasses import dataclass

import numpy as np


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

    @property
    def splits_at_or_below(self) -> bool:
        """Whether a split sends ``value <= threshold`` left (LightGBM's form), which engines that
        compare ``value < threshold`` receive converted (:func:`f32_floor`)."""
        return any(n.op == "<=" for tree in self.trees for n in tree if not n.is_leaf)

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
    """The trees of a :class:`gbltr.train.model.FittedRanker` (up to its kept iteration), as its
    backend dumps them (:meth:`gbltr.train.backends.base.Backend.forest`)."""
    return model.impl.forest(model)


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
