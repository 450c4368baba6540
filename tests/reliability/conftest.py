"""Shared pieces of the reliability catalogue (issue 7: no silent wrong result).

One tiny simulated world is written once per session (a few hundred queries, seconds) and
copied into a test's own folder whenever the test edits it. End-to-end runs call
``gbltr.cli.main`` in-process (:func:`run_cli`) and train 3 rounds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from gbltr.data.simulate import WorldParams, write_world

TINY = dict(queries=240, sessions=12000, test_queries_per_bucket=8, valid_queries_per_bucket=6,
            min_train_queries_per_bucket=5, vocab_size=800, topics=8, candidates_min=6, candidates_max=10)
FAST = {"train": {"rounds": 3, "early_stopping": 0, "threads": 1}}


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    """A tiny simulated world (read-only: copy it with ``world_copy`` before editing)."""
    return write_world(WorldParams(seed=0, **TINY), tmp_path_factory.mktemp("reliab") / "world")


@pytest.fixture
def world_copy(world, tmp_path) -> Path:
    dst = tmp_path / "world"
    shutil.copytree(world, dst, ignore=shutil.ignore_patterns("latent"))
    return dst


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))


def edit_table(folder: Path, name: str, fn) -> None:
    """Rewrite ``folder/name.parquet`` as ``fn(frame)`` (name may be ``labels/human``). A label
    set's row count is updated in ``dataset.json`` too, as a consistent hand edit would (a count
    that disagrees with the manifest is refused: gbltr.data.store.check_label_set)."""
    path = folder / f"{name}.parquet"
    frame = fn(pl.read_parquet(path))
    frame.write_parquet(path)
    manifest_file = folder / "dataset.json"
    if name.startswith("labels/") and manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        if name.removeprefix("labels/") in manifest.get("labels", {}):
            manifest["labels"][name.removeprefix("labels/")] = frame.height
            manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def drop_label_set(folder: Path, name: str) -> None:
    """Remove ``labels/NAME.parquet`` and its entry in ``dataset.json``, as a consistent hand edit
    would (a listed set whose file is gone is refused: gbltr.data.store.check_no_label_set_missing)."""
    (folder / "labels" / f"{name}.parquet").unlink()
    manifest_file = folder / "dataset.json"
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        manifest.get("labels", {}).pop(name, None)
        manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True))


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``gbltr ARGS`` in-process: (exit code, stdout, stderr)."""
    from gbltr.cli import main

    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def fast_config(tmp_path: Path, extra: str = "") -> Path:
    """A config file that trains 3 rounds on one thread."""
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[train]\nrounds = 3\nearly_stopping = 0\nthreads = 1\n" + extra)
    return cfg
