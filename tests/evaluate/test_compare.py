"""compare_runs and `gbltr compare` on fake run folders written here."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from gbltr.cli import cli
from gbltr.errors import ConfigError, DataError
from gbltr.evaluate.compare import compare_runs

N = 90
QUERY_IDS = [f"q{i:03d}" for i in range(N)]
BUCKETS = ["high", "medium", "low"] * (N // 3)


def _values(seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.clip(rng.uniform(0.2, 0.7, N) + shift, 0, 1)
    v[[5, 50]] = np.nan  # two queries without a relevant document
    return v


def _write_run(path, values, name=None, query_ids=QUERY_IDS, buckets=BUCKETS):
    path.mkdir(parents=True)
    frame = pl.DataFrame(
        {
            "query_id": query_ids,
            "bucket": buckets,
            **{f"ndcg@{k}": values for k in (1, 3, 5, 10)},
        }
    )
    frame.write_parquet(path / "per_query.parquet")
    report = {"metrics": {"overall": {"ndcg@10": float(np.nanmean(values))}}, "n_queries": {"overall": N}}
    if name is not None:
        report["name"] = name
    (path / "report.json").write_text(json.dumps(report))
    return path


@pytest.fixture
def runs(tmp_path):
    base = _values(0)
    rng = np.random.default_rng(1)
    better = np.clip(base + 0.08 + rng.normal(0, 0.03, N), 0, 1)
    return {
        "a": _write_run(tmp_path / "run_a", base, name="clicks"),
        "a2": _write_run(tmp_path / "run_a2", base.copy(), name="clicks-again"),
        "b": _write_run(tmp_path / "run_b", better),  # no name: folder name
    }


def test_clear_difference_detected(runs, tmp_path):
    c = compare_runs([runs["a"], runs["b"]], n_permutations=2000, seed=0)
    assert c.runs == ("clicks", "run_b") and c.baseline == "clicks"
    assert c.buckets == ["overall", "high", "medium", "low"]
    r = c.result("overall", "run_b")
    assert r.n_queries == N and r.n_no_relevant == 2 and r.n_paired == N - 2
    assert r.delta == pytest.approx(r.mean - c.result("overall", "clicks").mean)
    assert 0.05 < r.delta < 0.11
    assert r.t_p < 1e-6 and r.rand_p < 0.001
    assert r.ci_low < r.mean < r.ci_high
    for b in ("high", "medium", "low"):
        assert c.result(b, "run_b").n_queries == N // 3
        assert c.result(b, "run_b").rand_p < 0.05
    assert c.result("overall", "clicks").delta is None


def test_identical_runs_not_significant(runs):
    c = compare_runs([runs["a"], runs["a2"]], n_permutations=500)
    for b in c.buckets:
        r = c.result(b, "clicks-again")
        assert r.delta == 0 and r.t_p > 0.05 and r.rand_p > 0.05


def test_baseline_choice_and_outputs(runs, tmp_path):
    out = tmp_path / "cmp"
    c = compare_runs([runs["a"], runs["b"]], out, baseline="run_b", n_permutations=200)
    assert c.baseline == "run_b" and c.result("overall", "clicks").delta < 0
    md = (out / "comparison.md").read_text()
    assert md == c.to_markdown()
    assert "| overall | clicks | 90 (2, 0) |" in md and "***" in md
    assert json.loads((out / "comparison.json").read_text())["baseline"] == "run_b"
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.to_frame().height == 8
    with pytest.raises(ConfigError, match="choose one of: clicks, run_b"):
        compare_runs([runs["a"], runs["b"]], baseline="nope")


def test_mismatched_queries_clear_error(tmp_path, runs):
    short = _write_run(tmp_path / "short", _values(2)[:-3], query_ids=QUERY_IDS[:-3], buckets=BUCKETS[:-3])
    with pytest.raises(DataError, match=r"not over the same test queries.*lacks 3 \(e\.g\. \['q087'"):
        compare_runs([runs["a"], short])


def test_mismatched_buckets_and_missing_metric(tmp_path, runs):
    moved = _write_run(tmp_path / "moved", _values(0), buckets=["low"] + BUCKETS[1:])
    with pytest.raises(DataError, match="different buckets"):
        compare_runs([runs["a"], moved])
    with pytest.raises(Exception, match=r"unknown metric 'ndcg@20'; choose one of: ndcg@1, ndcg@3, ndcg@5, ndcg@10"):
        compare_runs([runs["a"], runs["b"]], metric="ndcg@20")
    with pytest.raises(DataError, match="expected per_query.parquet"):
        compare_runs([runs["a"], tmp_path])


def test_colliding_names_get_folder(tmp_path):
    a = _write_run(tmp_path / "seed1", _values(0), name="clicks (lightgbm)")
    b = _write_run(tmp_path / "seed2", _values(3), name="clicks (lightgbm)")
    c = compare_runs([a, b], n_permutations=100)
    assert c.runs == ("clicks (lightgbm) [seed1]", "clicks (lightgbm) [seed2]")
    with pytest.raises(ConfigError, match="distinct run folders"):
        compare_runs([a, a])


def test_cli_writes_files(runs, tmp_path):
    out = tmp_path / "cli_out"
    result = CliRunner().invoke(
        cli,
        ["compare", str(runs["a"]), str(runs["b"]), "--out", str(out), "--permutations", "300", "--seed", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "| overall | run_b |" in result.output and str(out) in result.output
    assert (out / "comparison.md").is_file() and (out / "comparison.png").stat().st_size > 1000


def test_cli_error_is_gbltr_error(runs, tmp_path):
    result = CliRunner().invoke(cli, ["compare", str(runs["a"]), str(tmp_path / "missing")])
    assert result.exit_code != 0
    assert isinstance(result.exception, DataError)


def test_cli_main_one_line_error_exit_2(runs, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from gbltr.cli import main; main()", "compare", str(runs["a"]), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: run folder") and proc.stderr.count("\n") == 1
