"""Bad settings: each is refused with a message naming the setting, what was expected and found,
before any work. Catalogue rows of issue 7: "Overflow and type mistakes", "Values out of range",
"Bad settings", unknown FAMOL parameters, non-UTF-8 config."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gbltr.config import load_config
from gbltr.errors import ConfigError, InputError

from .conftest import run_cli


@pytest.mark.parametrize("text, message", [
    ("[train]\nrounds = true\n", "train.rounds: expected an integer, found true (a boolean)"),
    ("[train]\nlearning_rate = false\n", "train.learning_rate: expected a number, found false (a boolean)"),
    ("[train]\nfeature_fraction = 7\n", "train.feature_fraction=7.0; expected a finite number in (0, 1]"),
    ("[train]\nlambda_l2 = -5\n", "train.lambda_l2=-5.0; expected a finite number >= 0"),
    ("[train]\nmin_data_in_leaf = 1e12\n", "train.min_data_in_leaf: expected an integer, found 1000000000000.0 (a number)"),
    ("[train]\nthreads = 100000\n", "train.threads=100000; expected an integer in [0, 1024]; 0 = auto: the CPUs this process may use"),
    ("[train]\nrounds = 1e300\n", "train.rounds: expected an integer, found 1e+300 (a number)"),
    ("[train]\nlearning_rate = nan\n", "train.learning_rate=nan; expected a finite number in (0, 1]"),
    ("seed = -1\n", "seed=-1; expected an integer in [0, 2**32 - 1]"),
    ("[world]\nseed = -1\n", "seed=-1; expected"),
    ("[fusion]\nweight_fn = 'sigmoid'\nweight_params = {alpah = 9.0}\n",
     "unknown parameter(s) ['alpah']; expected some of ['alpha', 'beta']"),
    ("[fusion]\nweight_params = {alpha = 9.0}\n", "weight_params ['alpha'] were given with weight_fn='auto'"),
    ("[fusion]\nweight_fn = 'constant'\nweight_params = {value = 0.5, alpha = 1.0}\n",
     "weight function 'constant': unknown parameter(s) ['alpha']"),
])
def test_config_values_out_of_range_or_of_the_wrong_type(tmp_path, text, message):
    cfg = tmp_path / "c.toml"
    extra = "labels = 'fused'\n" if "fusion" in text else ""
    cfg.write_text(extra + text if text.startswith("[") else text + extra)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert message in str(err.value)


def test_infinite_integer_is_a_type_error_not_an_overflow(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nrounds = inf\n")
    with pytest.raises(ConfigError, match=r"train.rounds: expected an integer, found inf"):
        load_config(cfg)


def test_non_utf8_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"[train]\nbackend = '\xff\xfe'\n")
    with pytest.raises(InputError, match=r"c.toml'.*UTF-8 text\), found bytes that are not UTF-8 at offset 19"):
        load_config(cfg)


def test_json_config_that_is_not_an_object(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"c.json': expected a JSON object at the top level: a table of settings .*found a list"):
        load_config(cfg)


@pytest.mark.parametrize("args, message", [
    (["fit", "--seed", "-1"], "'-1' (config key seed); expected an integer in [0, 2**32 - 1]"),
    (["fit", "--labels", "fused", "--weight-fn", "sigmoid", "--weight-param", "alpah=9"], "unknown parameter(s) ['alpah']"),
    (["simulate", "--out", "W", "--seed", "-1"], "'-1' (config key world.seed); expected an integer in [0, 2**32 - 1]"),
    (["experiment", "--metric", "ndcg@7", "--seeds", "1", "--out", "E"],
     "unknown metric 'ndcg@7'; choose one of: ndcg@1, ndcg@3, ndcg@5, ndcg@10"),
    (["ablation", "--groups", "", "--out", "A"], "--groups '': expected one or more comma-separated names"),
    (["ablation", "--labels", " , ", "--out", "A"], "--labels ' , ': expected one or more"),
    (["ablation", "--metric", "ndcg@7", "--out", "A"], "unknown metric 'ndcg@7'"),
])
def test_bad_flags_fail_before_any_work(tmp_path, capsys, monkeypatch, args, message):
    import gbltr.analysis.ablation
    import gbltr.experiment
    import gbltr.pipeline
    import gbltr.train.fit  # imported before the patch: it binds ``prepare`` by name

    def no_work(*a, **k):
        raise AssertionError("work started before the settings were checked")

    for mod, name in ((gbltr.pipeline, "prepare"), (gbltr.experiment, "run_experiment"),
                      (gbltr.analysis.ablation, "run_ablation"), (gbltr.pipeline, "builtin_world")):
        monkeypatch.setattr(mod, name, no_work)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(args, capsys)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "E").exists() and not (tmp_path / "A").exists() and not (tmp_path / "W").exists()


def _gbltr(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gbltr.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.parametrize("level", ["debug", "Warning", " error ", "INFO"])
def test_log_level_in_any_case_even_for_help(level):
    proc = _gbltr("--help", env={"GBLTR_LOG": level})
    assert proc.returncode == 0, proc.stderr
    assert "Commands" in proc.stdout


def test_unknown_log_level_is_a_clear_error():
    proc = _gbltr("--help", env={"GBLTR_LOG": "verbose"})
    assert proc.returncode == 2
    assert "error: GBLTR_LOG='verbose'; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in proc.stderr
    assert "Traceback" not in proc.stderr
