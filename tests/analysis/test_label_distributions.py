"""Label histograms and pairwise agreement per bucket, on a hand-checkable label table."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from gbltr.analysis.label_distributions import label_distributions
from gbltr.config import FitConfig


def _labels(rows):
    return pl.DataFrame(rows, schema={"query_id": pl.String, "doc_id": pl.String, "label": pl.Float64}, orient="row")


@pytest.fixture
def ds():
    # high: q1 (d1, d2), q2 (d1, d2); low: q3 (d1), q4 (d9: LLM only)
    human = _labels([("q1", "d1", 0), ("q1", "d2", 1), ("q2", "d1", 1), ("q2", "d2", 0), ("q3", "d1", 1)])
    llm = _labels([("q1", "d1", 0), ("q1", "d2", 1), ("q2", "d1", 0), ("q2", "d2", 0), ("q3", "d1", 1),
                   ("q4", "d9", 1)])
    return SimpleNamespace(labels={"human": human, "llm": llm}, impressions=None, candidates=None,
                           queries=pl.DataFrame({"query_id": ["q1", "q2", "q3", "q4"]}))


STATS = pl.DataFrame({"query_id": ["q1", "q2", "q3", "q4"], "bucket": ["high", "high", "low", "low"]})


def test_histograms_per_source_and_view(ds):
    ld = label_distributions(ds, STATS, FitConfig(), min_pairs=2)
    h = ld.histograms
    assert set(h["source"]) == {"human", "llm"}  # no log: no click labels
    got = {(r["source"], r["view"], r["grade"]): (r["count"], r["share"]) for r in h.iter_rows(named=True)}
    assert got[("human", "overall", 1)] == (3, pytest.approx(3 / 5))
    assert got[("llm", "high", 0)] == (3, pytest.approx(3 / 4))
    assert got[("llm", "low", 1)] == (2, pytest.approx(1.0))
    for (_, _), part in h.group_by("source", "view"):
        assert part["share"].sum() == pytest.approx(1)


def test_kappa_per_view_and_too_few_pairs(ds):
    ld = label_distributions(ds, STATS, FitConfig(), min_pairs=2)
    agree = {(p.a, p.b, p.view): p for p in ld.agreement}
    high = agree[("human", "llm", "high")]
    # by hand: human (0,1,1,0), LLM (0,1,0,0): p_o = 3/4, p_e = 1/2 * 3/4 + 1/2 * 1/4 = 1/2 -> kappa 0.5
    assert high.n_pairs == 4 and high.kappa == pytest.approx(0.5)
    assert high.result.confusion["counts"] == [[2, 0], [1, 1]]  # rows human 0/1, columns LLM 0/1
    low = agree[("human", "llm", "low")]  # one shared pair (q3, d1); (q4, d9) has no human label
    assert low.kappa is None and low.n_pairs == 1 and low.status.startswith("too few shared pairs")
    table = ld.kappa_table()
    assert table.filter(pl.col("view") == "low")["status"][0] == low.status
    assert not table["kappa"].is_nan().any()
