"""Typed config: defaults < file < flags, unknown keys, validation, round trip."""

import json

import pytest

from gbltr.config import FitConfig, dotted, load_config
from gbltr.errors import ConfigError


def test_precedence_defaults_file_flags(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('labels = "llm"\n[train]\nbackend = "xgboost"\nrounds = 7\n')
    cfg = load_config(f, dotted({"train.rounds": 9, "seed": None}))
    assert (cfg.labels, cfg.train.backend, cfg.train.rounds, cfg.seed) == ("llm", "xgboost", 9, 0)


def test_unknown_keys_list_the_known_ones(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nbackendd = 'xgboost'\n")
    with pytest.raises(ConfigError, match=r"\[train\] unknown config key\(s\) \['backendd'\]; known keys: .*backend"):
        load_config(f)


def test_unknown_labels_and_backend_list_valid_values():
    with pytest.raises(ConfigError, match="unknown --labels value 'clicks'; choose one of: click, fused, human, llm"):
        load_config(None, {"labels": "clicks"})
    with pytest.raises(ConfigError, match="unknown backend 'catboost'; choose one of: lightgbm, xgboost"):
        load_config(None, {"train": {"backend": "catboost"}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match='train.rounds: expected an integer, found "many" \\(a string\\)'):
        load_config(None, {"train": {"rounds": "many"}})


def test_fusion_settings_need_fused_labels():
    with pytest.raises(ConfigError, match="fusion applies only to --labels fused"):
        load_config(None, {"labels": "click", "fusion": {"method": "famol"}})
    assert load_config(None, {"labels": "fused", "fusion": {"method": "schedule"}}).fusion.method == "schedule"


def test_saved_config_reloads_to_the_same_object(tmp_path):
    cfg = load_config(None, {"labels": "fused", "fusion": {"weight_fn": "bucket"}, "world": {"queries": 700}})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_json()))
    assert load_config(path) == cfg
    assert isinstance(load_config(None), FitConfig)


def test_min_data_in_leaf_is_lightgbm_only():
    """XGBoost has no rows-per-leaf setting (min_child_weight is a hessian sum): a value other
    than the default is refused with the xgboost backend instead of being silently ignored."""
    assert load_config(None, {"train": {"backend": "lightgbm", "min_data_in_leaf": 5}}).train.min_data_in_leaf == 5
    assert load_config(None, {"train": {"backend": "xgboost"}}).train.backend == "xgboost"
    with pytest.raises(ConfigError, match="min_data_in_leaf=5 with the xgboost backend.*--backend lightgbm"):
        load_config(None, {"train": {"backend": "xgboost", "min_data_in_leaf": 5}})
