"""Issue 19: annotation planners, ``gbltr plan``, ``annotate --plan``, partial LLM labels in
FAMOL, and budget curves (``experiment --budgets``)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from gbltr.errors import DataError
from gbltr.labels.budget import PLANNERS, PlanInput
from gbltr.labels.budget.plan import Budget, make_plan

from .conftest import drop_label_set, edit_table, fast_config, run_cli

PRIOR = (1.0, 3.0)  # attractiveness pseudo-counts of the synthetic click scores below


def _pairs(rows: list[dict]) -> pl.DataFrame:
    """A PlanInput frame from partial rows (defaults: rank 1, retrieval 1, frequency 100, low bucket)."""
    base = {"rank": 1, "retrieval_score": 1.0, "frequency": 100, "bucket": "low", "click_score": 0.3,
            "impressions": 100, "clicks": 30, "propensity": 1.0}
    frame = pl.DataFrame([{**base, **r} for r in rows])
    return frame.select("query_id", "doc_id", pl.col("rank").cast(pl.Int64), pl.col("retrieval_score").cast(pl.Float64),
                        pl.col("frequency").cast(pl.Int64), "bucket", pl.col("click_score").cast(pl.Float64),
                        pl.col("impressions").cast(pl.Int64), pl.col("clicks").cast(pl.Int64),
                        pl.col("propensity").cast(pl.Float64))


def _first(planner: str, frame: pl.DataFrame, *, valid=None, budget=1, strategy="point", seed=0) -> pl.DataFrame:
    return make_plan(frame, valid, planner=planner, budget=Budget(labels=budget), strategy=strategy, seed=seed,
                     dataset="x", prior=PRIOR).frame


# --- each planner on a case where the right choice is known -----------------------------------------


def test_click_uncertainty_takes_the_pair_shown_once_before_the_pair_shown_10000_times():
    frame = _pairs([{"query_id": "head", "doc_id": "a", "impressions": 10_000, "clicks": 3000},
                    {"query_id": "tail", "doc_id": "b", "impressions": 1, "clicks": 0}])
    plan = _first("click-uncertainty", frame)
    assert plan["query_id"].to_list() == ["tail"]
    spread = dict(zip(plan["query_id"], plan["part_posterior_std"]))
    assert spread["tail"] > 0.15  # nearly the prior's spread; the head pair's is about 0.005


def test_tail_first_takes_the_rarest_query_whole_in_rank_order():
    frame = _pairs([{"query_id": "head", "doc_id": "a", "frequency": 5000, "bucket": "high"},
                    {"query_id": "mid", "doc_id": "b", "frequency": 40, "bucket": "medium"},
                    {"query_id": "tail", "doc_id": "c", "frequency": 2}])
    assert _first("tail-first", frame, budget=2)["query_id"].to_list() == ["tail", "mid"]
    frame = _pairs([{"query_id": q, "doc_id": f"{q}{r}", "rank": r, "frequency": 3} for q in ("x", "y") for r in (1, 2, 3)])
    plan = _first("tail-first", frame, budget=3)
    assert plan["query_id"].n_unique() == 1 and plan["rank"].to_list() == [1, 2, 3]


def test_disagreement_takes_the_query_whose_clicks_reverse_the_first_stage_order():
    rows = []
    for q, reverse in (("agree", False), ("reverse", True)):
        for i in range(4):  # first stage: d0 > d1 > d2 > d3; clicks agree or reverse it, on ample evidence
            click = (i + 1) / 5 if reverse else (4 - i) / 5
            rows.append({"query_id": q, "doc_id": f"{q}{i}", "rank": i + 1, "retrieval_score": 4.0 - i,
                         "click_score": click, "impressions": 5000})
    plan = _first("disagreement", _pairs(rows), budget=2)
    assert set(plan["query_id"]) == {"reverse"}
    assert set(plan["doc_id"]) == {"reverse0", "reverse3"}  # the ends of the list moved most
    assert plan["part_click_models_larger"].to_list() == [0.0, 0.0]  # no second click model: the first stage


def test_disagreement_reads_the_first_stage_order_from_the_rank_when_retrieval_scores_are_missing():
    rows = [{"query_id": q, "doc_id": f"{q}{i}", "rank": i + 1, "click_score": (i + 1) / 5 if q == "reverse" else (4 - i) / 5,
             "impressions": 5000} for q in ("agree", "reverse") for i in range(4)]
    frame = _pairs(rows).with_columns(pl.lit(None, dtype=pl.Float64).alias("retrieval_score"))  # an imported run
    s = PLANNERS["disagreement"].score(PlanInput(frame), np.random.default_rng(0)).score
    assert np.isfinite(s).all()
    assert set(_first("disagreement", frame, budget=2)["doc_id"]) == {"reverse0", "reverse3"}


def test_disagreement_takes_the_query_whose_two_click_models_order_it_differently():
    # clicks and the first stage agree everywhere; a second click model (e.g. DBN beside PBM)
    # reverses the order of one query: that query's clicks do not settle its relevance
    rows, alt = [], []
    for q, reverse in (("settled", False), ("disputed", True)):
        for i in range(4):
            rows.append({"query_id": q, "doc_id": f"{q}{i}", "rank": i + 1, "retrieval_score": 4.0 - i,
                         "click_score": (4 - i) / 5, "impressions": 5000})
            alt.append((i + 1) / 5 if reverse else (4 - i) / 5)
    frame = _pairs(rows).with_columns(pl.Series("click_score_alt", alt))
    plan = _first("disagreement", frame, budget=2)
    assert set(plan["query_id"]) == {"disputed"} and set(plan["doc_id"]) == {"disputed0", "disputed3"}
    assert plan["part_click_models_larger"].to_list() == [1.0, 1.0]  # the reason: the click models disagree
    assert plan["part_gap_first_stage"].to_list() == [0.0, 0.0] and min(plan["part_gap_click_models"]) == 1.0


def test_click_loss_mass_by_hand():
    from gbltr.labels.budget.value import click_loss_mass

    # two documents, grades 2 and 0: clicks reverse them, agree, or tie (ties go by first-stage rank)
    frame = pl.DataFrame({"query_id": ["rev", "rev", "ok", "ok", "tie", "tie"], "rank": [1, 2, 1, 2, 2, 1],
                          "click_score": [0.1, 0.9, 0.9, 0.1, 0.5, 0.5], "human": [2.0, 0.0, 2.0, 0.0, 2.0, 0.0]})
    swap = 1.0 - 1.0 / np.log2(3.0)  # |g_i - g_j| |D(1) - D(2)| / IDCG with g = (3, 0), IDCG = 3
    np.testing.assert_allclose(click_loss_mass(frame), [swap, swap, 0.0, 0.0, swap / 2, swap / 2], rtol=1e-12)


def test_value_per_dollar_learns_on_validation_where_clicks_lose_ndcg():
    from gbltr.labels.budget.value import bucket_tilt, click_loss_mass

    # validation: in the low bucket the clicks reverse the human order, in the high bucket they follow it
    rows = []
    for b in ("low", "high"):
        for v in range(5):
            for i in range(4):
                click = (i + 1) / 5 if b == "low" else (4 - i) / 5
                rows.append({"query_id": f"{b}{v}", "doc_id": f"d{i}", "rank": i + 1, "bucket": b,
                             "click_score": click, "human": float(3 - i)})
    valid = _valid(rows)
    train = _pairs([{"query_id": "h", "doc_id": "h1", "bucket": "high", "rank": 1},
                    {"query_id": "l", "doc_id": "l1", "bucket": "low", "rank": 1},
                    {"query_id": "l2", "doc_id": "l15", "bucket": "low", "rank": 15}])
    s = PLANNERS["value-per-dollar"].score(PlanInput(train, validation=valid), np.random.default_rng(0))
    assert s.score[1] > s.score[2]  # the top of the ranking before rank 15
    masses = click_loss_mass(valid)
    assert masses[valid["bucket"] == "high"].sum() == 0 < masses[valid["bucket"] == "low"].min()
    lean = bucket_tilt(train, valid, masses, tilt=1.0)
    assert lean[1] > 1.0 > lean[0]  # leaning on buckets: the one where clicks lose nDCG first
    assert s.parts["fitted"].tolist() == [1.0, 1.0, 1.0]
    cheap = PLANNERS["value-per-dollar"].score(PlanInput(train, cost=np.array([1.0, 4.0, 1.0]), validation=valid),
                                               np.random.default_rng(0))
    assert cheap.score[1] == pytest.approx(s.score[1] / 4)  # per dollar
    blind = PLANNERS["value-per-dollar"].score(PlanInput(train), np.random.default_rng(0))
    assert blind.parts["fitted"].tolist() == [0.0, 0.0, 0.0]  # no validation grades: the prior guess


def test_value_per_dollar_without_validation_takes_the_cheaper_of_two_equally_uncertain_pairs_and_the_top_rank():
    frame = _pairs([{"query_id": "q", "doc_id": "long", "rank": 1}, {"query_id": "r", "doc_id": "short", "rank": 1}])
    inp = PlanInput(frame, cost=np.array([4.0, 1.0]))
    s = PLANNERS["value-per-dollar"].score(inp, np.random.default_rng(0)).score
    assert s[1] == pytest.approx(4 * s[0])
    frame = _pairs([{"query_id": "q", "doc_id": "low", "rank": 9}, {"query_id": "r", "doc_id": "top", "rank": 1}])
    assert _first("value-per-dollar", frame)["doc_id"].to_list() == ["top"]


def test_a_query_without_llm_labels_gets_its_two_best_pairs_together():
    frame = _pairs([{"query_id": "q", "doc_id": f"d{i}", "rank": i + 1, "impressions": 10 ** i} for i in range(4)])
    plan = _first("click-uncertainty", frame, budget=2)
    assert plan["doc_id"].to_list() == ["d0", "d1"] and plan["unit"].to_list() == [0, 0]
    assert _first("click-uncertainty", frame, budget=1).height == 0  # one label alone would teach nothing
    labelled = frame.with_columns(pl.lit(3).alias("query_llm_labels"))  # the query has LLM labels already
    assert _first("click-uncertainty", labelled, budget=1)["doc_id"].to_list() == ["d0"]


def test_random_queries_plans_whole_queries_and_random_pairs_does_not():
    frame = _pairs([{"query_id": f"q{i}", "doc_id": f"q{i}d{j}", "rank": j + 1} for i in range(20) for j in range(5)])
    plan = _first("random-queries", frame, budget=25, seed=3)
    assert plan.group_by("query_id").len()["len"].to_list() == [5] * 5  # five whole queries
    per_query = _first("random-pairs", frame, budget=25, seed=3).group_by("query_id").len()
    assert per_query.height > 5


def test_listwise_strategies_plan_whole_query_windows():
    frame = _pairs([{"query_id": f"q{i}", "doc_id": f"q{i}d{j}", "rank": j + 1} for i in range(6) for j in range(4)])
    plan = _first("click-uncertainty", frame, budget=10, strategy="listrank")
    assert plan.height == 8 and plan["unit"].n_unique() == 2  # 2 whole queries of 4; a third would exceed 10
    assert plan.group_by("unit").agg(pl.col("query_id").n_unique())["query_id"].to_list() == [1, 1]


def _valid(rows: list[dict]) -> pl.DataFrame:
    return _pairs(rows).with_columns(pl.Series("human", [r["human"] for r in rows], dtype=pl.Float64))


def test_auto_chooses_on_validation_the_planner_whose_choices_fix_most_and_needs_validation():
    # validation: pairs seen 10,000 times, whose clicks already say what the human grade says,
    # and pairs never seen, whose clicks (the prior) are far from it: uncertainty-led planners win
    rows = []
    for i in range(20):
        seen = i % 2 == 0
        rows.append({"query_id": f"v{i}", "doc_id": f"v{i}d", "frequency": 1000 if not seen else 2,
                     "impressions": 10_000 if seen else 0, "click_score": 0.75 if seen else None,
                     "retrieval_score": 1.0, "human": 3.0 if seen else 4.0})
    valid = _valid(rows)
    train = _pairs([{"query_id": f"t{i}", "doc_id": f"t{i}d", "impressions": i * 100} for i in range(10)])
    plan = _first("auto", train, valid=valid, budget=3)
    assert plan["chosen"][0] in ("click-uncertainty", "value-per-dollar")
    assert plan["planner"][0] == "auto"
    trials = {c: plan[c][0] for c in plan.columns if c.startswith("part_trial_")}
    assert trials["part_trial_click_uncertainty"] > trials["part_trial_tail_first"]
    with pytest.raises(DataError, match="validation queries"):
        _first("auto", train, valid=None)


def test_auto_with_masked_trials_chooses_the_planner_whose_plan_trains_best():
    # the trial stands for "train on this plan, score validation": here it rewards exactly the
    # pairs disagreement takes (the query whose clicks reverse the first stage), so auto must pick it
    rows = []
    for q, reverse in (("agree", False), ("reverse", True)):
        for i in range(4):
            rows.append({"query_id": q, "doc_id": f"{q}{i}", "rank": i + 1, "retrieval_score": 4.0 - i,
                         "click_score": (i + 1) / 5 if reverse else (4 - i) / 5, "impressions": 5000,
                         "frequency": 50 if reverse else 5})
    train = _pairs(rows)
    valid = _valid([{"query_id": "v", "doc_id": "v0", "human": 1.0}, {"query_id": "v", "doc_id": "v1", "human": 0.0}])
    tried = []

    def trial_fit(keep):
        tried.append(keep.height)
        return 1.0 if set(keep["doc_id"]) == {"reverse0", "reverse3"} else 0.5

    plan = make_plan(train, valid, planner="auto", budget=Budget(labels=2), strategy="point", seed=0, dataset="x",
                     prior=PRIOR, trial_fit=trial_fit)
    assert plan.frame["chosen"][0] == "disagreement" and set(plan.frame["doc_id"]) == {"reverse0", "reverse3"}
    assert tried == [2] * (len(PLANNERS) - 1)  # one trial per candidate, each at the asked budget
    assert plan.frame["part_trial_disagreement"][0] == 1.0 and plan.frame["part_trial_tail_first"][0] == 0.5
    assert plan.frame["part_masked_trials"][0] == 1.0
    again = make_plan(train, valid, planner="auto", budget=Budget(labels=2), strategy="point", seed=0, dataset="x",
                      prior=PRIOR, trial_fit=trial_fit)
    assert again.frame.equals(plan.frame)  # reproducible from the seed


def test_masked_trial_trains_on_the_kept_llm_labels_and_scores_validation_never_test(world, tmp_path):
    from dataclasses import replace

    from gbltr.config import FitConfig
    from gbltr.labels.budget.trial import mask_llm, masked_trial, trial_config
    from gbltr.pipeline import prepare

    cfg = replace(FitConfig(), data=str(world), labels="fused")
    cfg = replace(cfg, train=replace(cfg.train, rounds=5, early_stopping=0, threads=1))
    prep = prepare(cfg)
    train = prep.train
    q = train.query_ids[train.row_query()].astype(str)
    keep = pl.DataFrame({"query_id": q[:40], "doc_id": train.doc_ids[:40].astype(str)})
    masked = mask_llm(prep, keep)
    assert np.isfinite(masked.train.labels["llm"]).sum() == np.isfinite(train.labels["llm"][:40]).sum() > 0
    assert np.isnan(masked.train.labels["llm"][40:]).all()
    cheap = trial_config(cfg)
    assert cheap.fusion.weight_fn != "auto" and cheap.train.rounds <= cfg.train.rounds
    score = masked_trial(prep, cfg, 0)(keep)
    assert 0.0 < score <= 1.0
    test = prep.test
    garbled = replace(prep, test=replace(test, labels={**test.labels, "human": np.zeros(test.n_rows)}))
    assert masked_trial(garbled, cfg, 0)(keep) == score  # the test queries' grades play no part


def test_candidates_carry_the_attractiveness_prior_their_click_model_was_fitted_with(world):
    """Planners read the prior from :class:`Candidates`: learnt from the log with choice = auto (not
    the configured pseudo-counts, which only start the search), the configured ones with fixed."""
    from dataclasses import replace

    from gbltr.config import FitConfig
    from gbltr.data.log import open_dataset
    from gbltr.labels.budget.plan import candidates
    from gbltr.labels.clicks.config import ClickPriors
    from gbltr.pipeline import prepare

    cfg = replace(FitConfig(), data=str(world), labels="fused")
    prep = prepare(cfg)
    ds, search = open_dataset(prep.dataset_path, False)
    found = {}
    for choice in ("auto", "fixed"):
        click = replace(cfg.click, priors=ClickPriors(choice=choice))
        found[choice] = candidates(ds, search, prep.stats, prep.split.ids("train"), prep.split.ids("valid"), click)
        ids = pl.concat([prep.split.ids("train"), prep.split.ids("valid")])
        fitted = search.click_labels(ds.candidates, ids, click).model
        assert found[choice].prior == (fitted.priors.attractiveness.a, fitted.priors.attractiveness.b)
        assert fitted.prior.choice == choice
    assert found["fixed"].prior == tuple(ClickPriors().attractiveness) == PRIOR
    assert found["auto"].prior != found["fixed"].prior


# --- gbltr plan end to end -----------------------------------------------------------------------------


@pytest.fixture
def unlabelled(world_copy):
    """The tiny world with LLM labels on the first 20 queries only."""
    edit_table(world_copy, "labels/llm", lambda f: f.filter(pl.col("query_id").is_in(
        f["query_id"].unique().sort().head(20).implode())))
    return world_copy


@pytest.fixture
def prices(tmp_path):
    p = tmp_path / "prices.toml"
    p.write_text('[models."m"]\ninput = 0.15\noutput = 0.6\n')
    return p


def _plan(args, capsys):
    code, out, err = run_cli(["plan", *args], capsys)
    assert code == 0, err
    return out


def test_plan_is_reproducible_from_its_seed_and_skips_pairs_with_an_llm_label(unlabelled, tmp_path, capsys):
    outs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        _plan(["--data", str(unlabelled), "--budget", "40", "--planner", "random-pairs", "--seed", str(seed),
               "--out", str(tmp_path / f"{name}.parquet")], capsys)
        outs.append(pl.read_parquet(tmp_path / f"{name}.parquet"))
    assert outs[0].equals(outs[1])
    assert not outs[0].select("query_id", "doc_id").equals(outs[2].select("query_id", "doc_id"))
    labelled = pl.read_parquet(unlabelled / "labels" / "llm.parquet").select("query_id", "doc_id")
    assert outs[0].join(labelled, on=["query_id", "doc_id"], how="semi").height == 0
    assert (tmp_path / "a.md").read_text().count("| low |") == 1
    assert "click model's attractiveness prior Beta(" in (tmp_path / "a.md").read_text()


@pytest.mark.parametrize("strategy", ["point", "listrank"])
def test_plan_dollars_equal_the_annotate_dry_run_estimate(unlabelled, prices, tmp_path, capsys, strategy):
    out = tmp_path / "plan.parquet"
    _plan(["--data", str(unlabelled), "--budget-usd", "0.002", "--prices", str(prices), "--price-model", "m",
           "--strategy", strategy, "--planner", "tail-first", "--out", str(out)], capsys)
    plan = pl.read_parquet(out)
    assert 0 < plan["expected_usd"].sum() <= 0.002
    code, stdout, err = run_cli(["annotate", "--data", str(unlabelled), "--plan", str(out), "--model", "m",
                                 "--strategy", strategy, "--prices", str(prices), "--dry-run"], capsys)
    assert code == 0, err
    record = json.loads(stdout.strip().splitlines()[-1])
    assert record["pairs"] == plan.height
    assert record["dry_run"]["cost_usd"] == pytest.approx(plan["expected_usd"].sum(), rel=1e-9)
    assert record["dry_run"]["prompt_tokens"] == pytest.approx(plan["expected_prompt_tokens"].sum(), rel=1e-9)


def test_annotate_refuses_a_plan_for_another_dataset_or_strategy(unlabelled, world, tmp_path, capsys):
    out = tmp_path / "plan.parquet"
    _plan(["--data", str(unlabelled), "--budget", "10", "--out", str(out)], capsys)
    code, _, err = run_cli(["annotate", "--data", str(world), "--plan", str(out), "--model", "m", "--dry-run"], capsys)
    assert code == 2 and "was made for dataset" in err and "fingerprint" in err
    code, _, err = run_cli(["annotate", "--data", str(unlabelled), "--plan", str(out), "--model", "m",
                            "--strategy", "list", "--dry-run"], capsys)
    assert code == 2 and "made for --strategy point" in err


@pytest.mark.parametrize("budget", ["0", "-3", "nan", "inf"])
def test_plan_refuses_a_budget_of_zero_or_less_or_nan(unlabelled, tmp_path, capsys, budget):
    for flag in ("--budget", "--budget-usd"):
        extra = ["--prices", "x.toml", "--price-model", "m"] if flag == "--budget-usd" else []
        code, _, err = run_cli(["plan", "--data", str(unlabelled), flag, budget, *extra,
                                "--out", str(tmp_path / "p.parquet")], capsys)
        assert code == 2 and "expected" in err and "Traceback" not in err
    assert not (tmp_path / "p.parquet").exists()


def test_plan_with_a_budget_larger_than_the_pairs_left_plans_them_all_and_says_so(unlabelled, tmp_path, capsys):
    out = _plan(["--data", str(unlabelled), "--budget", "1000000", "--out", str(tmp_path / "p.parquet")], capsys)
    result = json.loads(out.strip().splitlines()[-1].removeprefix("RESULT "))
    assert result["all_planned"] and result["pairs"] == result["pairs_left"] > 0
    assert "all of them are planned" in out


def test_plan_refuses_a_dataset_without_a_log(world_copy, tmp_path, capsys):
    (world_copy / "impressions.parquet").unlink()
    manifest = json.loads((world_copy / "dataset.json").read_text())
    manifest["tables"].pop("impressions", None)
    (world_copy / "dataset.json").write_text(json.dumps(manifest))
    code, _, err = run_cli(["plan", "--data", str(world_copy), "--budget", "5", "--out", str(tmp_path / "p.parquet")],
                           capsys)
    assert code == 2 and "no impressions" in err, err


def test_plan_budget_usd_needs_a_price_table(unlabelled, tmp_path, capsys):
    code, _, err = run_cli(["plan", "--data", str(unlabelled), "--budget-usd", "1", "--out",
                            str(tmp_path / "p.parquet")], capsys)
    assert code == 2 and "--prices" in err


# --- FAMOL on partial LLM labels -------------------------------------------------------------------------


def test_a_query_without_llm_labels_gets_the_click_only_gradient():
    from gbltr.train.backends.custom import FamolObjective, LambdarankObjective
    from gbltr.train.fused import click_only

    rng = np.random.default_rng(0)
    sizes = np.array([6, 5, 7])
    gp = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(gp[-1])
    click = rng.integers(0, 5, n).astype(np.int32)
    llm = rng.integers(0, 5, n).astype(np.int32)
    llm[gp[1]:gp[2]] = -1  # query 1: no LLM label at all
    llm[gp[2]] = -1  # query 2: one row without
    scores = rng.normal(size=n)
    gain = tuple(float(2**g - 1) for g in range(5))
    a, b = click_only(np.array([0.3, 0.3, 0.3]), np.array([0.7, 0.7, 0.7]), np.array([True, False, True]))
    assert a.tolist() == [0.3, 1.0, 0.3] and b.tolist() == [0.7, 0.0, 0.7]
    g, h = FamolObjective(click, llm, gp, a, b, click_gain=gain, llm_gain=gain)(scores, gp)
    gc, hc = LambdarankObjective(click, gp, label_gain=gain)(scores, gp)
    q1 = slice(gp[1], gp[2])
    np.testing.assert_allclose(g[q1], gc[q1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h[q1], hc[q1], rtol=1e-12, atol=1e-15)
    assert not np.allclose(g[gp[0]:gp[1]], gc[gp[0]:gp[1]])  # a labelled query mixes both sources


def test_fused_run_on_partial_llm_labels_trains_unlabelled_queries_on_clicks_and_says_so(unlabelled, tmp_path, capsys):
    cfg = fast_config(tmp_path, '[fusion]\nweight_fn = "sigmoid"\n')
    code, _, err = run_cli(["fit", "--data", str(unlabelled), "--config", str(cfg), "--labels", "fused",
                            "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    partial = report["training"]["partial_llm"]
    weights = pl.read_parquet(tmp_path / "run" / "famol_weights.parquet")
    assert sum(v["click_only_queries"] for v in partial.values()) == (~weights["has_llm_label"]).sum() > 0
    for b, v in partial.items():
        assert v["queries"] == v["queries_with_llm"] + v["click_only_queries"]
    alone = weights.filter(~pl.col("has_llm_label"))
    assert alone["click_weight"].to_list() == [1.0] * alone.height and alone["llm_weight"].sum() == 0
    assert "train on clicks alone" in (tmp_path / "run" / "report.md").read_text()


# --- budget curves -------------------------------------------------------------------------------------------


def test_budget_curves_on_the_tiny_world_with_two_seeds(world, tmp_path, capsys):
    cfg = fast_config(tmp_path, '[fusion]\nweight_fn = "sigmoid"\n')
    out = tmp_path / "curves"
    code, stdout, err = run_cli(["experiment", "--data", str(world), "--config", str(cfg), "--seeds", "2",
                                 "--budgets", "0.1,0.5", "--planners", "tail-first,click-uncertainty",
                                 "--out", str(out)], capsys)
    assert code == 0, err
    summary = json.loads((out / "experiment.json").read_text())
    assert summary["kind"] == "budget_curves" and summary["seeds"] == [0, 1]
    assert summary["planners"] == ["random-pairs", "tail-first", "click-uncertainty"]
    for view in ("overall", "low"):
        res = summary["results"][view]
        for setup in ("tail-first@0.1", "click-uncertainty@0.5"):
            assert len(res[setup]["per_seed"]) == 2 and np.isfinite(res[setup]["mean"])
            assert res[setup]["vs_random"]["baseline"] == setup.replace(setup.split("@")[0], "random-pairs")
            assert res[setup]["vs_full"]["baseline"] == "full"
    per_query = pl.read_parquet(out / "per_query.parquet")
    assert set(per_query["budget"].unique()) == {0.1, 0.5, 1.0}
    assert (out / "experiment.png").stat().st_size > 1000
    assert "## low" in stdout


def test_budget_curves_record_what_auto_chose_by_masked_trials(world, tmp_path, capsys):
    cfg = fast_config(tmp_path, '[fusion]\nweight_fn = "sigmoid"\n')
    out = tmp_path / "curves"
    code, _, err = run_cli(["experiment", "--data", str(world), "--config", str(cfg), "--seeds", "1",
                            "--budgets", "0.3", "--planners", "auto", "--out", str(out)], capsys)
    assert code == 0, err
    summary = json.loads((out / "experiment.json").read_text())
    (choice,) = summary["trial_choices"]
    assert choice["planner"] == "auto" and choice["budget"] == 0.3 and choice["seed"] == 0
    assert set(choice["trials"]) == {n.replace("-", "_") for n in PLANNERS if n != "auto"}
    best = max(choice["trials"].values())
    assert choice["trials"][choice["chosen"].replace("-", "_")] == best and 0 < best <= 1
    assert "What auto chose" in (out / "experiment.md").read_text()


def test_budget_curves_refuse_a_share_outside_zero_one(world, tmp_path, capsys):
    for bad in ("0", "1.5", "nan", "x"):
        code, _, err = run_cli(["experiment", "--data", str(world), "--budgets", bad, "--seeds", "1",
                                "--out", str(tmp_path / "c")], capsys)
        assert code == 2 and "--budgets" in err, err


def test_plan_on_a_fully_labelled_dataset_plans_nothing_and_says_so(world, tmp_path, capsys):
    out = _plan(["--data", str(world), "--budget", "5", "--out", str(tmp_path / "p.parquet")], capsys)
    assert "nothing is left to plan" in out
    assert pl.read_parquet(tmp_path / "p.parquet").height == 0


def test_famol_weights_of_a_prepared_world_give_unlabelled_queries_the_click_only_gradient(unlabelled):
    from dataclasses import replace

    from gbltr.config import FitConfig
    from gbltr.pipeline import prepare
    from gbltr.train.backends.custom import FamolObjective, LambdarankObjective
    from gbltr.train.fused import famol_weights, llm_labelled_queries

    cfg = replace(FitConfig(), data=str(unlabelled), labels="fused")
    cfg = replace(cfg, fusion=replace(cfg.fusion, weight_fn="sigmoid", weight_params={}))
    prep = prepare(cfg)
    train = prep.train
    a, b = famol_weights(prep, cfg)
    has = llm_labelled_queries(train)
    assert has.any() and (~has).any()
    gain = cfg.fusion.click_gain
    click, llm = train.grades("click", max_grade=len(gain) - 1), train.grades("llm", max_grade=len(gain) - 1)
    scores = np.random.default_rng(1).normal(size=train.n_rows)
    g, _ = FamolObjective(click, llm, train.group_ptr, a, b, click_gain=gain, llm_gain=gain)(scores, train.group_ptr)
    gc, _ = LambdarankObjective(click, train.group_ptr, label_gain=gain)(scores, train.group_ptr)
    rows = np.repeat(~has, train.group_sizes)
    np.testing.assert_allclose(g[rows], gc[rows], rtol=1e-12, atol=1e-15)


def test_plan_uses_the_fit_configs_click_model(unlabelled, tmp_path, capsys):
    cfg = tmp_path / "fit.toml"
    cfg.write_text('[click]\nmodel = "dbn"\n[fusion]\nweight_fn = "sigmoid"\n')
    plans = {}
    for name, extra in (("pbm", []), ("dbn", ["--config", str(cfg)])):
        _plan(["--data", str(unlabelled), "--budget", "30", "--planner", "click-uncertainty", *extra,
               "--out", str(tmp_path / f"{name}.parquet")], capsys)
        plans[name] = pl.read_parquet(tmp_path / f"{name}.parquet")
    assert not plans["pbm"]["part_posterior_std"].equals(plans["dbn"]["part_posterior_std"])


# --- budget curves in dollars (--budgets-usd) --------------------------------------------------------------


def test_dollar_budgets_parse_as_dollars_and_refuse_zero_negative_nan_and_a_dollar_sign():
    from gbltr.analysis.budget_curves import USD, parse_budgets, setup_name
    from gbltr.errors import GbltrError

    assert parse_budgets("2, 0.5,1,0.5", USD) == [0.5, 1.0, 2.0]
    assert parse_budgets("5", USD) == [5.0]  # a dollar amount above 1 is no share
    assert setup_name("tail-first", 0.5, USD) == "tail-first@$0.5" != setup_name("tail-first", 0.5)
    for bad, said in (("0", "--budgets-usd dollar amount"), ("-1", "--budgets-usd dollar amount"),
                      ("nan", "--budgets-usd dollar amount"), ("inf", "--budgets-usd dollar amount"),
                      ("$1", "no $ sign"), (",", "at least one value")):
        with pytest.raises(GbltrError, match="expected") as e:
            parse_budgets(bad, USD)
        assert said in str(e.value), (bad, str(e.value))


@pytest.mark.parametrize("args, said", [
    (["--budgets-usd", "0.01"], "needs dollars per token: pass --prices FILE and --price-model NAME"),
    (["--budgets-usd", "0.01", "--prices", "{prices}"], "found only --prices"),
    (["--budgets-usd", "0", "--prices", "{prices}", "--price-model", "m"], "--budgets-usd dollar amount"),
    (["--budgets-usd", "0.01", "--budgets", "0.1", "--prices", "{prices}", "--price-model", "m"], "found both"),
    (["--budgets", "0.1", "--prices", "{prices}", "--price-model", "m"], "expected --budgets-usd"),
    (["--budgets-usd", "0.01", "--prices", "{prices}", "--price-model", "other"], "no model 'other'"),
])
def test_experiment_refuses_dollar_budgets_it_cannot_price(world, prices, tmp_path, capsys, args, said):
    args = [a.replace("{prices}", str(prices)) for a in args]
    code, _, err = run_cli(["experiment", "--data", str(world), "--seeds", "1", *args, "--out", str(tmp_path / "c")],
                           capsys)
    assert code == 2 and said in err and "Traceback" not in err, err
    assert not (tmp_path / "c").exists()


def test_dollar_budget_curves_buy_the_pairs_gbltr_plan_plans_for_the_same_dollars(world, world_copy, prices,
                                                                                   tmp_path, capsys):
    """One seed on the tiny world: the table has dollar columns, the plot a dollar axis, and each
    planner's pairs for $X are those ``gbltr plan --budget-usd X`` plans (same split, seed and
    planner) on the same world without its LLM labels (nothing is excluded as already labelled)."""
    cfg = fast_config(tmp_path)
    out = tmp_path / "curves"
    code, stdout, err = run_cli(["experiment", "--data", str(world), "--config", str(cfg), "--seeds", "1",
                                 "--budgets-usd", "0.001,0.004", "--prices", str(prices), "--price-model", "m",
                                 "--planners", "value-per-dollar", "--out", str(out)], capsys)
    assert code == 0, err
    summary = json.loads((out / "experiment.json").read_text())
    assert summary["unit"] == "usd" and summary["budgets"] == [0.001, 0.004]
    assert "| planner | $0.001 | $0.004 |" in stdout and "## Pairs bought" in stdout
    assert set(summary["results"]["overall"]) == {"full", "random-pairs@$0.001", "random-pairs@$0.004",
                                                  "value-per-dollar@$0.001", "value-per-dollar@$0.004"}
    per_query = pl.read_parquet(out / "per_query.parquet")
    assert set(per_query["budget_unit"].unique()) == {"usd"}
    drop_label_set(world_copy, "llm")
    for planner in ("random-pairs", "value-per-dollar"):
        for usd in (0.001, 0.004):
            bought = summary["bought"][f"{planner}@${usd:g}"]
            assert 0 < bought["usd"][0] <= usd
            _plan(["--data", str(world_copy), "--config", str(cfg), "--budget-usd", str(usd), "--prices", str(prices),
                   "--price-model", "m", "--planner", planner, "--seed", "0", "--out", str(tmp_path / "p.parquet")], capsys)
            plan = pl.read_parquet(tmp_path / "p.parquet")
            assert bought["pairs"] == [plan.height] and bought["usd"][0] == pytest.approx(plan["expected_usd"].sum(), rel=1e-12)
    assert summary["bought"]["random-pairs@$0.004"]["pairs"][0] > summary["bought"]["random-pairs@$0.001"]["pairs"][0]


# --- token estimates without rendering each request --------------------------------------------------------


@pytest.mark.parametrize("lang, mode, doc_tokens", [("auto", "json_schema", 300), ("en", "json_object", 60),
                                                     ("auto", "text", 300)])
def test_vectorised_point_tokens_equal_the_per_pair_dry_run(world, lang, mode, doc_tokens):
    """point_tokens (each distinct text measured once, the rest arrays) against unit_usage (every
    request rendered by the strategy code, one pair per unit) on the tiny world's pairs and on texts
    that stress the arithmetic: CJK, JSON escapes, control and Unicode whitespace, a passage tag,
    a document cut at doc_tokens, a missing text or query."""
    from gbltr.labels.llm.client import ClientConfig
    from gbltr.labels.llm.cost import Tokens, point_tokens, unit_usage
    from gbltr.labels.llm.pairs import pairs_from_dataset
    from gbltr.labels.llm.strategies import Doc, StrategyConfig

    pairs = pairs_from_dataset(world).head(150)
    queries = pairs["query"].to_list() + ["中文查询 mixed", 'say "x" \\ y\n', None, "tab\there", "q", "q2"]
    texts = pairs["text"].to_list() + ["文档 <passage> x </PASSAGE> 更多", "a\x1c b\x85c\u00a0d\t\te\n\x01", " \u2028x\u3000y\x0bz\u200bw\x08v\x7fu\x1f ",
                                       "word " * 2000, None, 'quotes " and \\ backslash']
    strategy = StrategyConfig(strategy="point", lang=lang, doc_tokens=doc_tokens)
    client = ClientConfig(model="m", mode=mode)
    fast = point_tokens(queries, texts, strategy, client)
    slow = Tokens.of(unit_usage([[("q", q, [Doc("d", t or "")])] for q, t in zip(queries, texts)], strategy, client))
    assert fast.prompt.tolist() == slow.prompt.tolist() and fast.completion.tolist() == slow.completion.tolist()
    assert len(set(fast.prompt.tolist())) > 5  # the texts differ, so do the estimates
