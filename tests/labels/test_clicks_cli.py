"""``gbltr clicks fit``: a report from an impressions file, held-out split by session, errors."""

import json

import numpy as np

import pytest

from gbltr.cli import main
from gbltr.labels.clicks.simulate import simulate_log


@pytest.fixture
def log_file(tmp_path):
    imp = simulate_log("dbn", 600, n_queries=20, docs_per_query=8, n_positions=6, seed=1).log.to_impressions()
    path = tmp_path / "log.parquet"
    imp.write_parquet(path)
    return path


def test_clicks_fit_writes_report_and_models(log_file, tmp_path, capsys):
    out = tmp_path / "report"
    main(["clicks", "fit", "--log", str(log_file), "--models", "dctr,pbm,dbn", "--out", str(out), "--seed", "3"])
    rep = json.loads((out / "report.json").read_text())
    assert [m["model"] for m in rep["models"]] == ["dctr", "pbm", "dbn"]
    assert rep["held_out"].startswith("seeded split by session (seed 3")
    assert rep["train_sessions"] + rep["held_out_sessions_scored"] + rep["held_out_sessions_unseen_query"] == 600
    for m in rep["models"]:
        assert 1 < m["perplexity"] < 2 and len(m["perplexity_by_position"]) == 6
    assert (out / "examination.png").stat().st_size > 0 and (out / "models" / "dbn" / "pairs.parquet").exists()
    md = (out / "report.md").read_text()
    assert "| pbm |" in md
    # perplexity (full click probabilities) and conditional perplexity, each named, both by position;
    # the models ranked by the first (issue 18: the column called "perplexity" was the conditional one)
    by = {m["model"]: m for m in rep["models"]}
    assert by["pbm"]["perplexity"] == by["pbm"]["conditional_perplexity"]  # no click dependence
    assert by["dbn"]["perplexity"] != by["dbn"]["conditional_perplexity"]
    assert all(len(m["conditional_perplexity_by_position"]) == 6 for m in rep["models"])
    assert "| perplexity | conditional perplexity |" in md and "Models ranked by held-out perplexity (full click" in md
    assert "Conditional perplexity by position (given the earlier clicks):" in md
    ranked = [line.split(" | ")[1] for line in md.splitlines() if line[:4] in ("| 1 ", "| 2 ", "| 3 ")][:3]
    assert ranked == sorted(by, key=lambda m: by[m]["perplexity"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("RESULT ")
    # the folder is claimed before any work: a second run is refused unless --overwrite
    args = ["clicks", "fit", "--log", str(log_file), "--models", "dctr", "--out", str(out)]
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and "--overwrite" in capsys.readouterr().err
    main(args + ["--overwrite"])
    assert [m["model"] for m in json.loads((out / "report.json").read_text())["models"]] == ["dctr"]
    assert not (out / "models" / "dbn").exists()  # replaced whole


def test_clicks_fit_errors_name_the_choices(log_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["clicks", "fit", "--log", str(log_file), "--models", "pbm,dbm", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "unknown click model 'dbm'; choose one of: cascade, ctr, dbn" in capsys.readouterr().err
    (tmp_path / "folder").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["clicks", "fit", "--log", str(tmp_path / "folder"), "--out", str(tmp_path / "y")])
    assert e.value.code == 2 and "cannot tell the log format" in capsys.readouterr().err


@pytest.mark.slow
def test_clicks_fit_on_sogou(shared_data, tmp_path):
    out = tmp_path / "sogou"
    main(["clicks", "fit", "--log", str(shared_data("sogou-pscm")), "--models", "dctr,pbm,ubm,dbn", "--out", str(out)])
    rep = json.loads((out / "report.json").read_text())
    perp = {m["model"]: m["perplexity"] for m in rep["models"]}
    assert rep["held_out"] == "the log's own split: train vs test" and rep["held_out_sessions_scored"] == 1791
    assert all(perp[m] < perp["dctr"] for m in ("pbm", "ubm", "dbn")), perp
    assert rep["train_issues"]["sessions_clicks_out_of_order"] > 0  # counted, not dropped


def test_agreement_by_hand():
    import polars as pl

    from gbltr.labels.clicks import ClickLabelConfig, ClickPriors, fit_click_model, sessions_from_impressions
    from gbltr.labels.clicks.report import agreement, agreement_by_bucket

    # a (pos 1) never clicked, b (pos 2) clicked 1 of 3, c (pos 3) 2 of 3; human grades 0, 1, 2
    rows = [(f"s{s}", "q", p, d, (d == "b" and s == 0) or (d == "c" and s < 2))
            for s in range(3) for p, d in ((1, "a"), (2, "b"), (3, "c"))]
    imp = pl.DataFrame(rows, schema=["session_id", "query_id", "position", "doc_id", "clicked"], orient="row")
    train = sessions_from_impressions(imp.with_columns(pl.col("position").cast(pl.Int32)))
    fitted = fit_click_model(train, ClickLabelConfig(priors=ClickPriors(choice="fixed", attractiveness=(0.0, 0.0))), "dctr")
    human = pl.DataFrame({"query_id": ["q"] * 3, "doc_id": ["a", "b", "c"], "label": [0.0, 1.0, 2.0]})
    per_query = agreement(fitted, train, human, pl.DataFrame({"query_id": ["q"], "frequency": [3]}))
    row = per_query.row(0, named=True)
    # displayed order a, b, c: DCG = 1/log2(3) + 3/2; ideal c, b, a: 3 + 1/log2(3)
    ideal = 3 + 1 / np.log2(3)
    assert row["kendall_tau"] == pytest.approx(1.0) and row["ndcg_model"] == pytest.approx(1.0)
    assert row["ndcg_displayed"] == pytest.approx((1 / np.log2(3) + 1.5) / ideal)
    low = [r for r in agreement_by_bucket(per_query) if r["bucket"] == "low"][0]
    assert low["queries"] == 1 and low["kendall_tau"] == pytest.approx(1.0)


def test_kendall_tau_b_matches_scipy():
    from scipy.stats import kendalltau

    from gbltr.labels.clicks.report import kendall_tau_b

    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        for _ in range(20):
            x, y = rng.integers(0, 4, n).astype(float), rng.integers(-2, 3, n).astype(float)
            ref = kendalltau(x, y).statistic
            got = kendall_tau_b(x, y)
            assert (np.isnan(ref) and np.isnan(got)) or got == pytest.approx(ref, abs=1e-12)
