"""``gbltr export``: every exported model, re-scored by an evaluator of the exported JSON written
here (independent of gbltr.serve), matches the booster on held-out rows to 1e-5.

The evaluators follow each engine's documented semantics, not gbltr's tree code:
- OpenSearch LTR ``model/xgboost+json``: ``value < split_condition`` -> ``yes``, missing -> ``missing``
  child, children found by ``nodeid``; scores summed in float32 (the plugin's float arithmetic).
- Solr ``MultipleAdditiveTreesModel``: thresholds and leaves read as Java floats, ``value <=
  threshold + 1e-6f`` -> left (Solr's NODE_SPLIT_SLACK), a missing document field is 0.
- Elasticsearch tree ensemble: ``tree_structure`` by ``node_index``, ``lt``/``lte`` in double,
  missing -> ``default_left``, leaf_value[0], weighted sum.
Feature values reach an engine as float32, so the booster's reference scores are computed on the
same rows cast to float32. Held-out rows include missing values (NaN) in the nullable features.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gbltr.errors import ModelError
from gbltr.features.catalogue import load_catalogue
from gbltr.serve.export import FORMATS, export_run
from gbltr.serve.run import TrainedRun
from synthetic import NAMES, make_data, train

def as_run(model, tmp_path) -> TrainedRun:
    return TrainedRun(tmp_path / "run", model, None, tuple(model.feature_names), load_catalogue())


# ---------------------------------------------------------------- independent evaluators

def eval_opensearch(folder, X):
    body = json.loads((folder / "model.json").read_text())
    assert body["model"]["model"]["type"] == "model/xgboost+json"
    definition = json.loads(body["model"]["model"]["definition"])
    assert definition["objective"] == "reg:linear"
    names = [f["name"] for f in json.loads((folder / "featureset.json").read_text())["featureset"]["features"]]
    out = np.zeros(len(X), dtype=np.float32)
    for r, row in enumerate(X):
        total = np.float32(0)
        for tree in definition["splits"]:
            node = tree
            while "leaf" not in node:
                x = row[names.index(node["split"])]
                if np.isnan(x):
                    nxt = node["missing"]
                elif np.float32(x) < np.float32(node["split_condition"]):
                    nxt = node["yes"]
                else:
                    nxt = node["no"]
                node = next(c for c in node["children"] if c["nodeid"] == nxt)
            total = np.float32(total + np.float32(node["leaf"]))
        out[r] = total
    return out.astype(np.float64)


def eval_solr(folder, X):
    model = json.loads((folder / "model.json").read_text())
    assert model["class"] == "org.apache.solr.ltr.model.MultipleAdditiveTreesModel"
    store = json.loads((folder / "features.json").read_text())
    assert {f["store"] for f in store} == {model["store"]}
    names = [f["name"] for f in model["features"]]
    flags = {f["name"]: f["params"]["q"] for f in store if f["name"].endswith("__missing")}
    slack = np.float32(1e-6)
    out = np.zeros(len(X))
    for r, row in enumerate(X):
        row = row.astype(np.float32)
        fv = []
        for name in names:
            if name in flags:  # {!func}if(exists(FIELD),0,1)
                field = flags[name].split("exists(")[1].split(")")[0]
                fv.append(np.float32(np.isnan(row[NAMES.index(field)])))
            else:  # a missing field scores 0 in Solr
                fv.append(np.nan_to_num(row[NAMES.index(name)], nan=0.0))
        total = np.float32(0)
        for tree in model["params"]["trees"]:
            node = tree["root"]
            while "value" not in node:
                threshold = np.float32(np.float32(float(node["threshold"])) + slack)
                node = node["left"] if fv[names.index(node["feature"])] <= threshold else node["right"]
            total = np.float32(total + np.float32(float(tree["weight"])) * np.float32(float(node["value"])))
        out[r] = total
    return out


def eval_elasticsearch(folder, X):
    body = json.loads((folder / "model.json").read_text())
    ens = body["definition"]["trained_model"]["ensemble"]
    names = body["input"]["field_names"]
    extractors = [e["query_extractor"]["feature_name"] for e in body["inference_config"]["learning_to_rank"]["feature_extractors"]]
    assert extractors == names
    weights = ens["aggregate_output"]["weighted_sum"]["weights"]
    out = np.zeros(len(X))
    for r, row in enumerate(X):
        total = 0.0
        for w, tm in zip(weights, ens["trained_models"]):
            nodes = {n["node_index"]: n for n in tm["tree"]["tree_structure"]}
            n = nodes[0]
            while "leaf_value" not in n:
                x = float(np.float32(row[n["split_feature"]]))
                if np.isnan(x):
                    left = n["default_left"]
                else:
                    left = x < n["threshold"] if n["decision_type"] == "lt" else x <= n["threshold"]
                n = nodes[n["left_child"] if left else n["right_child"]]
            total += w * n["leaf_value"][0]
        out[r] = total
    return out


EVALUATORS = {"opensearch": eval_opensearch, "solr": eval_solr, "elasticsearch": eval_elasticsearch}


def test_every_format_has_an_evaluator():
    assert set(EVALUATORS) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_exported_model_matches_the_booster_on_held_out_rows(backend, fmt, tmp_path):
    X, y, g = make_data(0)
    model = train(backend, X, y, g)
    held_out, _, _ = make_data(1, n_queries=20, nan_rate=0.25)  # NaN in the nullable features
    assert np.isnan(held_out).any()
    result = export_run(as_run(model, tmp_path), fmt, tmp_path / fmt)
    expected = model.predict(held_out)
    got = EVALUATORS[fmt](result.folder, held_out)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert np.std(expected) > 0.1  # a model that ranks, not a constant
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["placeholder_features"] == [] and manifest["backend"] == backend
    kinds = {f["name"]: f["kind"] for f in manifest["features"]}
    assert kinds == {"bm25_title": "match", "bm25_body": "match", "doc_pagerank": "field",
                     "doc_inlinks_log1p": "field", "query_len": "param", "doc_title_len": "field"}


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_tree_reading_reproduces_the_booster(backend):
    """gbltr.serve.trees reads every split, threshold, missing route and base score: its own
    walk over the trees gives the booster's scores (float32 inputs)."""
    from gbltr.serve.trees import forest_of, with_base_folded

    X, y, g = make_data(8)
    model = train(backend, X, y, g, rounds=8)
    held_out, _, _ = make_data(9, n_queries=10, nan_rate=0.3)
    forest = forest_of(model)
    np.testing.assert_allclose(forest.predict(held_out), model.predict(held_out), rtol=0, atol=1e-5)
    folded = with_base_folded(forest)
    assert folded.base_score == 0.0
    np.testing.assert_allclose(folded.predict(held_out), model.predict(held_out), rtol=0, atol=1e-5)


def test_thresholds_at_split_values_route_as_the_booster(tmp_path):
    """Rows exactly at, just below and just above every threshold: the float32 conversions
    (LightGBM's <= into XGBoost's <, Solr's +1e-6 slack) must not move them."""
    X, y, g = make_data(2, nan_rate=0.0)
    model = train("lightgbm", X, y, g, rounds=10)
    dump = model.booster.dump_model()
    rows = []
    for info in dump["tree_info"]:
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                t = np.float32(node["threshold"])
                for v in (t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))):
                    row = X[len(rows) % len(X)].copy()
                    row[node["split_feature"]] = v
                    rows.append(row)
                stack += [node["left_child"], node["right_child"]]
    edge = np.array(rows, dtype=np.float32)
    expected = model.predict(edge)
    for fmt in FORMATS:
        folder = export_run(as_run(model, tmp_path), fmt, tmp_path / f"edge-{fmt}").folder
        np.testing.assert_allclose(EVALUATORS[fmt](folder, edge), expected, rtol=0, atol=1e-5, err_msg=fmt)


@pytest.mark.slow
def test_missing_values_take_the_boosters_branch_in_every_format(tmp_path):
    """A missing pagerank marks relevant documents, so the booster sends NaN away from 0: Solr
    (no missing branch; a missing field is 0) needs its indicator feature, the others their
    missing/default_left branch."""
    X, y, g = make_data(3, nan_rate=0.3, nan_relevant=True)
    held_out, _, _ = make_data(4, n_queries=20, nan_rate=0.3)
    for backend in ("lightgbm", "xgboost"):
        model = train(backend, X, y, g)
        for fmt in FORMATS:
            folder = export_run(as_run(model, tmp_path), fmt, tmp_path / f"{backend}-{fmt}").folder
            np.testing.assert_allclose(EVALUATORS[fmt](folder, held_out), model.predict(held_out), rtol=0, atol=1e-5,
                                       err_msg=f"{backend} {fmt}")
        solr = json.loads((tmp_path / f"{backend}-solr" / "model.json").read_text())
        assert "doc_pagerank__missing" in [f["name"] for f in solr["features"]]
    # without the indicators a missing pagerank would be scored as 0: the check above can fail
    flat = np.nan_to_num(held_out, nan=0.0)
    assert not np.allclose(model.predict(flat), model.predict(held_out), atol=1e-5)


def test_categorical_splits_are_refused(tmp_path):
    import lightgbm as lgb
    import xgboost as xgb

    from gbltr.train.model import FittedRanker

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 6, 600), rng.random(600)]).astype(np.float64)
    y = (X[:, 0] % 3 == 0).astype(float) * 2 + X[:, 1]
    names = ["bm25_title", "bm25_body"]
    booster = lgb.train({"objective": "regression", "verbosity": -1, "min_data_per_group": 5, "cat_smooth": 1},
                        lgb.Dataset(X, y, feature_name=names, categorical_feature=[0]), 10)
    lgb_model = FittedRanker("lightgbm", booster, tuple(names), 10)
    with pytest.raises(ModelError, match="categorical split on 'bm25_title'"):
        export_run(as_run(lgb_model, tmp_path), "opensearch", tmp_path / "o")
    dm = xgb.DMatrix(X, y, feature_names=names, feature_types=["c", "q"], enable_categorical=True)
    xgb_booster = xgb.train({"tree_method": "hist", "max_cat_to_onehot": 1}, dm, 10)
    xgb_model = FittedRanker("xgboost", xgb_booster, tuple(names), 10)
    with pytest.raises(ModelError, match="categorical split on 'bm25_title'"):
        export_run(as_run(xgb_model, tmp_path), "elasticsearch", tmp_path / "e")


def test_features_without_a_query_definition(tmp_path):
    from gbltr.train.model import FittedRanker

    X, y, g = make_data(5, nan_rate=0.0)
    model = train("xgboost", X, y, g, rounds=5)
    renamed = ["tfidf_title" if n == "bm25_body" else n for n in NAMES]
    model.booster.feature_names = renamed
    model = FittedRanker("xgboost", model.booster, tuple(renamed), model.best_iteration)
    with pytest.raises(ModelError, match=r"\['tfidf_title'\] have no query definition"):
        export_run(as_run(model, tmp_path), "opensearch", tmp_path / "a")
    loose = export_run(as_run(model, tmp_path), "opensearch", tmp_path / "b", allow_missing_definitions=True)
    assert loose.manifest["placeholder_features"] == ["tfidf_title"]
    featureset = json.loads((loose.folder / "featureset.json").read_text())["featureset"]["features"]
    assert next(f for f in featureset if f["name"] == "tfidf_title")["template"] == {"match_none": {}}
    mine = {"tfidf_title": {"match": {"title": {"query": "{{query_text}}", "operator": "or"}}}}
    given = export_run(as_run(model, tmp_path), "elasticsearch", tmp_path / "c", definitions=mine)
    assert given.manifest["placeholder_features"] == []
    body = json.loads((given.folder / "model.json").read_text())
    ex = body["inference_config"]["learning_to_rank"]["feature_extractors"]
    assert ex[1] == {"query_extractor": {"feature_name": "tfidf_title", "query": mine["tfidf_title"]}}
    solr_defs = {"tfidf_title": {"class": "org.apache.solr.ltr.feature.SolrFeature", "params": {"q": "{!func}tf(title,${query_text})"}}}
    solr = export_run(as_run(model, tmp_path), "solr", tmp_path / "d", definitions=solr_defs)
    store = json.loads((solr.folder / "features.json").read_text())
    assert store[1]["class"] == "org.apache.solr.ltr.feature.SolrFeature"


def test_export_of_a_run_with_a_missing_or_corrupt_model(tmp_path, tiny_fixture_run):
    from gbltr.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_fixture_run, run)
    model_file = next(p for p in run.iterdir() if p.name in ("model.txt", "model.json"))
    text = model_file.read_text()
    model_file.write_text(text[: len(text) // 3])
    with pytest.raises(ModelError, match="is corrupt: it has no 'end of trees' marker"):
        export_run(run, "opensearch", tmp_path / "out")
    model_file.unlink()
    with pytest.raises(ModelError, match="has no model file"):
        export_run(run, "solr", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    with pytest.raises(SystemExit) as exc:
        main(["export", str(run), "--format", "elasticsearch", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2


def test_export_command_writes_every_format(tmp_path, tiny_fixture_run, capsys):
    from gbltr.cli import main

    for fmt in sorted(FORMATS):
        main(["export", str(tiny_fixture_run), "--format", fmt, "--out", str(tmp_path / fmt), "--name", "tiny"])
        out = capsys.readouterr().out
        assert out.splitlines()[-1].startswith("RESULT ") and "doc_pagerank" in out
        manifest = json.loads((tmp_path / fmt / "manifest.json").read_text())
        assert manifest["model_name"] == "tiny" and manifest["format"] == fmt
        assert all((tmp_path / fmt / f).is_file() for f in manifest["files"])
    with pytest.raises(SystemExit) as exc:  # an existing export is replaced only with --overwrite
        main(["export", str(tiny_fixture_run), "--format", "solr", "--out", str(tmp_path / "solr")])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    main(["export", str(tiny_fixture_run), "--format", "solr", "--out", str(tmp_path / "solr"), "--overwrite"])
