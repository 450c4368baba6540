"""Solr LTR: a feature store and a ``MultipleAdditiveTreesModel``.

Files (bodies for Solr's managed resources)::

    features.json   PUT /solr/COLLECTION/schema/feature-store   [{"store", "name", "class", "params"}, ...]
    model.json      PUT /solr/COLLECTION/schema/model-store
                    {"store", "name", "class": "org.apache.solr.ltr.model.MultipleAdditiveTreesModel",
                     "features": [{"name"}, ...], "params": {"trees": [{"weight": "1.0", "root": NODE}, ...]}}

NODE is ``{"feature", "threshold", "left", "right"}`` or a leaf ``{"value"}`` (numbers as strings,
read as Java floats). Solr sends ``value <= threshold + 1e-6`` (its ``NODE_SPLIT_SLACK``, added in
float32) to ``left``, so each threshold is written as the float32 ``s`` with
``float32(s + 1e-6) == c``, ``c`` the largest float32 that must still go left. Where no such
``s`` exists (a threshold within ~1e-6 of 0, e.g. LightGBM's 1e-35 zero split) the nearest lower
one is used, and ``manifest.json`` notes say how many splits and by how much (values in that gap
go right).

Solr has no missing-value branch: a document without a field gets the feature's value 0
(``FieldValueFeature``); other features always have a value. For a feature that can be missing
(catalogue ``requires`` an optional documents column, or user-defined), a split that sends a
missing value elsewhere than a 0 becomes two splits: first on the indicator feature
``FEATURE__missing`` (``{!func}if(exists(FIELD),0,1)``, added to the store), whose missing side
holds the subtree the booster sends missing values to. That keeps the booster's routing exact.
The model's ``base_score`` is folded into the first tree's leaves.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from gbltr.errors import ConfigError, ModelError
from gbltr.serve.export.definitions import QUERY_PARAM
from gbltr.serve.trees import Forest, as_inclusive

log = logging.getLogger("gbltr")

MODEL_CLASS = "org.apache.solr.ltr.model.MultipleAdditiveTreesModel"
SLACK = np.float32(1e-6)  # Solr's RegressionTreeNode.NODE_SPLIT_SLACK
MISSING_SUFFIX = "__missing"


def solr_threshold(c: np.float32) -> tuple[np.float32, np.float32]:
    """``(s, reached)``: the float32 ``s`` whose Solr threshold ``reached = float32(s + SLACK)``
    is ``c`` when one exists, else the largest reachable value below ``c`` (values in
    ``(reached, c]`` then go right instead of left: only thresholds within ~1e-6 of 0 have none)."""
    c = np.float32(c)
    if not np.isfinite(c):
        return c, c
    s = np.float32(c - SLACK)
    below = None
    for _ in range(256):
        got = np.float32(s + SLACK)
        if got == c:
            return s, c
        if got < c:
            below = s
            nxt = np.nextafter(s, np.float32(np.inf))
            if np.float32(nxt + SLACK) > c:  # c is skipped over: no exact s
                return below, np.float32(below + SLACK)
            s = nxt
        else:
            s = np.nextafter(s, np.float32(-np.inf))
    s = below if below is not None else np.float32(c - np.float32(2) * SLACK)
    return s, np.float32(s + SLACK)


def _feature(d, store: str) -> dict:
    if d.kind == "match":
        cls, params = "org.apache.solr.ltr.feature.SolrFeature", {"q": "{!dismax qf=" + d.target + "}${" + QUERY_PARAM + "}"}
    elif d.kind == "field":
        cls, params = "org.apache.solr.ltr.feature.FieldValueFeature", {"field": d.target}
    elif d.kind == "param":
        cls, params = "org.apache.solr.ltr.feature.ValueFeature", {"value": "${" + d.target + "}", "required": True}
    elif d.kind == "user":
        if not isinstance(d.user, dict) or not {"class", "params"} <= set(d.user):
            raise ConfigError(f"Solr definition of {d.feature!r}: expected {{\"class\", \"params\"}}, found {d.user!r}")
        cls, params = d.user["class"], d.user["params"]
    else:
        cls, params = "org.apache.solr.ltr.feature.ValueFeature", {"value": "0"}
    return {"store": store, "name": d.feature, "class": cls, "params": params}


def _field(defs, feature: str) -> str:
    d = next(d for d in defs if d.feature == feature)
    if d.kind != "field":
        raise ModelError(
            f"Solr export: {feature!r} can be missing and a split sends its missing values elsewhere than "
            f"a 0, but its definition ({d.kind}) is not a document field whose absence Solr can test. "
            "Define it as a field, or export to opensearch/elasticsearch (they have a missing branch)"
        )
    return d.target


def nullable_features(defs, catalogue) -> set[str]:
    """Features whose value can be missing: catalogue ``requires`` a documents column, or user-defined."""
    out = set()
    for d in defs:
        try:
            entry = catalogue.feature(d.feature)
        except Exception:
            out.add(d.feature)
            continue
        if any(r.startswith("documents.") for r in entry.requires):
            out.add(d.feature)
    return out


def write(forest: Forest, defs, folder: Path, *, name: str, catalogue) -> tuple[list[str], list[str]]:
    store = f"{name}-features"
    names = forest.feature_names
    nullable = nullable_features(defs, catalogue)
    indicators: dict[str, str] = {}  # feature -> its missing-indicator feature
    inexact = []  # (node, gap) where Solr's threshold falls short of the booster's

    def node(tree, i: int, t: int) -> dict:
        n = tree[i]
        if n.is_leaf:
            return {"value": repr(float(np.float32(n.value)))}
        c = as_inclusive(n)
        s, reached = solr_threshold(c)
        if reached != c:
            inexact.append((f"tree {t} node {i} ({names[n.feature]})", float(c) - float(reached)))
        split = {"feature": names[n.feature], "threshold": repr(float(s)),
                 "left": node(tree, n.left, t), "right": node(tree, n.right, t)}
        zero_left = bool(np.float32(0.0) <= c)
        if names[n.feature] not in nullable or zero_left == n.missing_left:
            return split
        flag = indicators.setdefault(names[n.feature], f"{names[n.feature]}{MISSING_SUFFIX}")
        missing = node(tree, n.left if n.missing_left else n.right, t)
        return {"feature": flag, "threshold": repr(float(solr_threshold(np.float32(0.5))[0])), "left": split, "right": missing}

    trees = [{"weight": "1.0", "root": node(tree, 0, t)} for t, tree in enumerate(forest.trees)]
    flags = [{"store": store, "name": flag, "class": "org.apache.solr.ltr.feature.SolrFeature",
              "params": {"q": "{!func}if(exists(" + _field(defs, f) + "),0,1)"}} for f, flag in indicators.items()]
    model = {"store": store, "name": name, "class": MODEL_CLASS,
             "features": [{"name": f} for f in (*names, *indicators.values())], "params": {"trees": trees}}
    (folder / "features.json").write_text(json.dumps([_feature(d, store) for d in defs] + flags, indent=2))
    (folder / "model.json").write_text(json.dumps(model, indent=1))
    notes = [
        f"PUT features.json to /solr/COLLECTION/schema/feature-store and model.json to .../schema/model-store; "
        f"rerank with rq={{!ltr model={name} efi.query_text=... efi.<param feature>=...}}",
        "split semantics: value <= threshold + 1e-6 (float32) -> left; missing document fields score 0",
    ]
    if inexact:
        gap = max(g for _, g in inexact)
        notes.append(f"{len(inexact)} split(s) have no exact Solr threshold under its +1e-6 slack (thresholds within "
                     f"1e-6 of 0, e.g. {inexact[0][0]}): values up to {gap:.3g} below the booster's threshold go "
                     "right instead of left")
        log.warning("solr export: %s", notes[-1])
    if indicators:
        notes.append(f"missing values routed through indicator features {sorted(indicators.values())} "
                     "(1 when the document lacks the field)")
    return ["features.json", "model.json"], notes
