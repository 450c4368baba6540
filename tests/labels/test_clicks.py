"""Click labels: CTR grades, the PBM fitted by EM, unshown candidates, zero-click queries."""

import numpy as np
import polars as pl
import pytest

from gbltr.data.frequency import BucketSpec, query_stats
from gbltr.errors import ConfigError, DataError
from gbltr.labels.clicks import ClickLabelConfig, click_labels, fit_pbm, zero_click_report


def log_of(rows):
    return pl.DataFrame(rows, schema=["session_id", "query_id", "position", "doc_id", "clicked"], orient="row").with_columns(
        pl.col("position").cast(pl.Int32))


CANDS = pl.DataFrame({"query_id": ["q"] * 3, "doc_id": ["a", "b", "c"], "rank": [1, 2, 3], "retrieval_score": [3.0, 2.0, 1.0]})


def test_ctr_grades_by_hand():
    # a: 2 clicks / 4 impressions = 0.50 -> grade 4 (thresholds .05 .15 .30 .50);
    # b: 1 / 4 = 0.25 -> grade 2; c: never shown -> unshown policy.
    rows = []
    for s in range(4):
        rows += [(f"s{s}", "q", 1, "a", s < 2), (f"s{s}", "q", 2, "b", s == 0)]
    labels = click_labels(log_of(rows), CANDS, pl.Series(["q"]), ClickLabelConfig(model="ctr")).frame
    assert labels.sort("doc_id")["label"].to_list() == [4.0, 2.0, 0.0]
    dropped = click_labels(log_of(rows), CANDS, pl.Series(["q"]), ClickLabelConfig(model="ctr", unshown="drop")).frame
    assert dropped.sort("doc_id")["label"].to_list() == [4.0, 2.0, None]


def test_unshown_candidates_never_outrank_shown_and_skipped_ones():
    rows = [(f"s{s}", "q", p, d, False) for s in range(20) for p, d in ((1, "a"), (2, "b"))]
    labels = click_labels(log_of(rows), CANDS, pl.Series(["q"])).frame.sort("doc_id")
    assert labels["label"].to_list() == [0.0, 0.0, 0.0]


def test_pbm_recovers_simulated_propensities_and_attractiveness():
    rng = np.random.default_rng(0)
    theta = np.array([1.0, 0.6, 0.35, 0.2])
    gamma = rng.uniform(0.05, 0.9, 200)
    # each pair shown at every position many times (rotating rankings): identifiable
    n = 400
    agg = []
    for pair, g in enumerate(gamma):
        for k, t in enumerate(theta):
            agg.append((pair, k + 1, n, rng.binomial(n, t * g)))
    frame = pl.DataFrame(agg, schema=["pair", "position", "n", "c"], orient="row")
    g_hat, t_hat = fit_pbm(frame, iterations=2000, tolerance=1e-10)
    scale = t_hat[0]
    np.testing.assert_allclose(t_hat / scale, theta, atol=0.05)
    assert np.corrcoef(g_hat, gamma)[0, 1] > 0.98


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
    with pytest.raises(ConfigError, match="choose one of: ctr, pbm"):
        ClickLabelConfig(model="dbn")
    with pytest.raises(ConfigError, match="increasing numbers"):
        ClickLabelConfig(ctr_thresholds=(0.5, 0.1))
