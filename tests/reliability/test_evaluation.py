"""Evaluation that can mean something (issue 17, section 4, and two items of section 5).

- a validation or test query whose judged documents all have one grade cannot rank: it is
  excluded and counted (``n_single_grade``) like one with no relevant document (``n_no_relevant``),
  by reports, compare, the weight search and (as a constant) early stopping;
- a run with no test (or validation) query left that can rank is refused before training;
- ``experiment --seeds 1,1`` is refused;
- ``compare --metric`` takes metric columns only;
- TREC files are written only with ids and tags TREC readers split correctly;
- ``ablation`` on a dataset with one label source (LETOR, human labels) no longer crashes after all
  training, and the label-distribution drawing runs before training;
- ``--engine dask --scheduler foo`` is a one-line error naming the address form, before any work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config
from gbltr.errors import ConfigError, DataError, SchemaError
from gbltr.evaluate.compare import compare_runs
from gbltr.evaluate.views import summarise
from gbltr.pipeline import prepare

from .conftest import FAST, edit_table, fast_config, run_cli


def _split_ids(world: Path, split: str) -> list[str]:
    return pl.read_parquet(world / "queries.parquet").filter(pl.col("split") == split)["query_id"].to_list()


def _set_human(world: Path, ids, value: float) -> None:
    """Every human label of the queries ``ids`` becomes ``value`` (one grade per query)."""
    edit_table(world, "labels/human", lambda f: f.with_columns(
        pl.when(pl.col("query_id").is_in(list(ids))).then(value).otherwise(pl.col("label")).alias("label")))


def _main(args: list[str]) -> int:
    from gbltr.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


SINGLE = 3  # test queries whose every human label is made 2


@pytest.fixture(scope="module")
def single_grade_run(world, tmp_path_factory):
    """A fit on the tiny world whose first SINGLE test queries have every human label 2 (one grade)."""
    root = tmp_path_factory.mktemp("single")
    data = root / "world"
    shutil.copytree(world, data, ignore=shutil.ignore_patterns("latent"))
    ids = _split_ids(data, "test")[:SINGLE]
    _set_human(data, ids, 2.0)
    out = root / "run"
    code = _main(["fit", "--data", str(data), "--config", str(fast_config(root)), "--out", str(out)])
    assert code == 0
    return SimpleNamespace(data=data, run=out, ids=ids)


# --- one grade: excluded and counted ------------------------------------------------------------

def test_single_grade_test_queries_are_excluded_and_counted(single_grade_run):
    """On main these queries scored nDCG 1.0 under any ranking and were averaged in, uncounted."""
    run = single_grade_run.run
    report = json.loads((run / "report.json").read_text())
    assert report["n_single_grade"]["overall"] == SINGLE
    per_query = pl.read_parquet(run / "per_query.parquet")
    mine = per_query.filter(pl.col("query_id").is_in(single_grade_run.ids))
    assert mine["excluded"].to_list() == ["single_grade"] * SINGLE
    assert mine["ndcg@10"].is_nan().all()
    # per bucket, where n_no_relevant is
    buckets = mine.group_by("bucket").len()
    for b, n in buckets.iter_rows():
        assert report["n_single_grade"][b] == n
    # the mean is over the queries that can rank only
    scored = per_query.filter(pl.col("excluded").is_null())["ndcg@10"]
    assert report["metrics"]["overall"]["ndcg@10"] == pytest.approx(scored.mean())
    assert report["dropped"]["test_queries_with_one_grade"] == SINGLE
    md = (run / "report.md").read_text()
    assert "| view | queries | no relevant | single grade |" in md
    assert f"| overall | {report['n_queries']['overall']} | {report['n_no_relevant']['overall']} | {SINGLE} |" in md


def test_views_count_single_grade_per_bucket():
    per_query = pl.DataFrame({
        "query_id": ["a", "b", "c", "d"], "bucket": ["high", "high", "low", "low"],
        "ndcg@10": [0.5, float("nan"), float("nan"), 1.0],
        "excluded": [None, "single_grade", "no_relevant", None],
    })
    out = summarise(per_query)
    assert out["overall"] == {"ndcg@10": 0.75, "n_queries": 4, "n_no_relevant": 1, "n_single_grade": 1}
    assert out["high"]["n_single_grade"] == 1 and out["high"]["n_no_relevant"] == 0
    assert out["low"]["n_single_grade"] == 0 and out["low"]["n_no_relevant"] == 1


def test_compare_counts_single_grade(single_grade_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(single_grade_run.run, other)
    cmp = compare_runs([single_grade_run.run, other], n_permutations=50)
    base = cmp.result("overall", cmp.baseline)
    assert base.n_single_grade == SINGLE
    per_query = pl.read_parquet(single_grade_run.run / "per_query.parquet")
    assert base.n_paired is None and base.n_queries == per_query.height
    assert "(no rel., single grade)" in cmp.to_markdown()


def test_weight_search_excludes_single_grade_validation_queries():
    """The FAMOL weight search scores candidates on validation: a single-grade query (1.0 under any
    model) used to pull every candidate's mean up alike."""
    from gbltr.train.weight_search import validation_scores

    labels = np.array([2.0, 0.0, 2.0, 2.0, 1.0, 0.0])
    valid = SimpleNamespace(X=np.arange(6.0)[:, None], labels={"human": labels},
                            group_ptr=np.array([0, 2, 4, 6]), bucket=np.array(["high", "high", "low"]))
    model = SimpleNamespace(predict=lambda X: -X[:, 0])  # ranks rows in order: queries 0 and 2 perfect
    scores = validation_scores(model, valid, 10)
    assert scores["overall"] == pytest.approx(1.0)  # query 1 (2, 2) is out
    assert scores["low"] == pytest.approx(1.0)
    model = SimpleNamespace(predict=lambda X: X[:, 0])  # reversed: queries 0 and 2 imperfect
    scores = validation_scores(model, valid, 10)
    assert scores["overall"] < 0.7  # a 1.0 from query 1 would lift it to > 0.7
    assert scores["high"] < 0.7


# --- nothing left to rank: refused before training --------------------------------------------

@pytest.mark.parametrize("split", ["test", "valid"])
def test_every_label_one_grade_is_refused_before_training(world_copy, tmp_path, capsys, split):
    """On main, every human label 2 gave nDCG 1.0 in every bucket with exit 0."""
    _set_human(world_copy, _split_ids(world_copy, split), 2.0)
    out = tmp_path / "run"
    code, _, err = run_cli(["fit", "--data", str(world_copy), "--config", str(fast_config(tmp_path)),
                            "--out", str(out)], capsys)
    assert code == 2, err
    assert f"{split} queries: none of the" in err and "can rank" in err and "have one grade only" in err
    assert "Traceback" not in err and not out.exists()


def test_every_human_label_2_is_refused(world_copy):
    edit_table(world_copy, "labels/human", lambda f: f.with_columns(pl.lit(2.0).alias("label")))
    with pytest.raises(DataError, match=r"queries: none of the \d+ can rank: \d+ have one grade only"):
        prepare(load_config(overrides={"data": str(world_copy), **FAST}))


# --- experiment seeds --------------------------------------------------------------------------

@pytest.mark.parametrize("seeds", ["1,1", "0,2,0"])
def test_experiment_refuses_repeated_seeds(tmp_path, capsys, seeds):
    """On main: std 0 and each test query counted once per repetition."""
    out = tmp_path / "exp"
    code, _, err = run_cli(["experiment", "--seeds", seeds, "--config", str(fast_config(tmp_path)),
                            "--out", str(out)], capsys)
    assert code == 2 and "given more than once; expected distinct seeds" in err
    assert not out.exists()


def test_run_experiment_refuses_repeated_seeds():
    from gbltr.experiment import run_experiment

    with pytest.raises(ConfigError, match=r"seed\(s\) \[3\] given more than once"):
        run_experiment(load_config(overrides=FAST), ["click"], [3, 4, 3])


def test_experiment_checkpoints_with_a_seed_twice_are_refused(tmp_path):
    """Summarising seeds split over several runs: the same seed in two runs would count its queries twice."""
    from gbltr.experiment import checkpoint_dir, from_checkpoints

    frame = pl.DataFrame({"query_id": ["q1", "q2"], "bucket": ["high", "low"], "ndcg@10": [0.5, 0.7],
                          "setup": ["click", "click"], "seed": [1, 1]})
    for run in ("a", "b"):
        folder = checkpoint_dir(tmp_path / run)
        folder.mkdir(parents=True)
        frame.write_parquet(folder / "seed-1.parquet")
    with pytest.raises(ConfigError, match=r"checkpoints of .*: seed\(s\) \[1\] given more than once"):
        from_checkpoints([tmp_path / "a", tmp_path / "b"], ["click"])


# --- compare --metric ---------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["frequency", "query_id", "bucket", "excluded"])
def test_compare_metric_takes_metric_columns_only(single_grade_run, tmp_path, capsys, metric):
    """On main, ``--metric frequency`` compared the query frequency like a metric."""
    other = tmp_path / "other"
    shutil.copytree(single_grade_run.run, other)
    code, _, err = run_cli(["compare", str(single_grade_run.run), str(other), "--metric", metric], capsys)
    assert code == 2 and f"{metric!r} is not a metric column; expected ndcg@K" in err
    with pytest.raises(ConfigError, match=rf"unknown metric {metric!r} \(not a metric column.*choose one of: "
                                          r"ndcg@1, ndcg@3, ndcg@5, ndcg@10"):
        compare_runs([single_grade_run.run, other], metric=metric)


# --- TREC writers ------------------------------------------------------------------------------

@pytest.mark.parametrize("tag", ["my tag", "tab\there", ""])
def test_rerank_tag_with_whitespace_is_refused(single_grade_run, tmp_path, capsys, tag):
    """On main, ``--tag 'my tag'`` wrote 7-field lines that gbltr's own --run-file refused."""
    out = tmp_path / "rr.trec"
    code, _, err = run_cli(["rerank", str(single_grade_run.run), "--data", str(single_grade_run.data),
                            "--out", str(out), "--tag", tag], capsys)
    assert code == 2 and f"--tag {tag!r} cannot be written to a TREC file" in err and "whitespace" in err
    assert not out.exists() and not out.with_suffix(".parquet").exists()


def test_rerank_run_file_reads_back(single_grade_run, tmp_path, capsys):
    from gbltr.serve.rerank import read_trec_run

    out = tmp_path / "rr.trec"
    code, _, err = run_cli(["rerank", str(single_grade_run.run), "--data", str(single_grade_run.data),
                            "--out", str(out), "--tag", "my_tag"], capsys)
    assert code == 0, err
    back = read_trec_run(out)
    assert back.height == pl.read_parquet(out.with_suffix(".parquet")).height
    assert all(line.split()[5] == "my_tag" for line in out.read_text().splitlines())


@pytest.mark.parametrize("column", ["query_id", "doc_id"])
def test_trec_writers_refuse_ids_with_whitespace(tmp_path, column):
    from gbltr.data.qrels import write_qrels
    from gbltr.data.trec import write_run_lines

    frame = pl.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d1", "d2"], "rank": [1, 2], "score": [0.5, 0.1],
                          "label": [1.0, 0.0], "source": ["human", "human"]})
    bad = frame.with_columns(pl.col(column).str.replace("1$", " 1"))
    with pytest.raises(SchemaError, match=rf"{column} '\w 1' cannot be written to a TREC file \(.*run\.trec\)"):
        write_run_lines(bad, tmp_path / "run.trec", "t")
    with pytest.raises(SchemaError, match=rf"{column} '\w 1' cannot be written to a TREC file \(.*x\.qrels\)"):
        write_qrels(bad.select("query_id", "doc_id", "label", "source"), tmp_path / "x.qrels")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left


def test_annotate_qrels_out_ids_checked_before_any_request(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in [
        {"query_id": "q 1", "query": "a b", "doc_id": "d1", "text": "x y"},
        {"query_id": "q2", "query": "a b", "doc_id": "d2", "text": "x y"}]))
    code, _, err = run_cli(["annotate", "--pairs", str(pairs), "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                            "--out", str(tmp_path / "l.parquet"), "--qrels-out", str(tmp_path / "l.qrels"),
                            "--dry-run"], capsys)
    assert code == 2 and "query_id 'q 1' cannot be written to a TREC file (--qrels-out" in err


# --- ablation with one label source ------------------------------------------------------------

def _human_only(world: Path) -> None:
    """A dataset like an imported LETOR set: human labels on every candidate, no log, no LLM labels."""
    llm = pl.read_parquet(world / "labels" / "llm.parquet")
    llm.with_columns(pl.lit("human").alias("source")).write_parquet(world / "labels" / "human.parquet")
    (world / "labels" / "llm.parquet").unlink()
    (world / "impressions.parquet").unlink()
    manifest = json.loads((world / "dataset.json").read_text())
    manifest["labels"] = {"human": llm.height}
    manifest["tables"].pop("impressions", None)
    (world / "dataset.json").write_text(json.dumps(manifest))


def test_label_distributions_with_one_source_draw_and_print():
    from gbltr import plots
    from gbltr.analysis.ablation import label_distribution_lines
    from gbltr.analysis.label_distributions import KAPPA_SCHEMA, LabelDistributions

    hist = pl.DataFrame({"source": ["human"] * 2, "view": ["overall"] * 2, "grade": [0, 1], "count": [3, 1],
                         "share": [0.75, 0.25]}, schema_overrides={"count": pl.UInt32})
    ld = LabelDistributions(hist, ())
    assert ld.kappa_table().schema == pl.Schema(KAPPA_SCHEMA) and ld.kappa_table().height == 0
    ax = plots.plot_label_distributions(ld)
    assert ax is not None
    text = "\n".join(label_distribution_lines(ld, ["overall"]))
    assert "no pair of label sources to compare (sources: human)" in text


def test_ablation_with_human_labels_only(world_copy, tmp_path, capsys):
    """The LETOR case (``--labels human`` on a dataset with one label source) on synthetic data: on main
    it trained every model and then crashed in plots.py ('pair' not found)."""
    _human_only(world_copy)
    out = tmp_path / "abl"
    code, stdout, err = run_cli(["ablation", "--data", str(world_copy), "--labels", "human", "--groups", "document",
                                 "--config", str(fast_config(tmp_path)), "--out", str(out), "--no-attribution"], capsys)
    assert code == 0, err
    assert (out / "label_distributions.png").is_file()
    assert "no pair of label sources to compare" in (out / "ablation.md").read_text()


def test_ablation_draws_label_distributions_before_training(world_copy, tmp_path, monkeypatch):
    """A drawing failure of the model-free part shows before any model is trained, not after all of them."""
    from gbltr import plots
    from gbltr.analysis import ablation

    trained = []
    monkeypatch.setattr(ablation, "train_model", lambda *a, **k: trained.append(1) or pytest.fail("trained"))

    def broken(*a, **k):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(plots, "plot_label_distributions", broken)
    cfg = load_config(overrides={"data": str(world_copy), **FAST})
    with pytest.raises(RuntimeError, match="drawing failed"):
        ablation.run_ablation(cfg, ["llm"], ["document"], tmp_path / "abl", attribution=False)
    assert trained == []


@pytest.mark.slow
def test_ablation_letor_human_labels(shared_data, tmp_path, capsys):
    """The reported case on the real LETOR files (skipped when ../shared/data is absent)."""
    letor = shared_data("letor")
    data = tmp_path / "letor"
    code, _, err = run_cli(["import", "svmlight", str(letor / "mq2008_fold1_vali.txt"), "--out", str(data)], capsys)
    assert code == 0, err
    out = tmp_path / "abl"
    code, _, err = run_cli(["ablation", "--groups", "letor_bm25", "--data", str(data), "--split", "random",
                            "--catalogue", "letor4", "--labels", "human", "--rounds", "3", "--no-attribution",
                            "--out", str(out)], capsys)
    assert code == 0, err
    assert (out / "label_distributions.png").is_file()


# --- dask scheduler address --------------------------------------------------------------------

@pytest.mark.parametrize("address", ["foo", "tcp://foo", "foo:99999", "http://host:8786"])
def test_dask_scheduler_address_checked_before_any_work(tmp_path, capsys, address):
    """On main, ``--scheduler foo`` ended in distributed's ValueError traceback after data preparation."""
    out = tmp_path / "run"
    code, _, err = run_cli(["fit", "--engine", "dask", "--scheduler", address, "--out", str(out)], capsys)
    assert code == 2 and f"--scheduler (train.scheduler) {address!r}: expected 'local' or a scheduler address " \
                         "[SCHEME://]HOST:PORT" in err
    assert "Traceback" not in err and not out.exists()


def test_dask_scheduler_in_a_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[train]\nengine = "dask"\nscheduler = "foo"\n')
    with pytest.raises(ConfigError, match=r"\[SCHEME://\]HOST:PORT"):
        load_config(cfg)
    for ok in ("local", "tcp://10.0.0.5:8786", "scheduler-0:8786", "tls://[::1]:8786"):
        assert load_config(overrides={"train": {"scheduler": ok}}).train.scheduler == ok


@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
def test_early_stopping_agrees_with_the_exclusions(backend):
    """Early stopping uses the backends' own nDCG, which scores no-relevant and single-grade validation
    queries as a constant 1: the curve is an affine map of the curve over the queries that can rank,
    so the best iteration is the same as if they were excluded (gbltr.evaluate.metrics.query_status)."""
    import importlib

    from gbltr.config import TrainConfig
    from gbltr.train.backends import TrainRequest

    mod = importlib.import_module(f"gbltr.train.backends.{backend}")
    rng = np.random.default_rng(0)

    def queries(n, kind):
        X = rng.normal(size=(n * 8, 5))
        if kind == "graded":
            y = np.clip(np.round(X[:, 0] + 0.8 * rng.normal(size=n * 8) + 1), 0, 3)
            y[::8] = 3
            y[1::8] = 0
        else:
            y = np.full(n * 8, 2.0 if kind == "single" else 0.0)
        return X, y, [8] * n

    tX, ty, tg = queries(60, "graded")
    vX, vy, vg = queries(20, "graded")
    extra = [queries(6, "single"), queries(4, "none")]
    wX = np.vstack([vX] + [e[0] for e in extra])
    wy = np.concatenate([vy] + [e[1] for e in extra])
    wg = vg + [s for e in extra for s in e[2]]
    cfg = TrainConfig(backend=backend, rounds=40, early_stopping=4, threads=1, learning_rate=0.3)
    gain = [2.0**i - 1 for i in range(31)]
    a = mod.BACKEND.train(TrainRequest(tX, ty, tg, vX, vy, vg, cfg, seed=0, label_gain=gain, eval_at=10))
    b = mod.BACKEND.train(TrainRequest(tX, ty, tg, wX, wy, wg, cfg, seed=0, label_gain=gain, eval_at=10))
    assert a.best_iteration == b.best_iteration
    n, m = len(vg), len(wg) - len(vg)
    assert len(a.history) == len(b.history) > a.best_iteration  # it stopped early, on the same round
    np.testing.assert_allclose(np.asarray(b.history), (n * np.asarray(a.history) + m) / (n + m), atol=1e-6)
