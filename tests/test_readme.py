"""The README's two set-up commands cannot rot: their gbltr parts run here, and CI runs command 2."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny-world.toml"


def setup_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Set up.*?```bash\n(.*?)```", text, re.S)
    assert block, "README has no '## Set up' section with a bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_exactly_two_commands_install_then_run_and_test():
    cmds = setup_commands()
    assert len(cmds) == 2
    assert "pip install -e ." in cmds[0] and cmds[0].rstrip().endswith("gbltr fit --labels fused")
    assert "pip install -e '.[test,local]'" in cmds[1] and cmds[1].rstrip().endswith("pytest")


def test_ci_runs_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text()
    pattern = re.search(r"grep -E '([^']+)' README.md", script).group(1)
    matches = [c for c in setup_commands() if re.search(pattern, c)]
    assert matches == [setup_commands()[1]]


@pytest.mark.slow
def test_main_command_runs_on_a_tiny_world(tmp_path):
    """Command 1's gbltr part, exactly, plus a tiny-world config and an output folder."""
    gbltr_part = setup_commands()[0].split("&&")[-1].strip()
    args = shlex.split(gbltr_part)[1:] + ["--config", str(TINY), "--out", str(tmp_path / "run")]
    env = {"GBLTR_CACHE": str(tmp_path / "cache"), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    proc = subprocess.run([str(Path(sys.executable).parent / "gbltr"), *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| overall |" in proc.stdout and "RESULT " in proc.stdout
    for name in ("report.json", "report.md", "per_query.parquet", "model.txt", "config.json", "weights.png"):
        assert (tmp_path / "run" / name).exists(), name
