"""The wheel, built and installed outside the checkout, runs as a user would run it.

Issue 11: a non-editable install used to stop at ``--fusion schedule`` because the schedules were
read from the checkout (``Path(__file__).parents[2]``). This test builds the wheel from a copy of
the source tree, checks that every file read at run time is inside it, installs it (no
dependencies) into a fresh venv in a temporary folder, and runs ``gbltr fit --labels fused
--fusion schedule`` and ``gbltr experiment`` on the tiny world from a working directory outside
the checkout. The new venv borrows the test venv's third-party packages through a ``.pth`` line
(no download); a ``.pth`` line adds a path without running the ``.pth`` files in it, so the test
venv's editable gbltr is not visible, which the test asserts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "runs",
                                ".pytest_cache", "*.whl", ".gbltr-cache", "benchmarks", "notebooks")


def _run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    out = tmp / "wheelhouse"
    import setuptools

    # Without build isolation (no download) when the test venv's setuptools builds wheels itself.
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    flags = ["--no-build-isolation"] if (major, minor) >= (70, 1) else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *flags, "-q", "-w", out, src])
    (wheel,) = out.glob("gbltr-*.whl")
    return wheel


def packaged_files() -> set[str]:
    """Every file of the source tree the package needs, as its path inside the wheel: all files
    under ``gbltr/`` and ``features/`` (shipped as ``gbltr/catalogue/``), bytecode left out."""

    def files(root: Path):
        return (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")

    want = {f"gbltr/catalogue/{p.relative_to(ROOT / 'features').as_posix()}" for p in files(ROOT / "features")}
    want |= {p.relative_to(ROOT).as_posix() for p in files(ROOT / "gbltr")}
    return want


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(packaged_files() - names)
    assert not missing, f"package files missing from the wheel: {missing}"
    assert "gbltr/train/schedules/llm-then-click.toml" in names
    assert not any(n.startswith(("tests/", "features/", "configs/")) for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "-q", wheel])

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "configs" / "tiny-world.toml", work / "tiny.toml")
    env = {**os.environ, "GBLTR_CACHE": str(tmp_path / "cache"), "GBLTR_LOG": "WARNING",
           "PYTHONPATH": "", "PYTHONNOUSERSITE": "1"}
    where = _run([py, "-c", "import gbltr, gbltr.catalogue; print(gbltr.__file__)"], cwd=work, env=env).stdout.strip()
    assert Path(where).is_relative_to(env_dir), f"gbltr imported from {where}, not from the installed wheel"

    gbltr = env_dir / "bin" / "gbltr"
    fit = _run([gbltr, "fit", "--config", "tiny.toml", "--labels", "fused", "--fusion", "schedule",
                "--out", "run-schedule"], cwd=work, env=env)
    result = json.loads(fit.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
    assert 0 < result["metrics"]["overall"]["ndcg@10"] <= 1
    report = json.loads((work / "run-schedule" / "report.json").read_text())
    assert report["fusion"]["schedule"] == "llm-then-click"

    exp = _run([gbltr, "experiment", "--config", "tiny.toml", "--seeds", "1", "--setups", "click,fused:schedule",
                "--out", "exp"], cwd=work, env=env)
    assert exp.stdout.strip().splitlines()[-1].startswith("RESULT ")
    assert (work / "exp" / "experiment.json").exists()
