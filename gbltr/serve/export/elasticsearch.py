"""Elasticsearch 8.x native LTR: a trained-model body with a tree ensemble and query extractors.

File::

    model.json   PUT _ml/trained_models/NAME   (the body eland's ``MLModel.import_ltr_model`` sends)
      {"input": {"field_names": [...]}, "model_type": "tree_ensemble",
       "inference_config": {"learning_to_rank": {"feature_extractors": [
           {"query_extractor": {"feature_name", "query": {mustache query}}}, ...]}},
       "definition": {"trained_model": {"ensemble": {"feature_names", "target_type": "regression",
           "aggregate_output": {"weighted_sum": {"weights": [1.0, ...]}},
           "trained_models": [{"tree": {"feature_names", "target_type": "regression",
               "tree_structure": [{"node_index", "split_feature", "threshold", "decision_type",
                                   "default_left", "left_child", "right_child"} | {"node_index", "leaf_value": [v]}]}}]}}}}

``decision_type`` ``lte`` (LightGBM, threshold the double) or ``lt`` (XGBoost, the float32
threshold); a true test goes to ``left_child``, a missing value to the ``default_left`` side.
The model's ``base_score`` is folded into the first tree's leaves.
"""

from __future__ import annotations

import json
from pathlib import Path

from gbltr.serve.export.definitions import query_dsl
from gbltr.serve.trees import Forest


def tree_structure(tree, names) -> list[dict]:
    out = []
    for i, n in enumerate(tree):
        if n.is_leaf:
            out.append({"node_index": i, "leaf_value": [n.value]})
        else:
            out.append({"node_index": i, "split_feature": n.feature, "threshold": float(n.threshold),
                        "decision_type": "lte" if n.op == "<=" else "lt", "default_left": n.missing_left,
                        "left_child": n.left, "right_child": n.right})
    return out


def write(forest: Forest, defs, folder: Path, *, name: str, catalogue) -> tuple[list[str], list[str]]:
    names = list(forest.feature_names)
    extractors = [{"query_extractor": {"feature_name": d.feature, "query": query_dsl(d)[0]}} for d in defs]
    trees = [{"tree": {"feature_names": names, "target_type": "regression", "tree_structure": tree_structure(t, names)}}
             for t in forest.trees]
    body = {
        "description": f"gbltr {forest.backend} ranker {name}",
        "model_type": "tree_ensemble",
        "input": {"field_names": names},
        "inference_config": {"learning_to_rank": {"feature_extractors": extractors}},
        "definition": {"trained_model": {"ensemble": {
            "feature_names": names, "target_type": "regression",
            "aggregate_output": {"weighted_sum": {"weights": [1.0] * len(trees)}},
            "trained_models": trees}}},
    }
    (folder / "model.json").write_text(json.dumps(body, indent=1))
    notes = [
        f"PUT model.json to _ml/trained_models/{name}; rescore with "
        f"{{\"learning_to_rank\": {{\"model_id\": \"{name}\", \"params\": {{\"query_text\": ...}}}}}}",
        "split semantics: decision_type lte/lt true -> left_child; missing value -> default_left side",
    ]
    return ["model.json"], notes
