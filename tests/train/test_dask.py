"""``--engine dask``: whole-query partitions, clear errors, and distributed = single-machine.

Equivalence: on the tiny world, a model trained on a 2-worker LocalCluster and the same model
trained on one machine reach the same test nDCG@10 within TOLERANCE (absolute), for both
backends, with the built-in objective and with FAMOL's custom objective. Not bit-identical:
distributed tree learning finds feature bins per worker and merges histograms.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gbltr.config import load_config
from gbltr.errors import ConfigError, DataError, DeviceError
from gbltr.train.backends.dask import check_partitions, connect, write_partitions

pytest.importorskip("distributed")

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny-world.toml"
TOLERANCE = 0.03  # |nDCG@10 distributed - single| on the tiny world's test queries


def test_partitions_hold_whole_sorted_queries(tmp_path):
    sizes = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    n = sizes.sum()
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    parts = write_partitions(tmp_path, X, sizes, 3, label=np.arange(n, dtype=float))
    check_partitions([p.path for p in parts])
    assert len(parts) == 3 and sum(p.rows for p in parts) == n and sum(p.queries for p in parts) == sizes.size
    frames = [pl.read_parquet(p.path) for p in parts]
    assert np.array_equal(np.concatenate([f["row"].to_numpy() for f in frames]), np.arange(n))
    for f, p in zip(frames, parts):
        counts = f.group_by("qid", maintain_order=True).len()["len"].to_numpy()
        assert np.array_equal(counts, sizes[f["qid"].unique(maintain_order=True).to_numpy()])  # whole queries
        assert np.array_equal(f.select("f0", "f1").to_numpy(), X[f["row"].to_numpy()])


def test_a_query_spanning_partitions_is_refused(tmp_path):
    a = pl.DataFrame({"qid": [0, 0, 1], "row": [0, 1, 2]})
    b = pl.DataFrame({"qid": [1, 2], "row": [3, 4]})
    a.write_parquet(tmp_path / "a.parquet")
    b.write_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataError, match="query 1 spans partitions"):
        check_partitions([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    pl.DataFrame({"qid": [2, 2, 1], "row": [0, 1, 2]}).write_parquet(tmp_path / "c.parquet")
    with pytest.raises(DataError, match="not sorted by query"):
        check_partitions([tmp_path / "c.parquet"])


def test_engine_config_is_validated():
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        load_config(None, {"train": {"engine": "spark"}})
    with pytest.raises(ConfigError, match="train.workers=0"):
        load_config(None, {"train": {"engine": "dask", "workers": 0}})


@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error(monkeypatch, tmp_path):
    import gbltr.train.backends.dask as dask_backend
    from gbltr.cli import main

    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT", "2s")
    with pytest.raises(DeviceError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        connect("tcp://127.0.0.1:9", 2, 1)
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", str(TINY), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9",
              "--out", str(tmp_path / "run")])
    assert exc.value.code == 2 and not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, Client(lc) as client:
        yield client


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    from gbltr.pipeline import prepare

    os.environ.setdefault("GBLTR_CACHE", str(tmp_path_factory.mktemp("cache")))
    return prepare(load_config(TINY, {"labels": "fused", "train": {"rounds": 25}}))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("labels", ["llm", "famol"])
def test_distributed_and_single_machine_reach_the_same_ndcg(prep, cluster, backend, labels, monkeypatch):
    from gbltr.train.fit import evaluate, train_model

    over = {"labels": "llm"} if labels == "llm" else {"labels": "fused", "fusion": {"method": "famol", "form": "objective"}}
    cfg = load_config(TINY, {**over, "train": {"rounds": 25, "backend": backend}})
    p = replace(prep, config=cfg)
    single = train_model(p, cfg)
    dist_cfg = replace(cfg, train=replace(cfg.train, engine="dask"))
    # train_model builds its DaskBackend from the config; hand it the test's cluster instead
    monkeypatch.setattr("gbltr.train.backends.dask.connect", lambda *a, **k: cluster)
    monkeypatch.setattr("gbltr.train.backends.dask._close", lambda client: None)
    dist = train_model(replace(p, config=dist_cfg), dist_cfg)
    a = evaluate(p, single)["ndcg@10"].drop_nans().mean()
    b = evaluate(p, dist)["ndcg@10"].drop_nans().mean()
    assert abs(a - b) <= TOLERANCE, f"single {a:.4f} vs distributed {b:.4f}"
    corr = np.corrcoef(single.predict(p.test.X), dist.predict(p.test.X))[0, 1]
    assert corr > 0.9  # the same model up to binning, not merely a similar metric


class _Dying:
    """A FAMOL objective whose restriction to a worker's rows ends that worker process at its
    first gradient."""

    def __init__(self, real):
        self.real = real

    def __call__(self, scores, gp):
        return self.real(scores, gp)

    def restrict(self, rows, gp):
        def kernel(scores, gp):
            os._exit(1)

        return kernel


class _OneWorkerDies(_Dying):
    """The real objective, except in the first worker to compute a gradient: that one exits."""

    def __init__(self, real, lock_dir):
        super().__init__(real)
        self.lock_dir = lock_dir

    def restrict(self, rows, gp):
        kernel, lock_dir = self.real.restrict(rows, gp), self.lock_dir

        def dying(scores, gp):
            try:
                os.close(os.open(os.path.join(lock_dir, "dead"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                open(os.path.join(lock_dir, f"survivor-{os.getpid()}"), "w").close()
                return kernel(scores, gp)  # and on to the histograms' allreduce, where the peer is gone
            os._exit(1)

        return dying


def _fit_while_workers_die(tmp_path, monkeypatch, backend: str, wrap) -> None:
    """``gbltr fit --engine dask`` (FAMOL objective) on a fresh 2-worker LocalCluster whose FAMOL
    objective is ``wrap(real objective)``, restricted to each worker's rows there; asserts the
    DeviceError and that no run folder (nor a temporary sibling) is left."""
    import sys

    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    import gbltr.train.backends.custom as custom
    from gbltr.train.fit import fit

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    real = custom.make_famol_objective

    def famol_that_kills_workers(*args, **kw):
        return wrap(real(*args, **kw))

    monkeypatch.setattr(custom, "make_famol_objective", famol_that_kills_workers)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
                Client(lc) as client:
            monkeypatch.setattr("gbltr.train.backends.dask.connect", lambda *a, **k: client)
            monkeypatch.setattr("gbltr.train.backends.dask._close", lambda c: None)
            cfg = load_config(TINY, {"labels": "fused", "fusion": {"method": "famol", "form": "objective",
                                                                   "weight_fn": "bucket"},
                                     "train": {"rounds": 5, "backend": backend, "engine": "dask"}})
            with pytest.raises(DeviceError, match="Dask worker was lost during training"):
                fit(cfg, tmp_path / "run")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("run")]


@pytest.mark.slow
def test_a_worker_dying_mid_fit_is_an_error_and_no_run_is_saved(tmp_path, monkeypatch):
    _fit_while_workers_die(tmp_path, monkeypatch, "xgboost", _Dying)


@pytest.mark.slow
def test_a_worker_dying_while_the_other_waits_in_lightgbm_collective(tmp_path, monkeypatch):
    """Only the first worker to compute a gradient exits; the survivor goes on to build its
    histograms and waits for the dead peer inside LightGBM's socket allreduce."""
    import functools

    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()
    _fit_while_workers_die(tmp_path, monkeypatch, "lightgbm",
                           functools.partial(_OneWorkerDies, lock_dir=str(lock_dir)))
    assert (lock_dir / "dead").exists()  # one worker did die ...
    assert list(lock_dir.glob("survivor-*"))  # ... while the other went past its gradient into the collective
