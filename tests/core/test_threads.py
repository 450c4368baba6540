"""gbltr.threads: the CPUs a process may use, thread-count bounds, the OpenMP wait (issue 22)."""

from __future__ import annotations

import os
import re
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
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
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


_CLEAR = (*threads.WAIT_VARIABLES, "OMP_NUM_THREADS", "OMP_DISPLAY_ENV")


def _run(code: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _CLEAR}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)


def _env_after(code: str, env_extra: dict[str, str]) -> str:
    return _run(code, env_extra).stdout.strip()


SHOW = "import os; print(' '.join(f'{k}={os.environ.get(k, \"-\")}' for k in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')))"


def test_no_wait_setting_at_import_and_sleep_at_once_until_decided():
    assert _env_after("import gbltr, gbltr.threads; " + SHOW, {}) == "OMP_WAIT_POLICY=- GOMP_SPINCOUNT=-"
    start = "from gbltr.threads import prepare_openmp; w = prepare_openmp(decide=False); print(w.decided); "
    assert _env_after(start + SHOW, {}) == "False\nOMP_WAIT_POLICY=- GOMP_SPINCOUNT=0"


@pytest.mark.parametrize("user", [{"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "passive"},
                                  {"GOMP_SPINCOUNT": "1234"}, {"KMP_BLOCKTIME": "5"}])
def test_the_users_wait_setting_wins_and_libgomp_reads_it(user):
    """Any wait variable the user set: gbltr sets none, and LightGBM's libgomp reads the user's."""
    code = ("from gbltr.threads import prepare_openmp; w = prepare_openmp(); print(w.chosen_by, w.variables); "
            "from gbltr.train.backends import get_backend; get_backend('lightgbm'); import lightgbm")
    res = _run(code, {**user, "OMP_DISPLAY_ENV": "VERBOSE"})
    assert res.stdout.strip() == f"user {tuple(user.items())}"
    spins = set(re.findall(r"GOMP_SPINCOUNT = '(\d+)'", res.stderr))
    expected = {"OMP_WAIT_POLICY": {"ACTIVE": "30000000000", "passive": "0"}.get(user.get("OMP_WAIT_POLICY")),
                "GOMP_SPINCOUNT": user.get("GOMP_SPINCOUNT"), "KMP_BLOCKTIME": "300000"}  # libgomp's own default
    assert spins == {next(v for k, v in expected.items() if k in user)}


def test_gbltrs_choice_is_what_libgomp_reads_in_the_cli_order():
    """CLI start (window opens), then a backend (choice made), then LightGBM loads libgomp."""
    code = ("from gbltr.threads import prepare_openmp; prepare_openmp(decide=False); "
            "from gbltr.train.backends import get_backend; get_backend('lightgbm'); import lightgbm; "
            "w = prepare_openmp(); print(w.chosen_by, w.decided, w.runtime_loaded, dict(w.variables)['GOMP_SPINCOUNT'])")
    res = _run(code, {"OMP_DISPLAY_ENV": "VERBOSE"})
    chosen_by, decided, loaded, spin = res.stdout.split()
    assert (chosen_by, decided, loaded) == ("gbltr", "True", "True")  # loaded by now: the record says so
    assert spin in (str(threads.SPIN_IDLE), str(threads.SPIN_SHARED))
    assert set(re.findall(r"GOMP_SPINCOUNT = '(\d+)'", res.stderr)) == {spin}  # every libgomp loaded


def _samples(monkeypatch, other_cpus: float, own_cpus: float = 0.4, seconds: float = 2.0):
    """Fake /proc/stat readings: other processes used ``other_cpus`` CPUs over ``seconds``."""
    readings = iter([threads._CpuSample(10.0, 100.0, 1.0),
                     threads._CpuSample(10.0 + seconds, 100.0 + (other_cpus + own_cpus) * seconds,
                                        1.0 + own_cpus * seconds)])
    monkeypatch.setattr(threads, "_cpu_sample", lambda: next(readings))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    monkeypatch.setattr(threads.time, "monotonic", lambda: 1e9)
    monkeypatch.setattr(threads._Probe, "user_wait", None)
    monkeypatch.setattr(threads._Probe, "start", None)
    monkeypatch.setattr(threads._Probe, "chosen", None)
    for k in _CLEAR:
        monkeypatch.delenv(k, raising=False)


@pytest.mark.parametrize(("other", "shared"), [(0.0, False), (0.3, False), (1.0, True), (1.6, True)])
def test_wait_follows_the_cpus_other_processes_used_while_gbltr_started(monkeypatch, other, shared):
    _samples(monkeypatch, other)
    assert threads.prepare_openmp(decide=False).decided is False
    assert os.environ["GOMP_SPINCOUNT"] == str(threads.SPIN_SHARED)  # until decided: sleep at once
    wait = threads.prepare_openmp()
    assert (wait.chosen_by, wait.decided, wait.shared) == ("gbltr", True, shared)
    assert wait.other_cpus == pytest.approx(other)
    spin = threads.SPIN_SHARED if shared else threads.SPIN_IDLE
    assert dict(wait.variables) == {"GOMP_SPINCOUNT": str(spin), "KMP_BLOCKTIME": str(threads.KMP_BLOCKTIME_MS)}
    assert os.environ["GOMP_SPINCOUNT"] == str(spin)
    assert threads.prepare_openmp() == wait  # decided once per process


def test_unmeasurable_cpu_use_counts_as_shared(monkeypatch):
    _samples(monkeypatch, 0.0)
    monkeypatch.setattr(threads, "_cpu_sample", lambda: None)
    wait = threads.prepare_openmp()
    assert (wait.other_cpus, wait.shared, dict(wait.variables)["GOMP_SPINCOUNT"]) == (None, True, "0")


def test_cpu_sample_reads_this_machine():
    import time

    a = threads._cpu_sample()
    sum(i * i for i in range(200_000))  # some CPU time of our own
    time.sleep(0.3)  # a window of many clock ticks (/proc/stat counts in 1/100 s)
    b = threads._cpu_sample()
    assert a is not None and b is not None and b.own > a.own and b.busy >= a.busy
    assert 0.0 <= threads._other_cpus(a, b) <= threads.available_cpus() + 0.3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_a_loaded_openmp_runtime_is_read_from_the_maps_once(monkeypatch):
    """Training and prediction ask at every call; a runtime once mapped is not looked up again."""
    __import__("lightgbm")  # maps libgomp

    monkeypatch.setattr(threads._Probe, "openmp_seen", False)
    reads = []
    real = threads.Path.read_text

    def counted(self, *a, **kw):
        reads.append(str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(threads.Path, "read_text", counted)
    assert threads.openmp_loaded() and threads.openmp_loaded()
    assert reads == ["/proc/self/maps"]


def test_omp_num_threads_sets_auto_and_the_config_wins(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 3)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.thread_count(0) == threads.ThreadCount(3, "available CPUs")
    for raw, n in (("1", 1), (" 4,2 ", 4), ("", 3), ("  ", 3)):
        monkeypatch.setenv("OMP_NUM_THREADS", raw)
        assert threads.resolve_threads(0) == n
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.thread_count(0) == threads.ThreadCount(1, "OMP_NUM_THREADS")
    assert threads.thread_count(2) == threads.ThreadCount(2, "train.threads")  # the config names a count
    for bad in ("abc", "0", "-2", "2.5", "99999"):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        with pytest.raises(ConfigError, match="OMP_NUM_THREADS"):
            threads.thread_count(0)


def test_world_params_and_buckets_import_without_data_libraries():
    """Configs read WorldParams and BucketSpec without loading Polars or numpy (start-up)."""
    code = ("import sys, gbltr.data.world, gbltr.buckets; "
            "print(sorted(m for m in ('polars', 'numpy') if m in sys.modules))")
    assert _env_after(code, {}) == "[]"
