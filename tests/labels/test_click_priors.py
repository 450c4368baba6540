"""Click-model priors learnt from the log (issue 23): empirical Bayes by default, fixed pseudo-counts
on request, the choice recorded, and examination that approaches the truth as the log grows."""

import json
import time

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import betaln

from gbltr.errors import ConfigError
from gbltr.labels.clicks import (ClickLabelConfig, ClickPriors, FittedClickModel, Priors,
                                 fit_click_model, get_model)
from gbltr.labels.clicks.empirical import LEARNT_HIGH, fit_beta
from gbltr.labels.clicks.priors import LEARNABLE
from gbltr.labels.clicks.simulate import simulate_log

AUTO = ClickLabelConfig()
FIXED_13 = ClickLabelConfig(priors=ClickPriors(choice="fixed", attractiveness=(1.0, 3.0)))

# A log like the built-in world's (issue 23): Zipf query frequencies (a long tail of sparse pairs),
# documents ranked by noisy attractiveness (the attractive ones high), examination k^-1.2.
SPARSE = dict(n_queries=2000, docs_per_query=20, zipf=1.1, examination_eta=1.2, ranking_noise=0.3,
              attractiveness=(2.0, 3.0), seed=0)


def _truth(sim, model):
    return sim.theta / sim.theta[0] if model == "pbm" else sim.gamma[:, 0] / sim.gamma[0, 0]


@pytest.mark.parametrize("model", ["pbm", "ubm"])
def test_examination_error_falls_with_log_size_and_is_within_5_percent_at_1m_sessions(model):
    """Issue 23: the prior's effect shrinks as evidence grows. Max relative error of examination
    over positions 2..10 against the simulated truth, at 10k, 100k and 1M sessions (seeded; the
    5% bound has a margin of >= 0.5 points here, far above last-bit differences between CPUs)."""
    errors, seconds = [], []
    for n in (10_000, 100_000, 1_000_000):
        sim = simulate_log(model, n, **SPARSE)
        t0 = time.perf_counter()
        f = fit_click_model(sim.log, AUTO, model)
        seconds.append(time.perf_counter() - t0)
        assert f.prior.choice == "auto" and f.prior.learnt[0].kind == "attractiveness"
        errors.append(float(np.abs(f.examination() / _truth(sim, model) - 1).max()))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.05, errors
    print(model, "errors", [round(e, 4) for e in errors], "fit seconds", [round(s, 2) for s in seconds])


@pytest.mark.slow
def test_dbn_continuation_within_0_02_at_1m_sessions():
    """Issue 23: DBN's continuation within 0.02 of the truth (0.9) on 1M simulated sessions with the
    learnt prior. DBN's E-step runs per session (no aggregation): ~20 s on one core, hence slow."""
    sim = simulate_log("dbn", 1_000_000, **SPARSE)
    f = fit_click_model(sim.log, AUTO, "dbn")
    assert {x.kind for x in f.prior.learnt} == set(LEARNABLE)
    assert abs(f.params["continuation"] - sim.continuation) < 0.02


def test_fit_beta_finds_the_marginal_likelihood_optimum():
    """Two code paths: the Newton fit against scipy's L-BFGS on the same beta-binomial marginal
    likelihood; and a known Beta recovered from its draws (loose bound: sampling error)."""
    rng = np.random.default_rng(3)
    x = rng.beta(2.0, 5.0, 5000)
    n = rng.integers(1, 40, x.size)
    k = rng.binomial(n, x)
    f = fit_beta(k, n)
    assert f.pairs == x.size and not f.at_bound

    def neg(z):
        a, b = np.exp(z)
        return -(betaln(k + a, n - k + b) - betaln(a, b)).sum()

    ref = minimize(neg, np.log([1.0, 1.0]), method="L-BFGS-B")
    # the same optimum within the optimisers' tolerances (relative 1e-3 on each pseudo-count)
    assert np.allclose([f.a, f.b], np.exp(ref.x), rtol=1e-3)
    assert f.log_marginal * f.pairs >= -ref.fun - 1e-6 * abs(ref.fun)
    assert abs(f.a - 2.0) < 0.3 and abs(f.b - 5.0) < 0.8
    # expected (non-integer) trials are taken; pairs with no trial carry no evidence
    g = fit_beta(np.r_[k, 0, 0], np.r_[n + 0.25, 0, 0])
    assert g.pairs == x.size
    # pairs that do not differ: the prior grows strong, up to its bound, and says so
    flat = fit_beta(np.full(400, 5), np.full(400, 10))
    assert flat.at_bound and max(flat.a, flat.b) == pytest.approx(LEARNT_HIGH)


@pytest.mark.parametrize("model", ["dctr", "pbm", "ubm", "dbn", "sdbn", "cascade", "ctr"])
def test_the_prior_choice_is_recorded_and_saved(model, tmp_path):
    """Issue 23 (c): which prior, learnt or fixed, and why, in one typed field that is saved."""
    sim = simulate_log("dbn", 3000, n_queries=30, seed=1)
    auto = fit_click_model(sim.log, AUTO, model)
    kinds = {x.kind for x in auto.prior.learnt}
    assert auto.prior.choice == "auto" and "empirical Bayes" in auto.prior.why
    assert kinds == (set(LEARNABLE) if model in ("dbn", "sdbn") else {"attractiveness"})
    for x in auto.prior.learnt:  # the pseudo-counts in effect are the learnt ones
        assert getattr(auto.priors, x.kind).a == x.a and x.pairs > 0 and np.isfinite(x.log_marginal_per_pair)
    back = FittedClickModel.load(auto.save(tmp_path / model))
    assert back.prior == auto.prior
    fixed = fit_click_model(sim.log, FIXED_13, model)
    assert fixed.prior.choice == "fixed" and fixed.prior.learnt == () and "fixed" in fixed.prior.why
    assert (fixed.priors.attractiveness.a, fixed.priors.attractiveness.b) == (1.0, 3.0)


def test_fixed_priors_give_the_old_fit_and_the_closed_form_by_hand():
    """Issue 23 (d): fixed pseudo-counts still work. Two paths: the config's fixed prior and the
    model called with Priors directly give the same numbers; DCTR's smoothed CTR by hand."""
    sim = simulate_log("pbm", 2000, n_queries=20, seed=2)
    cfg = ClickLabelConfig(priors=ClickPriors(choice="fixed", attractiveness=(2.0, 5.0)))
    a = fit_click_model(sim.log, cfg, "pbm")
    b = get_model("pbm").fit(sim.log, Priors.from_pairs(attractiveness=(2.0, 5.0)), cfg.em)
    assert a.pairs.equals(b.pairs) and np.array_equal(a.examination(), b.examination())
    d = fit_click_model(sim.log, cfg, "dctr").pairs
    assert np.allclose(d["attractiveness"], (d["clicks"] + 2.0) / (d["impressions"] + 7.0), rtol=0, atol=1e-15)


def test_bad_prior_values_and_choices_are_refused():
    """Issue 23 (d): bad values refused, with the fix."""
    from gbltr.config import load_config

    with pytest.raises(ConfigError, match=r"each a finite number >= 0"):
        ClickPriors(choice="fixed", attractiveness=(-1.0, 3.0))
    with pytest.raises(ConfigError, match=r"each a finite number >= 0"):
        ClickPriors(choice="fixed", attractiveness=(float("nan"), 3.0))
    with pytest.raises(ConfigError, match=r"choose one of: auto, fixed"):
        ClickPriors(choice="learnt")
    with pytest.raises(ConfigError, match=r"choice = 'fixed'"):  # auto would silently ignore them
        ClickPriors(attractiveness=(1.0, 1.0))
    with pytest.raises(ConfigError, match=r"choice = 'fixed'"):
        load_config(None, {"click": {"priors": {"satisfaction": [2.0, 2.0]}}})
    cfg = load_config(None, {"click": {"priors": {"choice": "fixed", "attractiveness": [1.0, 1.0]}}})
    assert cfg.click.priors.learn == () and cfg.click.priors.attractiveness == (1.0, 1.0)
    assert load_config(None, {}).click.priors.learn == LEARNABLE  # the default is learnt


def test_clicks_fit_cli_records_the_prior_and_refuses_bad_pseudo_counts(tmp_path, capsys):
    from gbltr.cli import main

    sim = simulate_log("pbm", 1500, n_queries=15, seed=4)
    log_file = tmp_path / "log.parquet"
    sim.log.to_impressions().write_parquet(log_file)
    assert main(["clicks", "fit", "--log", str(log_file), "--models", "pbm", "--out", str(tmp_path / "a")]) in (0, None)
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["config"]["priors"]["choice"] == "auto" and rep["models"][0]["prior"]["choice"] == "auto"
    assert "auto: attractiveness Beta(" in (tmp_path / "a" / "report.md").read_text().replace("pbm: auto: ", "auto: ")
    capsys.readouterr()
    main(["clicks", "fit", "--log", str(log_file), "--models", "pbm", "--out", str(tmp_path / "b"),
          "--attractiveness-prior", "1", "1"])
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep["models"][0]["prior"]["choice"] == "fixed"
    assert rep["models"][0]["prior"]["priors"]["attractiveness"] == [1.0, 1.0]
    capsys.readouterr()
    for bad in (["--attractiveness-prior", "-1", "3"], ["--attractiveness-prior", "nan", "3"],
                ["--priors", "auto", "--attractiveness-prior", "1", "1"], ["--priors", "sometimes"]):
        with pytest.raises(SystemExit) as e:
            main(["clicks", "fit", "--log", str(log_file), "--models", "pbm", "--out", str(tmp_path / "c"), *bad])
        assert e.value.code == 2, bad
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("error" in err.lower()), (bad, err)
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured 2026-12-07: IPS-weighted 0.792 vs unweighted 0.804 mean nDCG@10 on "
                   "the tiny world (PBM labels are already position-debiased; weights add variance). Open for the lead: "
                   "strict, so the day it passes it must be turned into a plain test")
def test_ips_weighted_click_training_ranks_closer_to_the_human_labels(tmp_path, monkeypatch):
    """Issue 23: IPS weights from the fitted (learnt-prior) examination. On the simulated world,
    LightGBM trained on PBM click labels with inverse-propensity row weights ranks the test queries
    closer to their human labels (mean nDCG@10) than the same training without weights."""
    from pathlib import Path

    from gbltr.config import load_config
    from gbltr.pipeline import prepare
    from gbltr.train.fit import evaluate, train_model

    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    tiny = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"
    ndcg = {}
    for ips in (False, True):
        cfg = load_config(tiny, {"labels": "click", "click": {"model": "pbm", "ips_weights": ips},
                                 "train": {"rounds": 60}})
        prep = prepare(cfg)
        assert prep.log.click.click_prior.choice == "auto"
        per_query = evaluate(prep, train_model(prep))
        ndcg[ips] = float(per_query["ndcg@10"].drop_nans().drop_nulls().mean())
    print("mean nDCG@10 unweighted / IPS-weighted:", ndcg)
    assert ndcg[True] > ndcg[False], ndcg
