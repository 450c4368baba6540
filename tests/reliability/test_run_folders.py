"""Run folders are atomic and claimed before any work (issue 7, "Run folders are not atomic",
"A read-only output folder", "Two first-use fits", compare across datasets)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import polars as pl
import pytest

import gbltr.pipeline
from gbltr.config import load_config
from gbltr.data.simulate import WorldParams
from gbltr.errors import ConfigError, DataError
from gbltr.evaluate.compare import compare_runs
from gbltr.evaluate.report import run_folder
from gbltr.train.fit import fit

from .conftest import FAST, TINY, edit_table, fast_config, run_cli


def _cfg(world, **over):
    return load_config(overrides={"data": str(world), **FAST, **over})


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("." + path.name))


@pytest.fixture(scope="module")
def first_run(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "click"
    fit(_cfg(world), out)
    return out


def test_rerun_without_overwrite_is_refused_before_any_work(first_run, world, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(first_run, out)
    monkeypatch.setattr(gbltr.pipeline, "prepare", lambda *a, **k: pytest.fail("work started"))
    code, _, err = run_cli(["fit", "--data", str(world), "--out", str(out)], capsys)
    assert code == 2
    assert f"error: run folder '{out}' already exists; pass --overwrite to replace it whole" in err


def test_overwrite_replaces_the_whole_folder(first_run, world, tmp_path, capsys):
    """An old run's files must not survive a rerun with another backend."""
    out = tmp_path / "run"
    shutil.copytree(first_run, out)
    assert (out / "model.txt").exists()  # LightGBM's model
    (out / "stale.txt").write_text("from an older run")
    code, _, err = run_cli(["fit", "--data", str(world), "--backend", "xgboost", "--config", str(fast_config(tmp_path)),
                            "--out", str(out), "--overwrite"], capsys)
    assert code == 0, err
    files = sorted(p.name for p in out.iterdir())
    assert "stale.txt" not in files and "model.txt" not in files and "model.json" in files
    assert json.loads((out / "report.json").read_text())["backend"] == "xgboost"
    assert _siblings(out) == []  # no temporary, old or lock folder left beside it


def test_overwrite_refuses_a_folder_that_is_not_a_run(world, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, _, err = run_cli(["fit", "--data", str(world), "--out", str(out), "--overwrite"], capsys)
    assert code == 2 and "holds no report.json, so it is not a gbltr output folder; refusing to replace it" in err
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_run_failing_while_writing_leaves_the_old_folder_whole(first_run, world, tmp_path, monkeypatch):
    """Killed while writing over an old run used to leave a new report.json beside the old model."""
    import gbltr.evaluate.report as report

    out = tmp_path / "run"
    shutil.copytree(first_run, out)
    before = _contents(out)
    real = report.build_report

    def crash_after_report(*a, **k):
        real(*a, **k)
        raise KeyboardInterrupt  # as if killed half-way through writing
    monkeypatch.setattr(report, "build_report", crash_after_report)
    with pytest.raises(KeyboardInterrupt):
        fit(_cfg(world, train={**FAST["train"], "backend": "xgboost"}), out, overwrite=True)
    assert _contents(out) == before
    assert _siblings(out) == []


def _contents(folder):
    """Every file below ``folder`` (run folders hold sub-folders, e.g. the fitted click model) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_fits_to_one_folder_one_fails_clearly(world, tmp_path):
    out = tmp_path / "run"
    with run_folder(out):  # another gbltr process holds the folder (this process: alive)
        with pytest.raises(ConfigError, match=rf"run folder '{out}' is being written by another gbltr process "
                                              rf"\(pid {os.getpid()}"):
            fit(_cfg(world), out)
    assert not (out / "report.json").exists()  # the holder's (empty) run, not the refused one


def _twice_at_once(fn):
    threads = [threading.Thread(target=fn) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_two_concurrent_fits_in_threads(world, tmp_path):
    out = tmp_path / "run"
    errors, done = [], []

    def one():
        try:
            done.append(fit(_cfg(world), out))
        except ConfigError as exc:
            errors.append(str(exc))

    _twice_at_once(one)
    assert len(done) == 1 and len(errors) == 1, (done, errors)
    assert "being written by another gbltr process" in errors[0] or "already exists" in errors[0]
    assert (out / "report.json").exists() and _siblings(out) == []


def test_stale_lock_of_a_dead_process_is_taken_over(world, tmp_path):
    """A run killed outright (SIGKILL) leaves its lock and temporary folder: the next run cleans up."""
    out = tmp_path / "run"
    (tmp_path / ".run.lock").write_text("999999999\n")
    (tmp_path / ".run.tmp-deadbeef").mkdir()
    (tmp_path / ".run.tmp-deadbeef" / "report.json").write_text("{}")
    assert fit(_cfg(world), out) == out and _siblings(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_chmod(world, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="is not writable; expected a writable output folder"):
            fit(_cfg(world), parent / "run")
    finally:
        parent.chmod(0o755)


def test_read_only_output_folder(world, monkeypatch, capsys):
    """A folder nobody (not even root) can write in: refused before any work."""
    monkeypatch.setattr(gbltr.pipeline, "prepare", lambda *a, **k: pytest.fail("work started"))
    code, _, err = run_cli(["fit", "--data", str(world), "--out", "/proc/gbltr-reliab-run"], capsys)
    assert code == 2 and "error: run folder '/proc/gbltr-reliab-run'" in err
    assert "writable" in err or "cannot" in err


def test_first_use_fits_racing_to_simulate_the_builtin_world(tmp_path, monkeypatch):
    """Two first-use runs used to fail with 'Directory not empty' or a stale .tmp."""
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    params = WorldParams(seed=3, **TINY)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def one():
        barrier.wait()
        try:
            results.append(gbltr.pipeline.builtin_world(params))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(repr(exc))

    _twice_at_once(one)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    worlds = sorted(p.name for p in (tmp_path / "cache" / "worlds").iterdir())
    assert worlds == [results[0].name]  # no temporary folder left
    assert (results[0] / "dataset.json").exists()


def test_compare_refuses_runs_on_different_datasets_end_to_end(first_run, world_copy, tmp_path, capsys):
    """Same query ids, other human labels: compare used to report -0.27 with p < 1e-4."""
    edit_table(world_copy, "labels/human", lambda f: f.with_columns((4 - pl.col("label")).clip(0, 4).alias("label")))
    other = tmp_path / "other"
    fit(_cfg(world_copy), other)
    code, _, err = run_cli(["compare", str(first_run), str(other)], capsys)
    assert code == 2
    assert "were made on different datasets" in err and "labels/human.parquet" in err
    with pytest.raises(DataError):
        compare_runs([first_run, other], n_permutations=10)


def test_compare_accepts_runs_on_the_same_dataset(first_run, world, tmp_path):
    second = tmp_path / "second"
    fit(_cfg(world, seed=1), second)
    result = compare_runs([first_run, second], n_permutations=10)
    assert len(result.runs) == 2


def test_dataset_folders_are_atomic_too(world, tmp_path, capsys):
    """`gbltr simulate` into an existing dataset used to leave its other tables and label sets
    beside the new ones (a mixed dataset). Refused without --overwrite; replaced whole with it."""
    out = tmp_path / "w"
    shutil.copytree(world, out)
    (out / "labels" / "from-an-older-annotate.parquet").write_bytes((world / "labels" / "llm.parquet").read_bytes())
    args = ["simulate", "--out", str(out), "--queries", str(TINY["queries"]), "--sessions", str(TINY["sessions"]),
            "--test-queries-per-bucket", "8", "--valid-queries-per-bucket", "6",
            "--min-train-queries-per-bucket", "5", "--vocab-size", "800", "--topics", "8",
            "--candidates-min", "6", "--candidates-max", "10", "--seed", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and f"error: dataset folder '{out}' already exists; pass --overwrite" in err
    code, _, err = run_cli(args + ["--overwrite"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["human.parquet", "llm.parquet"]
    assert json.loads((out / "world.json").read_text())["seed"] == 1
    assert (out / "latent").is_dir() and _siblings(out) == []
