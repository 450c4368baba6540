"""gbltr experiment and gbltr ablation on a tiny world (few rounds: this checks plumbing and shapes)."""

import json
from pathlib import Path

import pytest

from gbltr.ablation import FULL, run_ablation
from gbltr.config import load_config
from gbltr.errors import ConfigError
from gbltr.experiment import ALWAYS, run_experiment, setup_config

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny-world.toml"


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    return load_config(TINY, {"train": {"rounds": 8, "early_stopping": 0}})


@pytest.mark.slow
def test_experiment_adds_the_baselines_and_reports_per_bucket(cfg, tmp_path):
    res = run_experiment(cfg, ["click", "llm", "fused:famol"], [0, 1], tmp_path / "exp", n_permutations=200)
    s = res.summary
    assert s["setups"] == ["click", "llm", "fused:famol", *ALWAYS]
    assert s["buckets"] == ["overall", "high", "medium", "low"]
    for bucket in s["buckets"]:
        best = s["best_single"][bucket]
        assert best in ("click", "llm")
        for setup in s["setups"]:
            r = s["results"][bucket][setup]
            assert len(r["per_seed"]) == 2 and 0 < r["mean"] <= 1
            assert ("vs_best" in r) == (setup != best)
    assert res.per_query.height == 2 * 5 * 75  # seeds x setups x test queries
    for name in ("experiment.md", "experiment.json", "experiment.png", "per_query.parquet"):
        assert (tmp_path / "exp" / name).exists()
    assert json.loads((tmp_path / "exp" / "experiment.json").read_text())["seeds"] == [0, 1]


def test_unknown_setup_lists_the_registry(cfg):
    with pytest.raises(ConfigError, match="unknown setup 'fused:famo'; choose one of: .*fused:famol"):
        setup_config("fused:famo", cfg)
    assert setup_config("fused:schedule:click-then-llm", cfg).fusion.schedule == "click-then-llm"


@pytest.mark.slow
def test_ablation_removes_each_group(cfg, tmp_path):
    res = run_ablation(cfg, labels=("click", "llm"), groups=("document", "query_document"), out=tmp_path / "abl")
    s = res.summary
    for lab in ("click", "llm"):
        assert set(s["results"][lab]["overall"]) == {FULL, "document", "query_document"}
        shares = s["gain_share"][lab]
        assert abs(sum(shares.values()) - 1) < 1e-6
    # the LLM-trained model gets almost all its gain from semantic-matching features
    assert s["gain_share"]["llm"]["query_document"] > s["gain_share"]["click"]["query_document"]
    assert (tmp_path / "abl" / "ablation.png").exists()
    with pytest.raises(ConfigError, match="unknown feature group 'authority_x'"):
        run_ablation(cfg, labels=("click",), groups=("authority_x",))
