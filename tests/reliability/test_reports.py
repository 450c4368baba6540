"""Reports that never overstate (issue 18).

- small buckets: ``compare`` flags them, gives them no p-value and no CI, and ``comparison.png``
  draws no error bar for them (it writes ``n=N``); every CI lies inside what nDCG can take;
- one minimum (:data:`gbltr.buckets.MIN_TEST_QUERIES`) for every significance test: the ablation
  prints no p-value under a "too few" note, the heatmap cells of small views show ``n``;
- ``report.md``: bucket notes under their own heading, labels clamped or rounded on import, the
  weight search's "click weight 0" in words, validation queries per bucket counted as they score;
- plurals: "1 test query", never "1 test queries".
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from gbltr.buckets import MIN_TEST_QUERIES

# --- compare: small buckets --------------------------------------------------------------------


def _run(path, values, buckets, name):
    path.mkdir(parents=True)
    pl.DataFrame({"query_id": [f"q{i:03d}" for i in range(len(values))], "bucket": buckets,
                  **{f"ndcg@{k}": values for k in (1, 3, 5, 10)}}).write_parquet(path / "per_query.parquet")
    (path / "report.json").write_text(json.dumps({"name": name}))
    return path


@pytest.fixture
def small_bucket_runs(tmp_path):
    """30 high queries and a 2-query medium bucket whose values are far apart (0.05 and 0.95): a t
    interval over two values is [-5.2, 6.2] wide there, the shape seen on real data."""
    rng = np.random.default_rng(0)
    high = rng.uniform(0.3, 0.9, 30)
    a = np.concatenate([high, [0.05, 0.95]])
    b = np.concatenate([np.clip(high + rng.normal(0.05, 0.02, 30), 0, 1), [0.97, 0.99]])
    buckets = ["high"] * 30 + ["medium"] * 2
    return _run(tmp_path / "a", a, buckets, "a"), _run(tmp_path / "b", b, buckets, "b")


def test_compare_gives_a_small_bucket_no_ci_and_no_p_value(small_bucket_runs, tmp_path):
    """On main the 2-query bucket got p-values and a 95% CI far outside [0, 1]."""
    from gbltr.evaluate.compare import compare_runs

    c = compare_runs(small_bucket_runs, tmp_path / "cmp", n_permutations=200)
    for run in ("a", "b"):
        small = c.result("medium", run)
        assert small.too_few and small.ci_low is None and small.ci_high is None
        assert small.t_p is None and small.rand_p is None and small.delta is None
    big = c.result("high", "b")
    assert big.rand_p is not None and big.ci_low is not None
    for r in c.results:  # every interval drawn inside what nDCG can take
        if r.ci_low is not None:
            assert 0.0 <= r.ci_low <= r.mean <= r.ci_high <= 1.0, r
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "Too few queries for a confidence interval or a significance test" in md and "medium (n=2)" in md
    medium_rows = [line for line in md.splitlines() if line.startswith("| medium |")]
    assert len(medium_rows) == 2 and all(f"n=2 < {MIN_TEST_QUERIES}" in line for line in medium_rows)
    assert all(line.rstrip(" |").endswith("—") for line in medium_rows)  # no p-value
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert saved["too_few_queries"] == {"medium": 2} and saved["min_test_queries"] == MIN_TEST_QUERIES


def test_compare_intervals_are_clipped_to_the_metric(tmp_path):
    """Values near 1 with a wide spread: the raw t interval passes 1.0; the reported one stops there."""
    from gbltr.evaluate.compare import compare_runs

    v = np.array([1.0] * 10 + [0.2, 0.3])
    runs = [_run(tmp_path / n, v, ["high"] * 12, n) for n in ("a", "b")]
    r = compare_runs(runs, n_permutations=50).result("high", "a")
    assert r.ci_high == 1.0 and 0.0 <= r.ci_low < r.mean


def test_comparison_png_draws_no_error_bar_for_a_small_bucket(small_bucket_runs):
    """On main the small bucket got a zero-width error bar and its CI went outside [0, 1]."""
    from matplotlib.collections import LineCollection

    from gbltr.evaluate.compare import compare_runs
    from gbltr.plots import plot_bucket_bars

    c = compare_runs(small_bucket_runs, n_permutations=200)
    ax = plot_bucket_bars(c)
    segments = [seg for coll in ax.collections if isinstance(coll, LineCollection) for seg in coll.get_segments()]
    xs = {round(float(seg[0][0]), 6) for seg in segments}
    bars = {(round(p.get_x() + p.get_width() / 2, 6)): p for p in ax.patches}
    views = c.buckets  # overall, high, medium
    medium_x = {x for x in bars if round(x) == views.index("medium")}
    assert medium_x and not (medium_x & xs)  # no error bar over the small bucket's bars
    assert len(xs) == 4  # overall and high, for both runs
    for seg in segments:
        ys = [float(y) for _, y in seg]
        assert max(ys) - min(ys) > 0 and 0.0 <= min(ys) and max(ys) <= 1.0
    assert [t.get_text() for t in ax.texts].count("n=2") == 2


# --- one minimum: ablation and heatmap ---------------------------------------------------------


def test_no_view_gets_a_test_below_the_one_minimum():
    """On main a view was tested from n >= 2 while its bucket note called n < 10 too few."""
    from gbltr.buckets import bucket_notes
    from gbltr.evaluate.significance import paired_by_view

    n = MIN_TEST_QUERIES - 1
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, n)
    frame = pl.concat([pl.DataFrame({"system": s, "query_id": [f"q{i}" for i in range(n)], "bucket": "low",
                                     "ndcg@10": v}) for s, v in (("a", a), ("b", np.clip(a + 0.1, 0, 1)))])
    tests = paired_by_view(frame, system="system", baseline="a", n_permutations=100)
    assert all(not t.ok and t.rand_p is None and f"n={n}" in t.cell() for t in tests)
    assert "too few for a significance test" in bucket_notes({"high": 50, "medium": 50, "low": n})[0]


def test_experiment_pairing_over_seeds_counts_queries_not_pairs():
    """Three seeds of 4 queries are 12 pairs but still 4 queries: no test."""
    from gbltr.evaluate.significance import paired_by_view

    rows = [{"setup": s, "seed": seed, "query_id": f"q{i}", "bucket": "low", "ndcg@10": 0.5 + 0.1 * (s == "b") + 0.01 * i}
            for s in ("a", "b") for seed in (1, 2, 3) for i in range(4)]
    (t, *_) = [t for t in paired_by_view(pl.DataFrame(rows), system="setup", baseline="a", keys=("seed", "query_id"),
                                         n_permutations=50) if t.view == "low"]
    assert t.n == 12 and not t.ok and "n=4" in t.status


def _ablation_frame(n_small: int) -> pl.DataFrame:
    from gbltr.analysis.ablation import FULL

    rng = np.random.default_rng(2)
    n = 20 + n_small
    a = rng.uniform(0.2, 0.8, n)
    buckets = ["high"] * 20 + ["low"] * n_small
    return pl.concat([pl.DataFrame({"labels": "click", "dropped": s, "query_id": [f"q{i}" for i in range(n)],
                                    "bucket": buckets, "ndcg@10": v})
                      for s, v in ((FULL, a), ("text", a - 0.05 * np.arange(n) / n))])


def _ablation_tests(n_small: int):
    from gbltr.evaluate.significance import paired_by_view

    from gbltr.analysis.ablation import FULL

    return tuple(paired_by_view(_ablation_frame(n_small), system="dropped", baseline=FULL, n_permutations=100))


def test_ablation_heatmap_cells_below_the_minimum_show_n_and_no_colour():
    """On main the heatmap coloured a 3-query view's Δ with stars and no n."""
    from gbltr.plots import plot_ablation_heatmap

    tests = _ablation_tests(3)
    result = SimpleNamespace(views=["overall", "high", "low"], labels=["click"], groups=["text"], metric="ndcg@10",
                             delta=lambda lab, g, v: next(t for t in tests if t.view == v))
    ax = plot_ablation_heatmap(result)
    texts = [t.get_text() for t in ax.texts]
    assert texts[2] == "n=3" and texts[0].startswith("-0.0")
    cells = ax.images[0].get_array()
    assert np.ma.is_masked(cells[0, 2]) and not np.ma.is_masked(cells[0, 0])  # grey, not coloured


def test_ablation_markdown_prints_no_p_value_under_a_too_few_note():
    """On main: "p 0.5" printed in a bucket its own note called too few for a test."""
    from gbltr.analysis.ablation import AblationResult

    result = AblationResult(labels=("click",), groups=("text",), metric="ndcg@10", per_query=_ablation_frame(3),
                            deltas={"click": _ablation_tests(3)}, gain_share={})
    md = result.to_markdown()
    assert "bucket 'low' has 3 test queries that can rank" in md and "too few for a significance test" in md, md
    row = next(line for line in md.splitlines() if line.startswith("| text |"))
    low_cell = row.strip(" |").split(" | ")[-1]
    assert low_cell == f"too few queries (n=3 < {MIN_TEST_QUERIES})" and "(p " in row.split(" | ")[1]


# --- report.md of a fit ------------------------------------------------------------------------


def _fit(world, root, labels_args, *, judge_training: bool = False):
    """``gbltr fit`` on an edited copy of the tiny world (see :func:`fused_run`); returns the run's
    report.json (dict), report.md (text) and the validation query ids. ``judge_training``: give the
    training queries human labels (their LLM labels), which the tiny world lacks."""
    import shutil

    from .conftest import edit_table, fast_config, run_cli

    data = root / "world"
    shutil.copytree(world, data, ignore=shutil.ignore_patterns("latent"))
    split = pl.read_parquet(data / "queries.parquet")
    test_q = split.filter(pl.col("split") == "test")["query_id"].to_list()
    valid_q = split.filter(pl.col("split") == "valid")["query_id"].to_list()
    human = pl.read_parquet(data / "labels" / "human.parquet")
    if judge_training:
        train_q = split.filter(pl.col("split") == "train")["query_id"].to_list()
        llm = pl.read_parquet(data / "labels" / "llm.parquet").filter(pl.col("query_id").is_in(train_q))
        human = pl.concat([human, llm.select(human.columns).cast(human.schema).with_columns(source=pl.lit("human"))])
        edit_table(data, "labels/human", lambda f: human)
    rows = human.with_row_index("i").filter(pl.col("query_id").is_in(test_q) & (pl.col("label") > 0))["i"].to_list()
    edits = {rows[0]: -2.0, rows[1]: 1.5}
    edit_table(data, "labels/human", lambda f: f.with_row_index("i").with_columns(
        pl.when(pl.col("query_id") == valid_q[0]).then(0.0)
        .otherwise(pl.col("i").replace_strict(edits, default=pl.col("label"), return_dtype=pl.Float64))
        .alias("label")).drop("i"))
    out = root / "run"
    no_capture = SimpleNamespace(readouterr=lambda: ("", ""))  # a module fixture has no capsys
    code, _, _ = run_cli(["fit", "--data", str(data), *labels_args, "--config", str(fast_config(root)),
                          "--out", str(out)], no_capture)
    assert code == 0
    return SimpleNamespace(run=out, valid_ids=valid_q, report=json.loads((out / "report.json").read_text()),
                           md=(out / "report.md").read_text())


@pytest.fixture(scope="module")
def human_run(world, tmp_path_factory):
    """The edited world (:func:`fused_run`) trained on its human labels."""
    return _fit(world, tmp_path_factory.mktemp("reports-human"), ["--labels", "human"], judge_training=True)


@pytest.fixture(scope="module")
def fused_run(world, tmp_path_factory):
    """A fused FAMOL fit with the weight search on the tiny world (8 test queries per bucket: every
    bucket is flagged), after three hand edits: one human label -2, one 1.5 (both on test queries:
    the tiny world judges test and validation queries only), and every human label of one validation
    query 0 (no relevant document)."""
    return _fit(world, tmp_path_factory.mktemp("reports"), ["--labels", "fused", "--weight-fn", "auto"])


def test_bucket_notes_have_their_own_heading(fused_run):
    """On main the notes were appended to the "click labels are all equal" list as its last items."""
    from gbltr.buckets import NOTES_HEADING

    lines = fused_run.md.splitlines()
    assert fused_run.report["bucket_notes"]  # 8 test queries per bucket: every bucket is flagged
    first = next(i for i, line in enumerate(lines) if fused_run.report["bucket_notes"][0] in line)
    assert lines[first - 2] == NOTES_HEADING and lines[first - 1] == ""
    equal = next(i for i, line in enumerate(lines) if line.startswith("Training queries whose click labels are all equal"))
    items = []
    for line in lines[equal + 2:]:
        if not line.startswith("- "):
            break
        items.append(line)
    assert items and not any("bucket" in item for item in items)  # only the per-bucket counts


def test_report_md_lists_labels_changed_on_import(human_run):
    """On main the counts were in report.json and on stderr, not in report.md."""
    assert human_run.report["training"]["human_training_grades"] == {"negative_to_0": 1, "fractional_rounded": 1}
    assert "- negative, made 0: 1 human label\n" in human_run.md
    assert "- fractional, rounded to the nearest grade: 1 human label\n" in human_run.md


def test_validation_queries_per_bucket_count_only_queries_that_can_rank(fused_run):
    """On main a validation query with no relevant document was counted (10 shown, 9 scored)."""
    search = fused_run.report["weight_search"]
    assert sum(search["n_valid_queries"].values()) <= len(fused_run.valid_ids) - 1
    assert f"validation queries that can rank per bucket {json.dumps(search['n_valid_queries'])}" in fused_run.md


def test_valid_query_counts_by_hand():
    from gbltr.train.weight_search import valid_query_counts

    # four queries: scored (high), no relevant (high), single grade (low), scored (low)
    valid = SimpleNamespace(labels={"human": np.array([2.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])},
                            group_ptr=np.array([0, 2, 4, 6, 8]), bucket=np.array(["high", "high", "low", "low"]))
    assert valid_query_counts(valid) == {"high": 1, "medium": 0, "low": 1}


@pytest.mark.parametrize(("params", "words"), [
    ({"weight_fn": "constant", "params": {"value": 0.0}}, "in effect it is the LLM run"),
    ({"weight_fn": "piecewise", "params": {"high": 1.0, "medium": 1.0, "low": 1.0}}, "in effect it is the click run"),
    ({"weight_fn": "constant", "params": {"value": 0.5}}, None),
])
def test_weight_search_choice_of_one_source_is_said_in_words(fused_run, params, words):
    """On main a search that chose click weight 0 reported a "fused" run that was the LLM run, silently."""
    from gbltr.evaluate.report import report_markdown

    report = json.loads(json.dumps(fused_run.report))
    report["weight_search"]["choice"].update(params)
    md = report_markdown(report)
    if words is None:
        assert "in effect it is the" not in md
    else:
        assert words in md


# --- plurals -----------------------------------------------------------------------------------


def test_counts_take_the_noun_in_the_right_number():
    """On main: "bucket 'low' has 1 test queries ..." and "skipped 1 built feature(s)"."""
    from gbltr.buckets import bucket_notes
    from gbltr.evaluate.views import SCORED_WHAT
    from gbltr.words import counted

    notes = bucket_notes({"high": 40, "medium": 2, "low": 1}, SCORED_WHAT)
    assert "has 1 test query that can rank (a relevant document and two grades)," in notes[1]
    assert "has 2 test queries that can rank" in notes[0]
    assert [counted(n, "test query") for n in (0, 1, 2)] == ["0 test queries", "1 test query", "2 test queries"]
    assert counted(1, "built feature") == "1 built feature" and counted(3, "session") == "3 sessions"


def test_summaries_write_one_query_and_one_call():
    """Every writer of "N things" goes through gbltr.words.counted: the dry-run summary and the fit summary."""
    from gbltr.labels.llm.cost import DryRun

    fields = {f: 0 for f in DryRun.__dataclass_fields__}
    one = DryRun(**{**fields, "calls": 1, "cost_usd": None, "example_prompt": []})
    assert one.summary().startswith("dry run: 1 call, ")


def test_experiment_weight_search_table_says_when_a_seed_chose_one_source():
    from gbltr.experiment import ExperimentResult

    def rec(weight_fn, params):
        return {"choice": {"name": f"{weight_fn}(...)", "weight_fn": weight_fn, "params": params,
                           "valid": {"overall": 0.5}}, "rungs": [{"candidates": [1, 2]}], "rounds_trained": 9,
                "seconds": 0.1}

    summary = {"setups": ["fused:famol:auto"], "seeds": [1, 2], "buckets": [], "best_single": {}, "results": {},
               "weight_search": {"fused:famol:auto": {"1": rec("constant", {"value": 0.0}),
                                                      "2": rec("sigmoid", {"alpha": 1.5, "beta": 2.0})}}}
    md = ExperimentResult(pl.DataFrame(), summary, "ndcg@10").to_markdown()
    rows = [line for line in md.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert "(click weight 0: the LLM run)" in rows[0] and "LLM run" not in rows[1]
