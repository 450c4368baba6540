"""OpenSearch (and Elasticsearch) LTR plugin: a feature set and a ``model/xgboost+json`` model.

Files (request bodies for the plugin's REST API)::

    featureset.json   POST _ltr/_featureset/NAME           {"featureset": {"name", "features": [
                      {"name", "params": [...], "template_language": "mustache", "template": {query}}]}}
    model.json        POST _ltr/_featureset/NAME/_createmodel
                      {"model": {"name", "model": {"type": "model/xgboost+json", "definition": "<JSON text>"}}}

The definition is ``{"objective": "reg:linear", "splits": [tree, ...]}``: identity output (the
ranker's raw score); each tree is XGBoost's JSON dump form, a node
``{"nodeid", "depth", "split": FEATURE, "split_condition": c, "yes", "no", "missing", "children"}``
where ``value < c`` goes to ``yes`` and a missing value to ``missing``; a leaf is
``{"nodeid", "leaf": v}``. LightGBM trees (``value <= t``, t a double) are converted exactly for
float32 feature values (engine feature values are float32): ``c`` is the float32 just above the
largest float32 <= t. The model's ``base_score`` is folded into the first tree's leaves.
"""

from __future__ import annotations

import json
from pathlib import Path

from gbltr.serve.export.definitions import query_dsl
from gbltr.serve.trees import Forest, as_strict

MODEL_TYPE = "model/xgboost+json"


def splits(forest: Forest) -> list[dict]:
    names = forest.feature_names
    out = []
    for tree in forest.trees:
        def node(i: int, depth: int) -> dict:
            n = tree[i]
            if n.is_leaf:
                return {"nodeid": i, "leaf": n.value}
            return {"nodeid": i, "depth": depth, "split": names[n.feature], "split_condition": float(as_strict(n)),
                    "yes": n.left, "no": n.right, "missing": n.left if n.missing_left else n.right,
                    "children": [node(n.left, depth + 1), node(n.right, depth + 1)]}
        out.append(node(0, 0))
    return out


def write(forest: Forest, defs, folder: Path, *, name: str, catalogue) -> tuple[list[str], list[str]]:
    features = []
    for d in defs:
        template, params = query_dsl(d)
        features.append({"name": d.feature, "params": params, "template_language": "mustache", "template": template})
    (folder / "featureset.json").write_text(json.dumps({"featureset": {"name": name, "features": features}}, indent=2))
    definition = {"objective": "reg:linear", "splits": splits(forest)}
    body = {"model": {"name": name, "model": {"type": MODEL_TYPE, "definition": json.dumps(definition)}}}
    (folder / "model.json").write_text(json.dumps(body, indent=1))
    notes = [
        f"POST featureset.json to _ltr/_featureset/{name}, then model.json to _ltr/_featureset/{name}/_createmodel; "
        f"query with an sltr query (model {name!r}, params: query_text and each 'param' feature)",
        "split semantics: value < split_condition -> yes; missing value -> the 'missing' child",
        f"{forest.backend} trees" + (" converted from value <= threshold (exact for float32 feature values)"
                                     if forest.splits_at_or_below else ""),
    ]
    return ["featureset.json", "model.json"], notes
