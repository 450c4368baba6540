"""gbltr.threads: the CPUs a process may use, thread-count bounds, the OpenMP wait policy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gbltr import threads
from gbltr.errors import ConfigError


def _fake_cgroup(tmp_path, monkeypatch, files: dict[str, str]):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    monkeypatch.setattr(threads, "_CGROUP_ROOT", tmp_path)


def test_cgroup_v2_quota_limits_cpus(tmp_path, monkeypatch):
    _fake_cgroup(tmp_path, monkeypatch, {"cpu.max": "150000 100000\n"})
    assert threads._cgroup_quota(tmp_path) == 1.5
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert threads.available_cpus() == 2  # ceil(1.5), below the 4 CPUs of the affinity mask


def test_cgroup_v2_unlimited_and_v1_quota(tmp_path, monkeypatch):
    _fake_cgroup(tmp_path, monkeypatch, {"cpu.max": "max 100000\n"})
    assert threads._cgroup_quota(tmp_path) is None
    _fake_cgroup(tmp_path, monkeypatch, {"cpu/cpu.cfs_quota_us": "300000\n",
                                         "cpu/cpu.cfs_period_us": "100000\n"})
    assert threads._cgroup_quota(tmp_path) == 3.0
    _fake_cgroup(tmp_path, monkeypatch, {"cpu/cpu.cfs_quota_us": "-1\n"})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})
    (tmp_path / "cpu.max").unlink()
    assert threads._cgroup_quota(tmp_path) is None
    assert threads.available_cpus() == 1  # the affinity mask alone


def test_resolve_threads_auto_explicit_and_bounds(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 3)
    assert threads.resolve_threads(0) == 3
    assert threads.resolve_threads(1) == 1
    assert threads.resolve_threads(8) == 8  # oversubscribed: honoured with a warning
    for bad in (-1, threads.MAX_THREADS + 1, 100000):
        with pytest.raises(ConfigError, match="train.threads"):
            threads.resolve_threads(bad)
    with pytest.raises(ConfigError, match="integer"):
        threads.resolve_threads(2.5)


def test_use_threads_sets_numba_threads():
    import numba

    before = numba.get_num_threads()
    try:
        assert threads.use_threads(1) == 1
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)


def _env_after(code: str, env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_wait_policy_passive_unless_user_set_and_not_at_import():
    show = "import os; print(os.environ.get('OMP_WAIT_POLICY', '-'))"
    assert _env_after("import gbltr, gbltr.threads; " + show, {}) == "-"  # no import side effect
    prep = "from gbltr.threads import prepare_openmp; prepare_openmp(); " + show
    assert _env_after(prep, {}) == "PASSIVE"
    assert _env_after(prep, {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
    backend = "from gbltr.train.backends import get_backend; get_backend('lightgbm'); " + show
    assert _env_after(backend, {}) == "PASSIVE"


def test_world_params_and_buckets_import_without_data_libraries():
    """Configs read WorldParams and BucketSpec without loading Polars or numpy (start-up)."""
    code = ("import sys, gbltr.data.world, gbltr.buckets; "
            "print(sorted(m for m in ('polars', 'numpy') if m in sys.modules))")
    assert _env_after(code, {}) == "[]"
