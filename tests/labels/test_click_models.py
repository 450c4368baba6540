"""Click models: recovery on simulated logs, equality with independent reference implementations,
sparse logs, bad input, save/load, held-out evaluation, and the real TREC Session 2014 log."""

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gbltr.errors import DataError
from gbltr.labels.clicks import (CLICK_MODELS, EMSettings, FittedClickModel, Priors, SessionLog, get_model,
                                 sessions_from_impressions)
from gbltr.labels.clicks.dbn import _dbn_estep
from gbltr.labels.clicks.evaluate import evaluate_held_out, split_seen_queries
from gbltr.labels.clicks.simulate import simulate_log

sys.path.insert(0, str(Path(__file__).parent))  # tests/labels/click_reference.py by module name

import click_reference as reference

PRIORS = Priors.from_pairs(attractiveness=(1.0, 3.0))


def halves(log_, share=0.8):
    cut = np.arange(log_.n_sessions) < share * log_.n_sessions
    return log_.subset(cut), log_.subset(~cut)


# ----------------------------------------------------------------------------------- recovery
# 40k sessions over 40 queries x 12 documents (10 shown): ~830 impressions per pair. Tolerances are
# on the mean absolute error over pairs (max error is dominated by pairs only ever shown low).


@pytest.fixture(scope="module")
def sims():
    return {m: simulate_log(m, 40_000, n_queries=40, seed=3) for m in ("pbm", "ubm", "dbn", "cascade")}


def test_pbm_recovers_examination_and_attractiveness(sims):
    sim = sims["pbm"]
    f = get_model("pbm").fit(sim.log, Priors(), EMSettings(1000, 1e-8))
    assert f.info.converged
    # pinned scale: examination relative to position 1, relevance = click probability at position 1
    assert np.abs(f.examination() - sim.theta / sim.theta[0]).max() < 0.02
    rel = f.pairs.sort("doc_id")  # doc_id = str(pair index): sort numerically
    rel = rel.with_columns(pl.col("doc_id").cast(pl.Int64)).sort("doc_id")["relevance"].to_numpy()
    assert np.abs(rel - sim.alpha * sim.theta[0]).mean() < 0.02


@pytest.mark.slow
def test_ubm_recovers_examination_matrix_and_attractiveness(sims):
    sim = sims["ubm"]
    f = get_model("ubm").fit(sim.log, Priors(), EMSettings(2000, 1e-8))
    g = sim.gamma / sim.gamma[0, 0]
    m = f.examination_matrix()
    # the cells users reach often: no click above, or a click right above
    assert np.abs(m[:, 0] - g[:, 0]).max() < 0.05
    diag = np.arange(1, 10)
    assert np.abs(m[diag, diag] - g[diag, diag]).max() < 0.05
    rel = f.pairs.with_columns(pl.col("doc_id").cast(pl.Int64)).sort("doc_id")["relevance"].to_numpy()
    assert np.abs(rel - sim.alpha * sim.gamma[0, 0]).mean() < 0.02


def test_dbn_recovers_attractiveness_satisfaction_continuation(sims):
    sim = sims["dbn"]
    f = get_model("dbn").fit(sim.log, Priors(), EMSettings(1000, 1e-8))
    assert f.info.converged and abs(f.params["continuation"] - sim.continuation) < 0.01
    p = f.pairs.with_columns(pl.col("doc_id").cast(pl.Int64)).sort("doc_id")
    assert np.abs(p["attractiveness"].to_numpy() - sim.alpha).mean() < 0.03
    # satisfaction is only seen through last clicks: weight the error by clicks
    w = p["clicks"].to_numpy()
    assert np.average(np.abs(p["satisfaction"].to_numpy() - sim.sigma), weights=w) < 0.05


def test_cascade_recovers_attractiveness(sims):
    sim = sims["cascade"]
    f = get_model("cascade").fit(sim.log, Priors(), EMSettings())
    p = f.pairs.with_columns(pl.col("doc_id").cast(pl.Int64)).sort("doc_id")
    assert np.abs(p["attractiveness"].to_numpy() - sim.alpha).mean() < 0.03


@pytest.mark.slow
def test_the_generating_model_wins_on_held_out_sessions(sims):
    for gen, rivals in (("pbm", ("dctr",)), ("ubm", ("pbm", "dctr")), ("dbn", ("pbm", "dctr"))):
        train, test = halves(sims[gen].log)
        perp = {m: evaluate_held_out(get_model(m).fit(train, PRIORS, EMSettings(500, 1e-6)), test).perplexity
                for m in (gen, *rivals)}
        assert all(perp[gen] < perp[r] for r in rivals), (gen, perp)


# ------------------------------------------------------------------ independent implementations


def small_log(model="ubm", n=300, seed=5):
    return simulate_log(model, n, n_queries=6, docs_per_query=6, n_positions=5, seed=seed).log


def test_pbm_and_ubm_match_a_per_session_reference_loop():
    lg = small_log()
    iters = 25
    for name, ref in (("pbm", reference.pbm_em), ("ubm", reference.ubm_em)):
        f = get_model(name).fit(lg, PRIORS, EMSettings(iters, 1e-300))
        alpha_ref, exam_ref = ref(lg.doc.tolist(), lg.click.tolist(), lg.pairs.height, lg.n_positions, iters)
        np.testing.assert_allclose(f.pairs["attractiveness"].to_numpy(), alpha_ref, rtol=1e-9)
        key = "theta" if name == "pbm" else "gamma"
        np.testing.assert_allclose(np.asarray(f.params[key]), np.asarray(exam_ref), rtol=1e-9)


@pytest.mark.parametrize("name", ["ubm", "dbn"])
def test_perplexity_and_conditional_perplexity_match_a_per_session_reference(name):
    """Perplexity scores the full click probability P(C_r = 1) (earlier clicks marginalised out),
    conditional perplexity P(C_r = 1 | earlier clicks) (Chuklin, Markov & de Rijke 2015, sec. 4.2);
    both checked against plain per-session Python, for two models where they differ."""
    train, test = halves(small_log(name, n=400, seed=7), 0.7)
    f = get_model(name).fit(train, PRIORS, EMSettings(30, 1e-300))
    table = f.pair_table(test, ("attractiveness", "satisfaction") if name == "dbn" else ("attractiveness",))
    alpha = table["attractiveness"].tolist()
    if name == "ubm":
        gamma = np.asarray(f.params["gamma"]).tolist()
        conditional = lambda docs: lambda c: reference.ubm_conditional(docs, c, alpha, gamma)  # noqa: E731
    else:
        sigma, g = table["satisfaction"].tolist(), float(f.params["continuation"])
        conditional = lambda docs: lambda c: reference.dbn_conditional(docs, c, alpha, sigma, g)  # noqa: E731
    full, cond = [], []
    for s in range(test.n_sessions):
        shown = test.doc[s] >= 0
        assert shown.all()  # the simulated log shows every position
        docs, clicks = test.doc[s].tolist(), [int(c) for c in test.click[s]]
        full.append((clicks, reference.full_click_probs_bruteforce(docs, conditional(docs))))
        cond.append((clicks, conditional(docs)(clicks)))
    ref_full, ref_cond = reference.perplexities(full), reference.perplexities(cond)
    score = evaluate_held_out(f, test)
    np.testing.assert_allclose(score.perplexity_by_position, ref_full, rtol=1e-9)
    np.testing.assert_allclose(score.conditional_perplexity_by_position, ref_cond, rtol=1e-9)
    assert score.perplexity == pytest.approx(np.mean(ref_full), rel=1e-9)
    assert score.conditional_perplexity == pytest.approx(np.mean(ref_cond), rel=1e-9)
    assert abs(score.perplexity - score.conditional_perplexity) > 1e-4  # the two metrics differ here


def test_perplexity_equals_conditional_perplexity_without_click_dependence():
    train, test = halves(small_log("pbm", n=300, seed=2), 0.7)
    for name in ("ctr", "dctr", "pbm"):
        s = evaluate_held_out(get_model(name).fit(train, PRIORS, EMSettings(20, 1e-300)), test)
        assert s.perplexity_by_position == s.conditional_perplexity_by_position, name


def test_dbn_e_step_matches_brute_force_enumeration():
    lg = simulate_log("dbn", 40, n_queries=3, docs_per_query=5, n_positions=4, seed=2).log
    rng = np.random.default_rng(0)
    n = lg.pairs.height
    alpha, sigma, gamma = rng.uniform(0.1, 0.9, n), rng.uniform(0.1, 0.9, n), 0.7
    a_num, a_den, s_num, s_den = (np.zeros(n) for _ in range(4))
    g_num, g_den, ll = _dbn_estep(lg.doc, lg.click, alpha, sigma, gamma, a_num, a_den, s_num, s_den, np.zeros(n))
    ea, es, ll_ref, gn, gd = np.zeros(n), np.zeros(n), 0.0, 0.0, 0.0
    for s in range(lg.n_sessions):
        docs, clicks = lg.doc[s].tolist(), lg.click[s].astype(int).tolist()
        p, st = reference.dbn_posteriors_bruteforce(docs, clicks, alpha, sigma, gamma)
        ll_ref += np.log(p)
        for r, d in enumerate(docs):
            ea[d] += st["alpha"][r]
            es[d] += st["sigma"][r]
        gn += st["g_num"]
        gd += st["g_den"]
    np.testing.assert_allclose(a_num, ea, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s_num, es, rtol=1e-9, atol=1e-12)
    assert g_num == pytest.approx(gn, rel=1e-9) and g_den == pytest.approx(gd, rel=1e-9)
    assert ll == pytest.approx(ll_ref, rel=1e-9)
    # the held-out probabilities chain to the same joint likelihood
    f = get_model("dbn").fit(lg, Priors(), EMSettings(1, 1e-300))
    f.pairs = f.pairs.with_columns(attractiveness=pl.Series(alpha), satisfaction=pl.Series(sigma))
    f.params["continuation"] = gamma
    p = f.predict_click_probs(lg)
    assert np.where(lg.click, np.log(p), np.log1p(-p)).sum() == pytest.approx(ll_ref, rel=1e-9)


# -------------------------------------------------------------------------------- sparse logs


def test_sparse_log_keeps_probabilities_inside_0_1_and_beats_dctr():
    # TREC-shaped: 3000 queries under a Zipf law, 3500 sessions: most queries have one SERP
    sim = simulate_log("dbn", 3500, n_queries=3000, docs_per_query=12, zipf=1.1, seed=4)
    train, test = halves(sim.log)
    test, _ = split_seen_queries(train, test)
    once = np.bincount(train.query)[np.bincount(train.query) > 0]
    assert (once == 1).mean() > 0.5
    perp = {}
    for name in CLICK_MODELS:
        f = get_model(name).fit(train, PRIORS, EMSettings(200, 1e-6))
        for col in ("attractiveness", "satisfaction"):
            if col in f.pairs.columns:
                v = f.pairs[col].to_numpy()
                assert v.min() > 1e-3 and v.max() < 1 - 1e-3, (name, col, v.min(), v.max())
        assert np.all((f.examination() > 1e-3) & np.isfinite(f.examination())), name
        s = evaluate_held_out(f, test)
        assert np.isfinite(s.perplexity) and s.clipped == 0, name
        perp[name] = s.perplexity
    assert all(perp[m] < perp["dctr"] for m in ("pbm", "ubm", "dbn")), perp


# -------------------------------------------------------------------------------- bad input


def rows_of(rows, time=False):
    cols = ["session_id", "query_id", "position", "doc_id", "clicked"] + (["click_time"] if time else [])
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.col("position").cast(pl.Int32))


def test_bad_positions_and_clicks_on_unshown_documents_are_clear_errors():
    with pytest.raises(DataError, match=r"session 's1' has position 0; expected positions 1\.\.10"):
        sessions_from_impressions(rows_of([("s1", "q", 0, "a", False)]))
    with pytest.raises(DataError, match=r"session 's1' shows position 2 more than once"):
        sessions_from_impressions(rows_of([("s1", "q", 2, "a", False), ("s1", "q", 2, "b", True)]))
    with pytest.raises(DataError, match=r"click on a document not shown"):
        sessions_from_impressions(rows_of([("s1", "q", 1, "a", False), ("s1", "q", None, None, True)]))
    with pytest.raises(DataError, match=r"session 's1' shows 2 queries"):
        sessions_from_impressions(rows_of([("s1", "q", 1, "a", False), ("s1", "r", 2, "b", False)]))


def test_long_empty_gappy_and_out_of_order_sessions_are_counted():
    rows = [
        ("s1", "q", 1, "a", True, 5.0), ("s1", "q", 2, "b", True, 3.0),    # clicks out of order
        ("s2", "q", 1, "a", False, None), ("s2", "q", 3, "c", False, None),  # gap at 2
        ("s3", "r", 12, "x", False, None),                                  # only beyond position 10: empty
        ("s4", "q", 1, "b", False, None), ("s4", "q", 11, "y", True, 1.0),  # truncated
    ]
    lg = sessions_from_impressions(rows_of(rows, time=True))
    i = lg.issues
    assert (i["sessions_clicks_out_of_order"], i["sessions_with_gaps"], i["empty_sessions"]) == (1, 1, 1)
    assert (i["rows_beyond_max_positions"], i["sessions_truncated"], i["sessions"]) == (2, 2, 3)
    assert i["queries_with_one_session"] == 0 and lg.doc[1, 1] == -1
    single = sessions_from_impressions(rows_of([("s1", "q", 1, "a", True), ("s2", "r", 1, "a", False),
                                                ("s3", "r", 1, "b", False)]))
    assert single.issues["queries_with_one_session"] == 1


def test_more_positions_than_the_model_is_an_error():
    f = get_model("pbm").fit(small_log(), PRIORS, EMSettings(20, 1e-6))
    wide = SessionLog.from_arrays(np.zeros((2, 8), np.int64), np.zeros((2, 8), bool))
    with pytest.raises(DataError, match="sessions have 8 positions; the model was fitted on 5"):
        f.predict_click_probs(wide)


def test_iteration_cap_warns_and_reports(caplog):
    f = get_model("pbm").fit(small_log(), PRIORS, EMSettings(3, 1e-12))
    assert f.info.iterations == 3 and not f.info.converged
    assert "hit the iteration cap (3)" in caplog.text


# -------------------------------------------------------------------------- contract, save/load


@pytest.mark.parametrize("name", CLICK_MODELS)
def test_fitted_model_contract_and_round_trip(name, tmp_path):
    lg = small_log(n=400)
    train, test = halves(lg)
    f = get_model(name).fit(train, PRIORS, EMSettings(100, 1e-6))
    p = f.predict_click_probs(test)
    assert p.shape == test.doc.shape and np.all((p[test.shown] >= 0) & (p[test.shown] <= 1))
    assert np.isnan(p[~test.shown]).all()
    assert f.examination().shape == (lg.n_positions,)
    assert set(f.relevance().columns) == {"query_id", "doc_id", "relevance"}
    back = FittedClickModel.load(f.save(tmp_path / name))
    np.testing.assert_array_equal(back.predict_click_probs(test), p)
    assert back.info.iterations == f.info.iterations


def test_unseen_pairs_get_the_prior_mean():
    lg = small_log()
    f = get_model("dctr").fit(lg, PRIORS, EMSettings())
    other = SessionLog.from_arrays([[0, 1]], [[False, False]],
                                   pairs=pl.DataFrame({"query_id": ["zz", "zz"], "doc_id": ["u", "v"]}))
    assert f.predict_click_probs(other)[0].tolist() == [0.25, 0.25]  # Beta(1, 3) mean


# --------------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_trec_session_2014_held_out_perplexity(shared_data):
    from gbltr.data.real import read_trec_session

    imp = read_trec_session(shared_data("trec-session-2014")).impressions
    train = sessions_from_impressions(imp.filter(pl.col("split") != "test"))
    test, skipped = split_seen_queries(train, sessions_from_impressions(imp.filter(pl.col("split") == "test")))
    assert test.n_sessions == 104 and skipped == 259
    perp = {m: evaluate_held_out(get_model(m).fit(train, PRIORS, EMSettings(500, 1e-6)), test).perplexity
            for m in ("dctr", "pbm", "ubm", "dbn")}
    assert perp["pbm"] <= 1.30 and perp["ubm"] <= 1.29 and perp["dbn"] < perp["dctr"], perp
    # the old EM (no prior) drove 24,056 of 25,358 attractiveness values below 1e-6 and, at 1,000
    # iterations, every examination probability to 1.0 (issue 8): with pseudo-counts, run long, neither
    pbm = get_model("pbm").fit(train, PRIORS, EMSettings(1000, 1e-10))
    alpha = pbm.pairs["attractiveness"].to_numpy()
    assert alpha.min() > 1e-3 and alpha.max() < 1 - 1e-3
    assert np.all(pbm.examination()[1:] < 0.9) and np.all(pbm.params["theta"] < 1 - 1e-3)


def test_empty_slots_are_transparent_to_cascade_type_models():
    # a gap at position 2 changes nothing for DBN/SDBN/cascade (they read the order, not positions)
    lg = small_log("dbn", n=200)
    gappy = SessionLog.from_arrays(np.insert(lg.doc, 1, -1, axis=1)[:, :6], np.insert(lg.click, 1, False, axis=1)[:, :6],
                                   lg.query, pairs=lg.pairs)
    for name in ("dbn", "sdbn", "cascade"):
        a = get_model(name).fit(lg, PRIORS, EMSettings(50, 1e-300))
        b = get_model(name).fit(gappy, PRIORS, EMSettings(50, 1e-300))
        np.testing.assert_allclose(a.pairs["relevance"].to_numpy(), b.pairs["relevance"].to_numpy(), rtol=1e-12)
