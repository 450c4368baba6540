"""Click labels: CTR grades, quantile grades, IPS weights, every model, unshown candidates, zero-click queries."""

import numpy as np
import polars as pl
import pytest

from gbltr.data.frequency import BucketSpec, query_stats
from gbltr.errors import ConfigError, DataError
from gbltr.labels.clicks import ClickLabelConfig, ClickPriors, click_labels, zero_click_report


def log_of(rows):
    return pl.DataFrame(rows, schema=["session_id", "query_id", "position", "doc_id", "clicked"], orient="row").with_columns(
        pl.col("position").cast(pl.Int32))


CANDS = pl.DataFrame({"query_id": ["q"] * 3, "doc_id": ["a", "b", "c"], "rank": [1, 2, 3], "retrieval_score": [3.0, 2.0, 1.0]})


RAW = ClickPriors(choice="fixed", attractiveness=(0.0, 0.0))  # no pseudo-counts: the raw CTR (pinned: these tests are about grading)


def test_ctr_grades_by_hand():
    # a: 2 clicks / 4 impressions = 0.50 -> grade 4 (thresholds .05 .15 .30 .50);
    # b: 1 / 4 = 0.25 -> grade 2; c: never shown -> unshown policy.
    rows = []
    for s in range(4):
        rows += [(f"s{s}", "q", 1, "a", s < 2), (f"s{s}", "q", 2, "b", s == 0)]
    labels = click_labels(log_of(rows), CANDS, pl.Series(["q"]), ClickLabelConfig(model="ctr", priors=RAW)).frame
    assert labels.sort("doc_id")["label"].to_list() == [4.0, 2.0, 0.0]
    dropped = click_labels(log_of(rows), CANDS, pl.Series(["q"]), ClickLabelConfig(model="ctr", unshown="drop", priors=RAW)).frame
    assert dropped.sort("doc_id")["label"].to_list() == [4.0, 2.0, None]


def test_unshown_candidates_never_outrank_shown_and_skipped_ones():
    rows = [(f"s{s}", "q", p, d, False) for s in range(20) for p, d in ((1, "a"), (2, "b"))]
    labels = click_labels(log_of(rows), CANDS, pl.Series(["q"])).frame.sort("doc_id")
    assert labels["label"].to_list() == [0.0, 0.0, 0.0]


def test_quantile_grading_gives_each_grade_its_share_whatever_the_scale():
    # 20 documents with CTRs 0/20 .. 19/20 (1 impression-weighted session each way)
    rows, cands = [], []
    for i in range(20):
        cands.append(("q", f"d{i:02d}", i + 1, 1.0))
        rows += [(f"s{i}-{k}", "q", 1, f"d{i:02d}", k < i) for k in range(20)]
    cand = pl.DataFrame(cands, schema=["query_id", "doc_id", "rank", "retrieval_score"], orient="row")
    cfg = ClickLabelConfig(model="dctr", grading="quantile", quantiles=(0.5, 0.75, 0.9), priors=ClickPriors(choice="fixed", attractiveness=(0.0, 0.0)))
    lab = click_labels(log_of(rows), cand, pl.Series(["q"]), cfg)
    counts = lab.frame["label"].value_counts().sort("label")["count"].to_list()
    assert counts == [9, 5, 3, 3]  # lower quantiles of 20 values are data values: cuts at 9/20, 14/20, 17/20
    assert lab.cuts == pytest.approx((9 / 20, 14 / 20, 17 / 20))


def test_ips_weights_come_from_fitted_examination():
    rows = [(f"s{s}", "q", p, d, bool((s + p) % 3 == 0)) for s in range(60) for p, d in ((1, "a"), (2, "b"), (3, "c"))]
    lab = click_labels(log_of(rows), CANDS, pl.Series(["q"]), ClickLabelConfig(model="pbm")).frame.sort("doc_id")
    exam = lab["propensity"].to_list()
    assert exam[0] == pytest.approx(1.0) and lab["position"].to_list() == [1, 2, 3]
    np.testing.assert_allclose(lab["ips_weight"].to_numpy(), 1 / np.maximum(exam, 0.05))


@pytest.mark.parametrize("model", ["ctr", "dctr", "pbm", "cascade", "ubm", "dbn", "sdbn"])
def test_every_model_labels_candidates(model):
    rows = [(f"s{s}", "q", p, d, bool((s * 7 + p) % 4 == 0)) for s in range(30) for p, d in ((1, "a"), (2, "b"))]
    lab = click_labels(log_of(rows), CANDS, pl.Series(["q"]), ClickLabelConfig(model=model))
    assert lab.frame.height == 3 and lab.model.name == model and lab.frame["label"].null_count() == 0
    assert lab.sessions["sessions"] == 30


def test_held_out_query_clicks_are_not_read():
    rows = [("s1", "q", 1, "a", True), ("s2", "other", 1, "x", True)]
    cands = pl.concat([CANDS, pl.DataFrame({"query_id": ["other"], "doc_id": ["x"], "rank": [1], "retrieval_score": [1.0]})])
    labels = click_labels(log_of(rows), cands, pl.Series(["q"])).frame
    assert set(labels["query_id"]) == {"q"}


def test_empty_log_is_a_clear_error():
    empty = log_of([])
    with pytest.raises(DataError, match="impressions table is empty"):
        click_labels(empty, CANDS, pl.Series(["q"]))


def test_shown_document_that_is_not_a_candidate():
    with pytest.raises(DataError, match="not candidates"):
        click_labels(log_of([("s1", "q", 1, "zzz", True)]), CANDS, pl.Series(["q"]))


def test_zero_click_queries_are_counted_per_bucket():
    rows = [(f"s{s}", "q", 1, "a", False) for s in range(3)]
    labels = click_labels(log_of(rows), CANDS, pl.Series(["q"])).frame
    stats = query_stats(log_of(rows), pl.Series(["q"]), BucketSpec())
    assert zero_click_report(labels, stats) == {"low": {"queries": 1, "no_gradient": 1}}


def test_bad_config_lists_choices():
    with pytest.raises(ConfigError, match="choose one of: cascade, ctr, dbn, dctr, pbm, sdbn, ubm"):
        ClickLabelConfig(model="dbm")
    with pytest.raises(ConfigError, match="increasing numbers"):
        ClickLabelConfig(thresholds=(0.5, 0.1))
    with pytest.raises(ConfigError, match="choose one of: quantile, threshold"):
        ClickLabelConfig(grading="rank")
    with pytest.raises(ConfigError, match=r"expected two pseudo-counts"):
        ClickPriors(attractiveness=(1.0,))
    with pytest.raises(ConfigError, match=r"click.priors.examination=\[-1.0, 1.0\]; expected two pseudo-counts, each a finite number >= 0"):
        ClickPriors(examination=(-1.0, 1.0))


def test_example_click_config_loads():
    from pathlib import Path

    from gbltr.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "clicks-dbn-debias.toml")
    assert (cfg.click.model, cfg.click.grading, cfg.click.debias) == ("dbn", "quantile", True)
    assert cfg.click.priors.choice == "auto" and cfg.click.priors.learn == ("attractiveness", "satisfaction")
    with pytest.raises(ConfigError, match="pseudo-counts"):
        load_config(None, {"click": {"priors": {"attractiveness": [1.0, 2.0, 3.0]}}})
