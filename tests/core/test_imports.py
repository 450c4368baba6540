"""`import gbltr` stays light, and `gbltr --help` does not load the heavy libraries either."""

import subprocess
import sys


def loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


HEAVY = {"openai", "xgboost", "lightgbm", "matplotlib", "numba"}


def test_import_gbltr_is_light():
    assert not HEAVY & loaded_after("import gbltr")


def test_cli_help_is_light():
    assert not HEAVY & loaded_after("from gbltr.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass")
