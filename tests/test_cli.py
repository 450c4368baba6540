"""The CLI: bad flags get one clear line and exit status 2; lists of valid values come from registries."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gbltr.cli import cli, main

GBLTR = str(Path(sys.executable).parent / "gbltr")


def run(*args, **kw):
    return subprocess.run([GBLTR, *args], capture_output=True, text=True, timeout=120, **kw)


def test_help_lists_every_command():
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in ("simulate", "fit", "compare", "experiment", "ablation", "annotate"):
        assert name in out


def test_unknown_labels_and_backend_list_the_valid_values():
    proc = run("fit", "--labels", "clicks")
    assert proc.returncode == 2 and "'clicks' is not one of 'click', 'fused', 'human', 'llm'" in proc.stderr
    proc = run("fit", "--backend", "catboost")
    assert proc.returncode == 2 and "'lightgbm', 'xgboost'" in proc.stderr


def test_fusion_flag_with_click_labels_is_an_error(tmp_path):
    proc = run("fit", "--labels", "click", "--fusion", "famol", cwd=tmp_path)
    assert proc.returncode == 2
    assert "fusion applies only to --labels fused" in proc.stderr


def test_bad_weight_parameter_names_the_valid_range(tmp_path):
    proc = run("fit", "--labels", "fused", "--weight-fn", "sigmoid", "--weight-param", "alpha=-2", cwd=tmp_path)
    assert proc.returncode == 2 and "alpha=-2.0; expected a finite number > 0" in proc.stderr


def test_cuda_without_a_gpu_fails_clearly(tmp_path, monkeypatch):
    from gbltr.train.backends import xgboost as xb

    if xb.cuda_available():
        pytest.skip("a CUDA GPU is present")
    cfg = tmp_path / "c.toml"
    cfg.write_text((Path(__file__).resolve().parents[1] / "configs" / "tiny-world.toml").read_text())
    proc = run("fit", "--labels", "click", "--backend", "xgboost", "--device", "cuda", "--config", str(cfg),
               "--out", str(tmp_path / "r"), cwd=tmp_path, env={"GBLTR_CACHE": str(tmp_path / "c"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--device cuda needs a visible NVIDIA GPU" in proc.stderr


def test_simulate_writes_a_world(tmp_path):
    res = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path / "w"), "--queries", "400", "--sessions", "15000",
                                   "--test-queries-per-bucket", "10", "--valid-queries-per-bucket", "5",
                                   "--min-train-queries-per-bucket", "5"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "w" / "world.json").exists() and (tmp_path / "w" / "impressions.parquet").exists()


def test_gbltr_errors_become_one_line_and_status_2(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--data", str(tmp_path / "nope")])
    assert exc.value.code == 2
