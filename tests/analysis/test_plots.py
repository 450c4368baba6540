"""The figures draw the numbers of the typed results (checked on the Axes' data, not on files)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from gbltr import plots
from gbltr.analysis.ablation import FULL, AblationResult
from gbltr.analysis.label_distributions import LabelDistributions
from gbltr.evaluate.significance import paired_by_view

pytest.importorskip("matplotlib")


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    buckets = ["high"] * 12 + ["medium"] * 12 + ["low"]  # one low query: too few for a test
    frames = []
    for lab, shift in (("click", 0.1), ("llm", 0.02)):
        base = rng.random(25)
        for dropped, d in ((FULL, 0.0), ("document", -shift), ("query_document", -0.05)):
            frames.append(pl.DataFrame({"labels": lab, "dropped": dropped, "query_id": [f"q{i}" for i in range(25)],
                                        "bucket": buckets, "ndcg@10": base + d + rng.normal(0, 0.01, 25)}))
    pq = pl.concat(frames)
    deltas = {lab: tuple(paired_by_view(pq.filter(pl.col("labels") == lab), system="dropped", baseline=FULL,
                                        n_permutations=200)) for lab in ("click", "llm")}
    return AblationResult(("click", "llm"), ("document", "query_document"), "ndcg@10", pq, deltas, {})


def test_heatmap_cells_are_the_deltas(result):
    ax = plots.plot_ablation_heatmap(result)
    shown = ax.images[0].get_array()
    assert shown.shape == (4, 4)  # (label, group) x (overall, high, medium, low)
    for i, (lab, g) in enumerate([(lab, g) for lab in result.labels for g in result.groups]):
        for j, view in enumerate(["overall", "high", "medium", "low"]):
            t = result.delta(lab, g, view)
            if view == "low":
                assert not t.ok and shown.mask[i, j]  # grey, no NaN-coloured cell
            else:
                assert shown[i, j] == pytest.approx(t.delta)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("n=1") == 4  # the low cells show their n
    assert [t.get_text() for t in ax.get_yticklabels()] == ["click: -document", "click: -query_document",
                                                            "llm: -document", "llm: -query_document"]
    table = result.delta_table()
    assert table.filter(pl.col("view") == "low")["delta"].null_count() == 4
    assert not table["delta"].is_nan().any()


def test_true_negative_bars_are_the_reach_shares():
    summary = pl.DataFrame({"labels": ["click", "click", "llm", "llm"], "view": ["overall", "high"] * 2,
                            "n_queries": [4, 2, 4, 2], "reach@1": [0.5, 0.0, 0.0, 0.0],
                            "reach@3": [0.5, 0.5, 0.25, 0.0], "reach@10": [0.75, 1.0, 0.25, 0.5],
                            "negatives_in_top10": [1.0, 1.5, 0.25, 0.5]})
    tn = SimpleNamespace(summary=summary, k=5)
    ax = plots.plot_true_negatives(tn, ax=plots.new_axes(), top=10)
    assert [p.get_height() for p in ax.patches] == [0.75, 1.0, 0.25, 0.5]
    # without ax: one panel per depth, the summary's own (plots import no analysis constant) or given
    first = plots.plot_true_negatives(tn)
    assert [a.get_title().rsplit(" ", 1)[1] for a in first.figure.axes] == ["1", "3", "10"]
    assert [p.get_height() for p in first.figure.axes[1].patches] == [0.5, 0.5, 0.25, 0.0]
    assert len(plots.plot_true_negatives(tn, tops=(3, 10)).figure.axes) == 2


def test_label_distribution_bars_are_the_shares():
    h = pl.DataFrame({"source": ["human", "human", "llm", "llm"], "view": ["overall"] * 4, "grade": [0, 1, 0, 1],
                      "count": [3, 1, 1, 1], "share": [0.75, 0.25, 0.5, 0.5]})
    ax = plots.plot_label_distributions(LabelDistributions(h, ()), ax=plots.new_axes(), view="overall")
    assert [p.get_height() for p in ax.patches] == [0.75, 0.25, 0.5, 0.5]


def test_experiment_bars_are_the_means_with_their_std():
    s = {"setups": ["click", "llm"], "seeds": [0, 1], "buckets": ["overall", "high"],
         "results": {"overall": {"click": {"mean": 0.7, "std": 0.01}, "llm": {"mean": 0.75, "std": 0.02}},
                     "high": {"click": {"mean": 0.8, "std": 0.03}, "llm": {"mean": 0.72, "std": 0.0}}}}
    ax = plots.plot_experiment(SimpleNamespace(summary=s, metric="ndcg@10"))
    assert [p.get_height() for p in ax.patches] == [0.7, 0.8, 0.75, 0.72]  # click's bars, then llm's
    assert ax.get_legend().get_texts()[1].get_text() == "llm"


def test_comparison_bars_are_the_run_means_with_stars():
    from gbltr.evaluate.compare import BucketResult, Comparison

    res = (BucketResult("overall", "a", 10, 0, 0.5, 0.45, 0.55),
           BucketResult("overall", "b", 10, 0, 0.6, 0.56, 0.64, delta=0.1, t_p=0.001, rand_p=0.004, n_paired=10),
           BucketResult("high", "a", 5, 0, 0.4, 0.3, 0.5),
           BucketResult("high", "b", 5, 0, None, None, None))
    ax = plots.plot_bucket_bars(Comparison("ndcg@10", "a", ("a", "b"), res, 100, 0))
    heights = [p.get_height() for p in ax.patches]
    assert heights[:3] == [0.5, 0.4, 0.6] and np.isnan(heights[3])  # a's bars, then b's; no mean: no bar
    # b overall: rand p 0.004; the 5-query high bucket gets no error bar, its n instead (b has no mean there)
    assert [t.get_text() for t in ax.texts] == ["n=5", "**"]


def test_annotator_agreement_plot_draws_the_label_shares():
    """The annotator's histogram (now in gbltr.plots): bar heights are each label's share of pairs."""
    import polars as pl

    from gbltr.labels.llm.agreement import agreement
    from gbltr.plots import plot_annotator_agreement

    human = pl.DataFrame({"query_id": ["q"] * 4, "doc_id": list("abcd"), "label": [0.0, 1.0, 1.0, 2.0]})
    llm = human.with_columns(pl.Series("label", [0.0, 0.0, 2.0, 2.0]))
    rep = agreement(llm, human)
    axes = plot_annotator_agreement(rep, title="t")
    assert [round(p.get_height(), 3) for p in axes[0].patches] == [0.25, 0.5, 0.25]
    assert [round(p.get_height(), 3) for p in axes[1].patches] == [round(rep.llm_hist[k] / 4, 3) for k in rep.llm_hist]
    assert "kappa=" in axes[0].figure._suptitle.get_text()
