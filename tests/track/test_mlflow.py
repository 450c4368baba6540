"""MLflow tracking and registry (issue 20): a real tracking server, the embedded store, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gbltr.track.runs import flatten, metric_key

from .conftest import free_port


def run_cli(args, capsys) -> tuple[int, str, str]:
    """``gbltr ARGS`` in-process: (exit code, stdout, stderr)."""
    from gbltr.cli import main

    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def client_for(uri: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.tracking.MlflowClient()


def runs_of(client, experiment: str = "gbltr"):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def check_logged_fit(client, run, folder: Path) -> None:
    """The run's params, per-bucket metrics, curve and artefacts are those of the run folder."""
    config = json.loads((folder / "config.json").read_text())
    report = json.loads((folder / "report.json").read_text())
    assert run.data.params == flatten(config)
    for view, metrics in report["metrics"].items():
        for name, value in metrics.items():
            assert run.data.metrics[metric_key(view, name)] == pytest.approx(value, abs=0, rel=1e-12)
        assert run.data.metrics[metric_key(view, "n_queries")] == report["n_queries"][view]
    assert {"high/ndcg_at_10", "medium/ndcg_at_10", "low/ndcg_at_10"} <= set(run.data.metrics)
    assert run.data.tags["gbltr.dataset_fingerprint"] == report["dataset_fingerprint"]["sha1"]
    curve = client.get_metric_history(run.info.run_id, "valid/ndcg_at_10")
    assert [m.step for m in sorted(curve, key=lambda m: m.step)] == list(range(1, 5))  # 4 rounds
    artefacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.json", "per_query.parquet"} <= artefacts
    assert run.info.status == "FINISHED"


def rerank_scores(run, world, out: Path, capsys) -> pl.DataFrame:
    code, _, err = run_cli(["rerank", run, "--data", world, "--out", out], capsys)
    assert code == 0, err
    return pl.read_parquet(out.with_suffix(".parquet"))


# --- a real tracking server -------------------------------------------------------------------------


def test_server_fit_register_read_back_and_rerank(mlflow_server, world, fast, tmp_path, capsys, monkeypatch):
    """fit --mlflow URI --register against a real `mlflow server`: params, per-bucket metrics and
    artefacts read back through MlflowClient; the registered model predicts as the run folder's
    model (mlflow.lightgbm.load_model) and `rerank models:/...` scores as the run folder, bit for bit.
    The URI carries credentials: they appear in no output, file, param or tag."""
    import mlflow.lightgbm

    from gbltr.train.model import load_model

    secret = "s3cret-pw"
    uri = mlflow_server.replace("http://", f"http://alice:{secret}@")
    folder = tmp_path / "run"
    code, out, err = run_cli(["fit", "--data", world, "--config", fast, "--out", folder, "--mlflow", uri,
                              "--register", "gbltr-server-test"], capsys)
    assert code == 0, err
    assert "registered models:/gbltr-server-test/1" in err

    client = client_for(mlflow_server)
    (run,) = runs_of(client)
    check_logged_fit(client, run, folder)
    version = client.get_model_version("gbltr-server-test", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["gbltr.dataset_fingerprint"] == run.data.tags["gbltr.dataset_fingerprint"]

    logged = mlflow.lightgbm.load_model("models:/gbltr-server-test/1")
    native = load_model(folder)
    X = np.random.default_rng(0).random((64, len(native.feature_names)), dtype=np.float32)
    assert np.array_equal(logged.predict(X), native.predict(X))

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    from_registry = rerank_scores("models:/gbltr-server-test/1", world, tmp_path / "registry.trec", capsys)
    from_folder = rerank_scores(folder, world, tmp_path / "folder.trec", capsys)
    assert from_registry.equals(from_folder)
    assert (tmp_path / "registry.trec").read_bytes() == (tmp_path / "folder.trec").read_bytes()

    everything = out + err + json.dumps(run.data.params) + json.dumps(run.data.tags) + json.dumps(version.tags)
    everything += "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())
    assert secret not in everything and "alice" not in everything


# --- the embedded local store -----------------------------------------------------------------------


def test_local_store_xgboost_register_and_rerank(world, fast, tmp_path, capsys, monkeypatch):
    """XGBoost through mlflow.xgboost into a SQLite store: the same read-back, predictions and rerank."""
    import mlflow.xgboost
    import xgboost as xgb

    from gbltr.train.model import load_model

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    folder = tmp_path / "xgb-run"
    code, _, err = run_cli(["fit", "--data", world, "--config", fast, "--backend", "xgboost", "--out", folder,
                            "--mlflow", store, "--register", "xgb-ranker"], capsys)
    assert code == 0, err
    client = client_for(store)
    (run,) = runs_of(client)
    check_logged_fit(client, run, folder)
    native = load_model(folder)
    X = np.random.default_rng(1).random((64, len(native.feature_names)), dtype=np.float32)
    logged = mlflow.xgboost.load_model("models:/xgb-ranker/1")
    assert np.array_equal(logged.predict(xgb.DMatrix(X, feature_names=list(native.feature_names))), native.predict(X))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert rerank_scores("models:/xgb-ranker/1", world, tmp_path / "a.trec", capsys).equals(
        rerank_scores(folder, world, tmp_path / "b.trec", capsys))


def test_experiment_logs_a_parent_with_one_child_per_setup_and_seed(world, fast, tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "exp"
    code, _, err = run_cli(["experiment", "--data", world, "--config", fast, "--out", out, "--seeds", "2",
                            "--setups", "click", "--mlflow", store], capsys)
    assert code == 0, err
    client = client_for(store)
    runs = runs_of(client)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    summary = json.loads((out / "experiment.json").read_text())
    assert sorted((c.data.params["setup"], c.data.params["seed"]) for c in children) == sorted(
        (s, str(seed)) for s in summary["setups"] for seed in summary["seeds"])
    per_query = pl.read_parquet(out / "per_query.parquet")
    child = next(c for c in children if c.data.params == {"setup": "click", "seed": "1"})
    mine = per_query.filter((pl.col("setup") == "click") & (pl.col("seed") == 1) & pl.col("ndcg@10").is_not_nan())
    assert child.data.metrics["overall/ndcg_at_10"] == pytest.approx(mine["ndcg@10"].mean(), rel=1e-12)
    for bucket in ("high", "medium", "low"):
        assert f"{bucket}/ndcg_at_10" in child.data.metrics
        assert parent.data.metrics[f"{bucket}/click/ndcg_at_10"] == pytest.approx(
            summary["results"][bucket]["click"]["mean"], rel=1e-12)
    artefacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"experiment.md", "experiment.json", "experiment.png", "per_query.parquet"} <= artefacts
    assert parent.data.params["experiment.setups"] == json.dumps(summary["setups"])


def test_a_run_failing_after_logging_started_is_marked_failed(world, fast, tmp_path, capsys, monkeypatch):
    """Training fails after the params were logged: the MLflow run is FAILED, and no run folder is left."""
    import gbltr.train.fit as fit_module
    from gbltr.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("training broke on purpose")

    monkeypatch.setattr(fit_module, "train_model", broken)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, _, err = run_cli(["fit", "--data", world, "--config", fast, "--out", tmp_path / "run", "--mlflow", store],
                           capsys)
    assert code == 2 and "training broke on purpose" in err
    (run,) = runs_of(client_for(store))
    assert run.info.status == "FAILED"
    assert run.data.params["train.rounds"] == "4"
    assert not (tmp_path / "run").exists()


# --- bad input ----------------------------------------------------------------------------------------


def test_unreachable_server_is_an_error_before_training(world, fast, tmp_path, capsys):
    port = free_port()  # nothing listens there once the probe socket is closed
    code, out, err = run_cli(["fit", "--data", world, "--config", fast, "--out", tmp_path / "run",
                              "--mlflow", f"http://bob:hunter2@127.0.0.1:{port}"], capsys)
    assert code == 2
    assert f"http://***@127.0.0.1:{port} cannot be used" in err and "--mlflow-optional" in err
    assert "hunter2" not in out + err
    assert not (tmp_path / "run").exists()  # refused before any training

    code, _, err = run_cli(["fit", "--data", world, "--config", fast, "--out", tmp_path / "run",
                            "--mlflow", f"http://127.0.0.1:{port}", "--mlflow-optional"], capsys)
    assert code == 0 and "continuing WITHOUT tracking" in err
    assert (tmp_path / "run" / "report.json").is_file()


@pytest.fixture
def registered(world, fast, tmp_path, capsys, monkeypatch):
    """A LightGBM run of ``world`` registered as ``ranker`` version 1 in a local store (the environment's URI)."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code, _, err = run_cli(["fit", "--data", world, "--config", fast, "--out", tmp_path / "run", "--mlflow", store,
                            "--register", "ranker"], capsys)
    assert code == 0, err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    return tmp_path / "run"


def test_a_model_uri_naming_no_model_is_refused(registered, world, tmp_path, capsys):
    code, _, err = run_cli(["rerank", "models:/ranker/7", "--data", world, "--out", tmp_path / "r.trec"], capsys)
    assert code == 2 and "no such registered model version" in err and "['ranker']" in err
    code, _, err = run_cli(["export", "models:/nobody/1", "--format", "solr", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "models:/nobody/1" in err
    code, _, err = run_cli(["rerank", "models:/ranker", "--data", world, "--out", tmp_path / "r.trec"], capsys)
    assert code == 2 and "expected models:/NAME/VERSION" in err
    assert not (tmp_path / "r.trec").exists()


def test_a_registered_model_from_another_dataset_is_refused(registered, world, fast, tmp_path, capsys):
    """compare: a run of another dataset against the registered model (same query ids, other
    queries table): refused by the dataset fingerprint; against its own run folder it compares."""
    other = tmp_path / "other-world"
    shutil.copytree(world, other, ignore=shutil.ignore_patterns("latent"))
    queries = pl.read_parquet(other / "queries.parquet")
    queries.with_columns(pl.col("text") + " edited").write_parquet(other / "queries.parquet")
    code, _, err = run_cli(["fit", "--data", other, "--config", fast, "--out", tmp_path / "other-run"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["compare", tmp_path / "other-run", "models:/ranker/1"], capsys)
    assert code == 2 and "different datasets" in err and "queries.parquet" in err
    code, out, err = run_cli(["compare", registered, "models:/ranker/1"], capsys)
    assert code == 0, err
    assert "click (lightgbm) [models:/ranker/1]" in out


# --- the pieces ---------------------------------------------------------------------------------------


def test_credentials_are_redacted():
    from gbltr.track import redact

    assert redact("https://alice:pw@mlflow.example.com:8443/x?token=abc&run=1") == \
        "https://***@mlflow.example.com:8443/x?token=***&run=1"
    assert redact("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    assert redact("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_the_mlflow_table_of_a_config(tmp_path, monkeypatch):
    """[mlflow] turns tracking on and is not part of the run's config; MLFLOW_TRACKING_URI is the
    URI when none is given; unknown keys are refused."""
    from gbltr.config import load_config
    from gbltr.errors import ConfigError
    from gbltr.track import DEFAULT_STORE, tracking_config

    assert tracking_config(None) is None
    assert tracking_config(None, uri="").uri == DEFAULT_STORE
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_config(None, uri="").uri == "http://127.0.0.1:5999"
    cfg = tmp_path / "c.toml"
    cfg.write_text('[train]\nrounds = 3\n[mlflow]\nuri = "sqlite:///t.db"\nregister = "r"\noptional = true\n')
    t = tracking_config(cfg)
    assert (t.uri, t.register, t.optional) == ("sqlite:///t.db", "r", True)
    assert tracking_config(cfg, uri="http://h:1").uri == "http://h:1"
    assert "mlflow" not in load_config(cfg).to_json() and load_config(cfg).train.rounds == 3
    cfg.write_text('[mlflow]\nurl = "http://h:1"\n')
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['url'\]"):
        tracking_config(cfg)


def test_without_mlflow_the_error_says_how_to_install_it(monkeypatch):
    import sys

    from gbltr.errors import ConfigError
    from gbltr.track import require_mlflow

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'gbltr\[mlflow\]'"):
        require_mlflow()


def readme_lines() -> list[str]:
    """The three lines of the README's MLflow section (log, register, rerank from the registry)."""
    import re

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"### Tracking runs in MLflow\n\n```bash\n(.*?)```", text, re.S)
    assert block, "README has no '### Tracking runs in MLflow' section with a bash block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_lines_run(world, fast, tmp_path, capsys, monkeypatch):
    """The README's three lines, with the server URI made a local store, DIR and NEW the tiny world,
    and a fast config and output folder added to the fits."""
    import shlex

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log, register, rerank = readme_lines()
    assert "--register ranker" in register and "models:/ranker/1" in rerank
    for n, line in enumerate((log, register)):
        args = shlex.split(line.replace("http://mlflow.example.com:5000", store).replace("DIR", str(world)))[1:]
        code, _, err = run_cli([*args, "--config", fast, "--out", tmp_path / f"run{n}"], capsys)
        assert code == 0, err
    env, *command = shlex.split(rerank.replace("NEW", str(world)).replace("ranking.trec", str(tmp_path / "r.trec")))
    assert env == "MLFLOW_TRACKING_URI=http://mlflow.example.com:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    code, _, err = run_cli(command[1:], capsys)
    assert code == 0, err
    assert rerank_scores(tmp_path / "run1", world, tmp_path / "f.trec", capsys).equals(
        pl.read_parquet(tmp_path / "r.parquet"))
    assert len(runs_of(client_for(store))) == 2


def test_ablation_logs_a_parent_with_one_child_per_removed_group(world, fast, tmp_path, capsys):
    from gbltr.analysis.ablation import FULL

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "abl"
    code, _, err = run_cli(["ablation", "--data", world, "--config", fast, "--out", out, "--labels", "click",
                            "--groups", "document", "--no-attribution", "--no-label-stats", "--mlflow", store], capsys)
    assert code == 0, err
    client = client_for(store)
    runs = runs_of(client)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(c.data.params["dropped"] for c in children) == sorted([FULL, "document"])
    summary = json.loads((out / "ablation.json").read_text())
    assert parent.data.params["ablation.groups"] == '["document"]'
    assert {"ablation.md", "ablation.json", "ablation.png", "per_query.parquet"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)}
    assert any(k.startswith("overall/click/without document/delta") for k in parent.data.metrics), summary.keys()
