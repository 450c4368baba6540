"""Fixtures of the MLflow tests (issue 20): a tiny world, and a real ``mlflow server`` on 127.0.0.1.

The tests need the ``mlflow`` package (in the ``test`` extra, so CI has it); without it they skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the MLflow tests need the optional extra: pip install 'gbltr[mlflow]'")

TINY = dict(queries=240, sessions=12000, test_queries_per_bucket=8, valid_queries_per_bucket=6,
            min_train_queries_per_bucket=5, vocab_size=800, topics=8, candidates_min=6, candidates_max=10)
FAST = "[train]\nrounds = 4\nearly_stopping = 0\nthreads = 1\n"


@pytest.fixture(scope="package")
def world(tmp_path_factory) -> Path:
    from gbltr.data.simulate import WorldParams, write_world

    return write_world(WorldParams(seed=0, **TINY), tmp_path_factory.mktemp("track") / "world")


@pytest.fixture(scope="package")
def fast(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "fast.toml"
    path.write_text(FAST)
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test in its own folder and cache; no tracking URI from the environment."""
    monkeypatch.setenv("GBLTR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package")
def mlflow_server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, a temporary artefact root, a free
    port), stopped after the tests: yields its URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
