"""Issue 7: ``gbltr experiment --data DIR`` must not count repeated seeds as independent queries.

On one dataset with a fixed split, gbltr's deterministic boosters train the same model for every
seed. Pairing by (seed, query) then multiplies the sample and shrinks p-values (p = 2.2e-12 with
4 seeds against 4.9e-4 with 1 in the report). The experiment averages each query over seeds and
pairs by query there; with the built-in world each seed is a new world and (seed, query) pairs
stay.
"""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config
from gbltr.experiment import run_experiment, summarise_experiment
from gbltr.pipeline import builtin_world

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny-world.toml"


def _frame(seeds, n=40):
    rng = np.random.default_rng(0)
    click = rng.uniform(0.5, 1.0, n)
    llm = np.clip(click + rng.normal(0.03, 0.1, n), 0, 1)
    buckets = np.array(["high", "medium", "low"] * n)[:n]
    frames = []
    for seed in seeds:  # the same model for every seed: identical per-query values
        for setup, vals in (("click", click), ("llm", llm)):
            frames.append(pl.DataFrame({"query_id": [f"q{i}" for i in range(n)], "bucket": buckets,
                                        "ndcg@10": vals, "setup": setup, "seed": seed}))
    return pl.concat(frames)


def test_identical_seeds_on_one_dataset_give_the_one_seed_test():
    one = summarise_experiment(_frame([0]), ["click", "llm"], [0], metric="ndcg@10", n_permutations=500)
    four = summarise_experiment(_frame([0, 1, 2, 3]), ["click", "llm"], [0, 1, 2, 3], metric="ndcg@10",
                                n_permutations=500, pair_by="query")
    overall = lambda s: s["results"]["overall"][[x for x in ("click", "llm") if x != s["best_single"]["overall"]][0]]["vs_best"]  # noqa: E731
    assert overall(four)["n"] == overall(one)["n"] == 40
    assert overall(four)["t_p"] == pytest.approx(overall(one)["t_p"])
    # the old pairing over (seed, query) counts every query 4 times and reports a far smaller p
    old = summarise_experiment(_frame([0, 1, 2, 3]), ["click", "llm"], [0, 1, 2, 3], metric="ndcg@10",
                               n_permutations=500, pair_by="seed_query")
    assert overall(old)["n"] == 160 and overall(old)["t_p"] < overall(one)["t_p"] / 10


@pytest.mark.slow
def test_experiment_on_a_dataset_folder_pairs_by_query(tmp_path, monkeypatch):
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    cfg = load_config(TINY, {"train": {"rounds": 3, "early_stopping": 0}})
    data = builtin_world(cfg.world)  # a dataset folder with a fixed split
    cfg = load_config(TINY, {"data": str(data), "train": {"rounds": 3, "early_stopping": 0}})
    res = run_experiment(cfg, ["click", "llm"], [0, 1], n_permutations=200)
    s = res.summary
    assert s["pair_by"] == "query"
    n_test = res.per_query.filter((pl.col("seed") == 0) & (pl.col("setup") == "click"))["ndcg@10"].is_not_nan().sum()
    for setup, r in s["results"]["overall"].items():
        if "vs_best" in r:
            assert r["vs_best"]["n"] == n_test  # not 2 x n_test
