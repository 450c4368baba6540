"""One policy for outputs (issue 17, section 3, and the output items of section 5).

Every command declares what it writes and reads, and :func:`gbltr.folders.check_outputs` checks
them before any work: no output in, over or around an input; no two outputs on one path; no
write into another command's folder; ``--overwrite`` only over the same command's folder; a
symlinked ``--out`` followed; write errors (disk full, read-only, long names) as one clear error.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

import gbltr.data.importers
import gbltr.pipeline
from gbltr.config import load_config
from gbltr.train.fit import fit

from .conftest import FAST, TINY, fast_config, run_cli


def _cfg(world, **over):
    return load_config(overrides={"data": str(world), **FAST, **over})


def _siblings(path: Path) -> list[str]:
    """Hidden files beside ``path`` that belong to it (temporary, old, lock)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("." + path.name[:100]))


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _no_work(monkeypatch):
    """Fail the test if the pipeline starts: ``prepare`` is replaced where it is defined and in the
    modules that bind it by name (imported here first, so none keeps the stand-in afterwards)."""
    import gbltr.analysis.ablation
    import gbltr.experiment
    import gbltr.train.fit

    for module in (gbltr.pipeline, gbltr.experiment, gbltr.analysis.ablation, gbltr.train.fit):
        monkeypatch.setattr(module, "prepare", lambda *a, **k: pytest.fail("work started"))


@pytest.fixture(scope="module")
def run(world, tmp_path_factory) -> Path:
    """A fit run folder on the tiny world (read-only: copy it before editing)."""
    return fit(_cfg(world), tmp_path_factory.mktemp("outputs") / "run")


# ---------------------------------------------------------------- outputs and inputs

def test_import_overwrite_never_deletes_its_source(world, tmp_path, capsys, monkeypatch):
    """``import impressions DIR/log.parquet --out DIR --overwrite`` replaced DIR, source included."""
    folder = tmp_path / "data"
    shutil.copytree(world, folder, ignore=shutil.ignore_patterns("latent"))
    shutil.copy(world / "impressions.parquet", folder / "log.parquet")
    before = _tree(folder)
    monkeypatch.setattr(gbltr.data.importers, "read_part", lambda *a, **k: pytest.fail("sources read"))
    code, _, err = run_cli(["import", "impressions", str(folder / "log.parquet"), "--out", str(folder),
                            "--overwrite"], capsys)
    assert code == 2, err
    assert f"--out '{folder}' contains impressions source '{folder / 'log.parquet'}'" in err
    assert _tree(folder) == before


def test_fit_refuses_a_run_folder_inside_its_dataset(world_copy, capsys, monkeypatch):
    _no_work(monkeypatch)
    before = _tree(world_copy)
    code, _, err = run_cli(["fit", "--data", str(world_copy), "--out", str(world_copy / "run")], capsys)
    assert code == 2 and f"--out '{world_copy / 'run'}' lies inside dataset folder '{world_copy}'" in err
    assert _tree(world_copy) == before


def test_experiment_checks_out_before_any_work(world_copy, capsys, monkeypatch):
    """``experiment`` and ``import`` checked an existing ``--out`` only after the work."""
    _no_work(monkeypatch)
    code, _, err = run_cli(["experiment", "--data", str(world_copy), "--seeds", "1",
                            "--out", str(world_copy / "exp")], capsys)
    assert code == 2 and "lies inside dataset folder" in err


def test_import_checks_an_existing_out_before_reading(world, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ds"
    shutil.copytree(world, out, ignore=shutil.ignore_patterns("latent"))
    monkeypatch.setattr(gbltr.data.importers, "read_part", lambda *a, **k: pytest.fail("sources read"))
    code, _, err = run_cli(["import", "impressions", str(world / "impressions.parquet"), "--out", str(out)], capsys)
    assert code == 2 and f"error: dataset folder '{out}' is an output folder of 'gbltr simulate'" in err


def test_rerank_refuses_an_out_inside_its_data(run, world_copy, capsys):
    code, _, err = run_cli(["rerank", str(run), "--data", str(world_copy), "--out", str(world_copy / "r.trec")], capsys)
    assert code == 2 and "lies inside data folder (--data)" in err
    assert not (world_copy / "r.trec").exists() and not (world_copy / "r.parquet").exists()


def test_rerank_out_parquet_would_overwrite_its_own_trec_file(run, world, tmp_path, capsys):
    """``rerank --out X.parquet`` wrote the TREC file, then the Parquet over it, exit 0."""
    out = tmp_path / "x.parquet"
    code, _, err = run_cli(["rerank", str(run), "--data", str(world), "--out", str(out)], capsys)
    assert code == 2, err
    assert f"--out (its .parquet beside it) '{out}' is --out '{out}' (TREC run file)" in err
    assert not out.exists()


def test_annotate_out_and_qrels_out_on_one_file(world, tmp_path, capsys, monkeypatch):
    import gbltr.labels.llm.run as run_module

    monkeypatch.setattr(run_module, "annotate", lambda *a, **k: pytest.fail("work started"))
    f = tmp_path / "labels.parquet"
    code, _, err = run_cli(["annotate", "--data", str(world), "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                            "--out", str(f), "--qrels-out", str(f)], capsys)
    assert code == 2 and f"--qrels-out '{f}' is --out '{f}' (label set)" in err


def test_annotate_never_writes_over_a_datasets_label_set(world_copy, capsys, monkeypatch):
    """An LLM set written over ``labels/human.parquet`` was then evaluated as human labels."""
    import gbltr.labels.llm.run as run_module

    monkeypatch.setattr(run_module, "annotate", lambda *a, **k: pytest.fail("work started"))
    target = world_copy / "labels" / "human.parquet"
    before = target.read_bytes()
    pairs = world_copy.parent / "pairs.tsv"
    pairs.write_text("query_id\tquery\tdoc_id\ttext\nq1\tcheap flights\td1\tflights for less\n")
    code, _, err = run_cli(["annotate", "--pairs", str(pairs), "--model", "m",
                            "--base-url", "http://127.0.0.1:9/v1", "--out", str(target)], capsys)
    assert code == 2 and f"lies inside '{world_copy}', an output folder of 'gbltr simulate'" in err
    assert target.read_bytes() == before


@pytest.mark.parametrize("command", ["simulate --over", "clicks fit", "export", "ablation", "compare"])
def test_no_command_writes_inside_what_it_reads(command, run, world, tmp_path, capsys, monkeypatch):
    """Each command declares its inputs once; an ``--out`` inside one is refused before any work."""
    _no_work(monkeypatch)
    data = tmp_path / "world"
    shutil.copytree(world, data, ignore=shutil.ignore_patterns("latent"))
    own_run = tmp_path / "run"
    shutil.copytree(run, own_run)
    args, inside = {
        "simulate --over": (["simulate", "--over", str(data)], data / "sim"),
        "clicks fit": (["clicks", "fit", "--log", str(data), "--models", "pbm"], data / "clicks"),
        "export": (["export", str(own_run), "--format", "solr", "--allow-missing-definitions"], own_run / "solr"),
        "ablation": (["ablation", "--data", str(data), "--labels", "click", "--groups", "query"], data / "abl"),
        "compare": (["compare", str(own_run), str(run)], own_run / "cmp"),
    }[command]
    before = _tree(tmp_path)
    code, _, err = run_cli([*args, "--out", str(inside)], capsys)
    assert code == 2, err
    assert f"--out '{inside}' lies inside" in err
    assert _tree(tmp_path) == before


# ---------------------------------------------------------------- whose folder

def test_compare_refuses_to_write_into_a_run_folder(run, world, tmp_path, capsys):
    other = fit(_cfg(world, seed=1), tmp_path / "other")
    target = tmp_path / "target"
    shutil.copytree(run, target)
    before = _tree(target)
    code, _, err = run_cli(["compare", str(other), str(run), "--out", str(target)], capsys)
    assert code == 2 and f"comparison folder '{target}' is an output folder of 'gbltr fit'" in err
    assert _tree(target) == before


def test_compare_replaces_its_own_folder(run, world, tmp_path, capsys):
    other = fit(_cfg(world, seed=1), tmp_path / "other")
    out = tmp_path / "cmp"
    for _ in range(2):
        code, _, err = run_cli(["compare", str(other), str(run), "--out", str(out)], capsys)
        assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [".gbltr-output.json", "comparison.json", "comparison.md",
                                                      "comparison.png"]


def test_overwrite_replaces_only_what_the_same_command_wrote(world, tmp_path, capsys, monkeypatch):
    """A simulated dataset is not ``import``'s to replace, nor a run ``simulate``'s."""
    monkeypatch.setattr(gbltr.data.importers, "read_part", lambda *a, **k: pytest.fail("sources read"))
    out = tmp_path / "ds"
    shutil.copytree(world, out)
    before = _tree(out)
    code, _, err = run_cli(["import", "impressions", str(world / "impressions.parquet"), "--out", str(out),
                            "--overwrite"], capsys)
    assert code == 2 and f"dataset folder '{out}' is an output folder of 'gbltr simulate', not of 'gbltr import'" in err
    assert _tree(out) == before


def test_every_output_folder_says_which_command_wrote_it(run):
    assert json.loads((run / ".gbltr-output.json").read_text()) == {"command": "fit"}


# ---------------------------------------------------------------- symlinks

def test_symlinked_out_is_followed_and_the_link_kept(run, world, tmp_path, capsys):
    """``--overwrite`` through a link replaced the link and left a dangling ``.NAME.old-*``."""
    target = tmp_path / "real"
    shutil.copytree(run, target)
    link = tmp_path / "link"
    link.symlink_to(target)
    code, _, err = run_cli(["fit", "--data", str(world), "--config", str(fast_config(tmp_path)), "--seed", "3",
                            "--out", str(link), "--overwrite"], capsys)
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert json.loads((target / "config.json").read_text())["seed"] == 3
    assert _siblings(link) == [] and _siblings(target) == []


# ---------------------------------------------------------------- write errors

def _fail_writes(monkeypatch, code: int, when=lambda path: True):
    """Make Parquet and text writes raise ``OSError(code)`` for paths where ``when(path)``."""
    real_parquet, real_text = pl.DataFrame.write_parquet, Path.write_text

    def parquet(self, file, *a, **k):
        if when(Path(file)):
            raise OSError(code, os.strerror(code), str(file))
        return real_parquet(self, file, *a, **k)

    def text(self, *a, **k):
        if when(self):
            raise OSError(code, os.strerror(code), str(self))
        return real_text(self, *a, **k)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", parquet)
    monkeypatch.setattr(Path, "write_text", text)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_fit_write_error_is_one_clear_error_and_the_old_run_survives(run, world, tmp_path, capsys, monkeypatch, code):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = _tree(out)
    _fail_writes(monkeypatch, code, lambda p: p.name == "per_query.parquet")
    args = ["fit", "--data", str(world), "--config", str(fast_config(tmp_path)), "--out", str(out), "--overwrite"]
    code_, _, err = run_cli(args, capsys)
    assert code_ == 2 and "Traceback" not in err
    assert f"error: run folder '{out}' could not be written: {os.strerror(code)}" in err
    assert _tree(out) == before and _siblings(out) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_simulate_write_error(tmp_path, capsys, monkeypatch, code):
    _fail_writes(monkeypatch, code, lambda p: p.name == "documents.parquet")
    out = tmp_path / "world"
    tiny = [a for k, v in TINY.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    code_, _, err = run_cli(["simulate", "--out", str(out), *tiny], capsys)
    assert code_ == 2 and f"error: dataset folder '{out}' could not be written: {os.strerror(code)}" in err
    assert not out.exists() and _siblings(out) == []


def test_rerank_write_error_leaves_the_old_files(run, world, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.trec"
    out.write_text("old\n")
    out.with_suffix(".parquet").write_bytes(b"old")
    _fail_writes(monkeypatch, errno.ENOSPC, lambda p: p.parent == tmp_path)
    code, _, err = run_cli(["rerank", str(run), "--data", str(world), "--out", str(out)], capsys)
    assert code == 2 and f"error: TREC run file '{out}' could not be written: {os.strerror(errno.ENOSPC)}" in err
    assert out.read_text() == "old\n" and out.with_suffix(".parquet").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.parquet", "r.trec"]


def test_annotate_write_error(tmp_path, monkeypatch):
    from gbltr.errors import WriteError
    from gbltr.labels.llm.labelset import write_labels

    labels = pl.DataFrame({"query_id": ["q"], "doc_id": ["d"], "label": [1.0], "source": ["llm"]})
    out = tmp_path / "labels.parquet"
    _fail_writes(monkeypatch, errno.EROFS)
    with pytest.raises(WriteError, match=rf"LLM label set '{out}' could not be written: Read-only file system"):
        write_labels(labels, out)
    assert list(tmp_path.iterdir()) == []


def test_polars_errors_quoting_an_errno_are_write_errors_too():
    from gbltr.folders import write_errno

    with pytest.raises(Exception) as info:
        pl.DataFrame({"a": [1]}).write_parquet("/dev/full")
    assert write_errno(info.value) == errno.ENOSPC


def test_a_legal_250_character_out_works(world, tmp_path, capsys):
    """The lock ``.NAME.lock`` of a 250-character NAME overflowed the 255-byte name limit."""
    out = tmp_path / ("r" * 250)
    code, _, err = run_cli(["fit", "--data", str(world), "--config", str(fast_config(tmp_path)), "--out", str(out)],
                           capsys)
    assert code == 0, err
    assert (out / "report.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.toml", out.name]


def test_a_name_over_the_limit_is_refused_before_any_work(world, tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    out = tmp_path / ("r" * 256)
    code, _, err = run_cli(["fit", "--data", str(world), "--out", str(out)], capsys)
    assert code == 2 and "the run folder name is 256 bytes long; expected at most 255" in err


# ---------------------------------------------------------------- label sets a fit trusts

def test_fit_refuses_an_llm_set_written_over_the_human_set(world_copy, capsys):
    (world_copy / "labels" / "llm.parquet").replace(world_copy / "labels" / "human.parquet")
    code, _, err = run_cli(["fit", "--data", str(world_copy), "--config", str(fast_config(world_copy.parent)),
                            "--out", str(world_copy.parent / "run")], capsys)
    assert code == 2, err
    assert "labels/human.parquet: the label set 'human' holds rows of source(s) ['llm']; expected only source 'human'" in err


def test_fit_refuses_a_label_set_whose_rows_disagree_with_the_manifest(world_copy, capsys):
    path = world_copy / "labels" / "human.parquet"
    human = pl.read_parquet(path)
    human.head(human.height // 2).write_parquet(path)
    code, _, err = run_cli(["fit", "--data", str(world_copy), "--out", str(world_copy.parent / "run")], capsys)
    assert code == 2
    assert f"{human.height // 2} rows, but {world_copy / 'dataset.json'} lists {human.height} for label set 'human'" in err


@pytest.mark.parametrize("command", [["fit"], ["plan", "--budget", "10"]])
def test_a_label_set_the_manifest_lists_but_whose_file_was_removed_is_refused(world_copy, tmp_path, capsys, command):
    """Found trying `gbltr plan` on a dataset whose labels/llm.parquet had been deleted by hand: the
    plan bought pairs the dataset had labels for, and the manifest still counted them."""
    (world_copy / "labels" / "llm.parquet").unlink()
    out = tmp_path / ("run" if command[0] == "fit" else "plan.parquet")
    code, _, err = run_cli([*command, "--data", str(world_copy), "--out", str(out)], capsys)
    assert code == 2, err
    assert "lists label set(s) ['llm']" in err and "llm.parquet is missing" in err and "Traceback" not in err
    assert not out.exists()


# ---------------------------------------------------------------- locks and scratch folders

def test_a_stale_lock_whose_pid_was_reused_is_taken_over(world, tmp_path):
    """The lock names a live process id (this one) with another start time: its run is gone."""
    out = tmp_path / "run"
    (tmp_path / ".run.lock").write_text(f"{os.getpid()} 1\n")
    assert fit(_cfg(world), out) == out and _siblings(out) == []


def test_a_lock_of_a_live_process_is_respected_with_or_without_its_start_time(world, tmp_path, monkeypatch):
    from gbltr.errors import ConfigError
    from gbltr.folders import process_start

    out = tmp_path / "run"
    for content in (f"{os.getpid()} {process_start(os.getpid())}\n", f"{os.getpid()}\n"):  # new and old format
        (tmp_path / ".run.lock").write_text(content)
        with pytest.raises(ConfigError, match="is being written by another gbltr process"):
            fit(_cfg(world), out)


def test_locks_without_proc_fall_back_to_the_process_id(tmp_path, monkeypatch):
    import gbltr.folders as folders

    monkeypatch.setattr(folders, "process_start", lambda pid: None)
    with folders.run_folder(tmp_path / "x"):
        assert (tmp_path / ".x.lock").read_text() == f"{os.getpid()} -\n"
    assert folders.holder_alive(os.getpid(), "12345")  # a start time that cannot be read: the id decides


def test_scratch_folders_of_dead_processes_are_removed(tmp_path):
    """Dask partitions left in the temporary folder after a kill were never removed."""
    from gbltr.folders import process_start, scratch_folder

    dead = tmp_path / "gbltr-dask-999999999-42-deadbeef"
    reused = tmp_path / f"gbltr-dask-{os.getpid()}-1-deadbeef"  # a live id, another start time
    alive = tmp_path / f"gbltr-dask-{os.getpid()}-{process_start(os.getpid())}-cafebabe"
    foreign = tmp_path / "gbltr-dask-notours"
    for folder in (dead, reused, alive, foreign):
        (folder / "train").mkdir(parents=True)
    with scratch_folder("gbltr-dask", root=tmp_path) as work:
        assert work.is_dir() and work.name.startswith(f"gbltr-dask-{os.getpid()}-")
        left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([alive.name, foreign.name, work.name])
    assert not work.exists()


def test_the_dask_backend_writes_its_partitions_in_a_scratch_folder(monkeypatch, tmp_path):
    """Partitions go to a folder named after the process (removed after the fit, and by the next
    fit when the process was killed), not to an anonymous ``mkdtemp``."""
    import tempfile

    import numpy as np

    import gbltr.train.backends.dask as dask_backend
    from gbltr.config import TrainConfig
    from gbltr.train.backends import TrainRequest

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "gbltr-dask-999999999-42-deadbeef"
    (dead / "train").mkdir(parents=True)
    written = []

    class Stop(Exception):
        pass

    def client(self, threads):  # partitions are written by now; stop before any cluster starts
        written.extend(sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")))
        raise Stop

    monkeypatch.setattr(dask_backend.DaskBackend, "_client", client)
    rng = np.random.default_rng(0)
    X, y, groups = rng.random((40, 3)), rng.integers(0, 3, 40).astype(float), np.array([10, 10, 10, 10])
    with pytest.raises(Stop):
        dask_backend.DaskBackend("lightgbm", workers=2).train(TrainRequest(
            X, y, groups, X[:20], y[:20], groups[:2], TrainConfig(rounds=2, early_stopping=0, threads=1),
            seed=0, label_gain=None))
    assert written and all(str(p).startswith(f"gbltr-dask-{os.getpid()}-") for p in written)
    assert list(tmp_path.iterdir()) == []  # the dead fit's folder and this one's are gone


# ---------------------------------------------------------------- the check itself

def test_an_output_is_refused_exactly_when_it_is_contains_or_lies_inside_an_input(tmp_path):
    """Every pair of a small set of spellings (``.``, ``..``, a symlink, a name sharing a prefix):
    the check agrees with the relation of the resolved paths."""
    import itertools

    from gbltr.errors import ConfigError
    from gbltr.folders import Input, Output, check_outputs

    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "x")
    spellings = ["x", "x/y", "x/y/z", "x/./y", "x/y/..", "link", "link/y", "link/y/z", "xy", "x/yz", "w"]
    for out, inp in itertools.product(spellings, repeat=2):
        ro, ri = Path(os.path.realpath(tmp_path / out)), Path(os.path.realpath(tmp_path / inp))
        related = ro == ri or ri in ro.parents or ro in ri.parents
        try:
            check_outputs("test", [Output(tmp_path / out, what="output", folder=False)], [Input(tmp_path / inp)])
            refused = False
        except ConfigError as exc:
            refused = "which test reads" in str(exc)
        assert refused == related, (out, inp)


@pytest.mark.parametrize("pragma, message", [("max_page_count = 3", "No space left on device"),
                                             ("query_only = 1", "Read-only file system")])
def test_an_answer_cache_that_cannot_be_written_is_a_write_error(tmp_path, pragma, message):
    """SQLite's 'database or disk is full' and 'readonly database' (real SQLite errors, forced by
    a pragma) used to read 'is not a readable SQLite database'."""
    from gbltr.errors import WriteError
    from gbltr.labels.llm.cache import AnswerCache

    path = tmp_path / "answers.sqlite"
    cache = AnswerCache(path)
    cache.put("k0", {"ok": 1})
    cache._db.execute(f"PRAGMA {pragma}")
    with pytest.raises(WriteError, match=rf"answer cache '{path}' could not be written: {message}"):
        cache.put("k1", {"text": "x" * 100_000})
    assert cache.get("k0") == {"ok": 1}
    cache.close()
