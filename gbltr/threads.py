"""Thread settings: one ``train.threads`` for LightGBM, XGBoost and the numba kernels.

* :func:`available_cpus` is the number of CPUs this process may actually use: its CPU affinity
  (``os.sched_getaffinity``, which container runtimes and ``taskset`` narrow) capped by the
  cgroup CPU quota (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``),
  rounded up. ``os.cpu_count()`` counts every core of the host, which oversubscribes a
  container or a ``taskset``-narrowed job.
* :func:`thread_count` turns a requested count into the one used, as a :class:`ThreadCount`
  that says where it came from: ``1 .. MAX_THREADS`` as given (``train.threads``); ``0`` = auto
  = ``OMP_NUM_THREADS`` when the user set it, else :func:`available_cpus`; anything else is a
  :class:`~gbltr.errors.ConfigError` (LightGBM segfaults on ``num_threads=100000``). The count
  never depends on the load: a model must not depend on the machine's state (and
  ``tests/train/test_thread_determinism.py`` checks that 1 and 2 threads train the same trees).
* :func:`prepare_openmp` chooses how a waiting OpenMP thread waits, unless the user set
  ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` or ``KMP_BLOCKTIME`` (then gbltr sets none of them).
  LightGBM, XGBoost and numba's ``omp`` threading layer all load GNU OpenMP (libgomp; XGBoost its
  own bundled copy), which reads these variables once, when it loads; so gbltr sets them before
  any of the three loads: when the CLI starts (``decide=False``: opens the window below), when a
  training backend is first loaded (:func:`gbltr.train.backends.get_backend`) and when the
  objective kernels are imported (:mod:`gbltr.train.objectives`). ``import gbltr`` itself
  changes nothing. A program that imports LightGBM or XGBoost before gbltr keeps whatever its
  environment held then (:attr:`OpenMPWait.runtime_loaded` says so).

  The choice, measured with ``benchmarks/bench_threads.py`` on 2 cores
  (``benchmarks/results/perf-threads-2cores-2026-12-07.md``): a boosting round has many short
  parallel regions. Spinning a while at each barrier before sleeping (libgomp's default, 300000
  spins) is fastest on an idle machine, but beside one CPU-bound process the spinning threads
  take the time the descheduled thread needs to reach the barrier: training took 2.7-3.6x its
  idle time. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) held that to 1.3-1.5x but cost
  1.2-1.4x on the idle machine (a wake-up per region). No spin count does both: up to 300 spins
  are as slow as passive when idle, 1000 and more as fast as the default when idle but 2.2x and
  more when busy. Neither do other thread counts: 1 thread, or 3-4 on 2 cores, was no faster
  beside a busy process than 2 that sleep. So gbltr looks: it measures the CPUs other processes
  use (``/proc/stat`` over the CPUs this process may run on, minus its own CPU time) from the
  CLI's start to the first backend load (at least :data:`PROBE_SECONDS`). Under
  :data:`SHARED_CPUS` it lets threads spin :data:`SPIN_IDLE` times before sleeping; otherwise,
  or when it cannot measure, they sleep at once (:data:`SPIN_SHARED`). Load that arrives after
  the choice meets the spinning wait (bounded to :data:`SPIN_IDLE`, 1/30 of libgomp's default).
* :func:`use_threads` applies a resolved count to numba (``numba.set_num_threads``, which is
  per calling thread and capped by numba's pool size); the backends pass the same count to
  LightGBM (``num_threads``) and XGBoost (``nthread``).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import ConfigError
from gbltr.ranges import count

__all__ = ["MAX_THREADS", "OpenMPWait", "available_cpus", "openmp_loaded", "prepare_openmp",
           "resolve_threads", "thread_count", "ThreadCount", "use_threads"]

#: Largest accepted ``train.threads``. More threads than this is a typo, not a machine.
MAX_THREADS = 1024
THREADS = count(0, MAX_THREADS, note="0 = auto: the CPUs this process may use")
"""``train.threads``: the declaration the config and :func:`resolve_threads` enforce."""

_log = logging.getLogger("gbltr")
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_quota(root: Path | None = None) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. 1.5), or None when unlimited/unknown.

    Reads cgroup v2 ``cpu.max`` ("max 100000" or "150000 100000") and v1 ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` (quota -1 = unlimited), at the path named in ``/proc/self/cgroup`` and at
    the mount root (inside a container the process's own cgroup is mounted at the root).
    """
    root = _CGROUP_ROOT if root is None else root
    rel_v2, rel_v1 = "", ""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hid, ctrls, path = line.split(":", 2)
            if hid == "0" and ctrls == "":
                rel_v2 = path.lstrip("/")
            elif "cpu" in ctrls.split(","):
                rel_v1 = path.lstrip("/")
    except (OSError, ValueError):
        pass
    quotas = []
    for base in {root / rel_v2, root}:
        try:
            fields = (base / "cpu.max").read_text().split()
        except OSError:
            continue
        if len(fields) == 2 and fields[0] != "max":
            quotas.append(int(fields[0]) / int(fields[1]))
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        for base in {v1 / rel_v1, v1}:
            try:
                quota = int((base / "cpu.cfs_quota_us").read_text())
                period = int((base / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                quotas.append(quota / period)
    return min(quotas) if quotas else None


def available_cpus() -> int:
    """CPUs this process may use: affinity, capped by the cgroup CPU quota (rounded up), >= 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


@dataclass(frozen=True)
class ThreadCount:
    """The thread count training uses, and where it came from.

    ``threads``: given to LightGBM (``num_threads``), XGBoost (``nthread``) and numba alike.
    ``source``: ``"train.threads"`` (the config asked for a count), ``"OMP_NUM_THREADS"`` (auto,
    and the environment names a count) or ``"available CPUs"`` (auto: :func:`available_cpus`).
    """

    threads: int
    source: str


def _omp_num_threads() -> int | None:
    """The first level of ``OMP_NUM_THREADS`` ("4" or "4,2"), None when unset or blank.

    Raises :class:`ConfigError` for anything else: OpenMP would print an error and ignore it,
    while gbltr would silently train on a count the user did not choose.
    """
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not raw:
        return None
    first = raw.split(",")[0].strip()
    if not first.isdigit() or int(first) < 1:
        raise ConfigError(f"OMP_NUM_THREADS={raw!r}; expected a positive integer (optionally "
                          "followed by ',N' for nested levels). Fix or unset it, or set train.threads")
    n = int(first)
    THREADS.check("OMP_NUM_THREADS", n)
    return n


def thread_count(requested: int) -> ThreadCount:
    """The thread count for ``train.threads = requested``: the user's choice wins.

    ``requested`` > 0 is used as given (a count above :func:`available_cpus` is honoured with a
    warning: it oversubscribes the CPUs). ``0`` = auto: ``OMP_NUM_THREADS`` when set, else
    :func:`available_cpus`. Raises :class:`ConfigError` for a negative count, one above
    :data:`MAX_THREADS`, or an ``OMP_NUM_THREADS`` that is not a count.
    """
    THREADS.check("train.threads", requested)
    if requested == 0:
        env = _omp_num_threads()
        if env is not None:
            return ThreadCount(env, "OMP_NUM_THREADS")
        return ThreadCount(available_cpus(), "available CPUs")
    avail = available_cpus()
    if requested > avail:
        _log.warning("train.threads=%d exceeds the %d CPUs this process may use; training "
                     "will be oversubscribed (slower, not wrong)", requested, avail)
    return ThreadCount(requested, "train.threads")


def resolve_threads(requested: int) -> int:
    """``thread_count(requested).threads``: the count to use for ``train.threads = requested``."""
    return thread_count(requested).threads


#: The OpenMP variables that decide how a waiting thread waits. If the user set any of them,
#: gbltr sets none: a user's ``OMP_WAIT_POLICY=ACTIVE`` must not be overridden by a spin count.
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

#: libgomp's busy-wait at a barrier before it sleeps, in spins (``GOMP_SPINCOUNT``), when the
#: machine was idle while gbltr started. libgomp's default with no policy set is 300000 (about 3 ms
#: by its own estimate of 100 spins per microsecond), ``OMP_WAIT_POLICY=PASSIVE`` is 0. Chosen on
#: ``benchmarks/bench_threads.py`` (see the module docstring).
SPIN_IDLE = 10_000

#: ``GOMP_SPINCOUNT`` when other processes were using the CPUs: sleep at once (= PASSIVE).
SPIN_SHARED = 0

#: LLVM/Intel OpenMP's wait before sleeping, in ms (``KMP_BLOCKTIME``; its default is 200). 0 keeps
#: what ``OMP_WAIT_POLICY=PASSIVE`` gave those runtimes: no wheel gbltr installs on Linux loads
#: one (LightGBM, XGBoost and numba all load libgomp), so a spin there is unmeasured.
KMP_BLOCKTIME_MS = 0

#: The machine counts as shared when other processes used at least this many CPUs (of those this
#: process may run on) on average while gbltr started.
SHARED_CPUS = 0.5

#: The shortest window the CPU use of other processes is measured over, seconds. The CLI opens the
#: window when it starts, so usually it is the time spent reading and preparing data; a program
#: that calls :func:`prepare_openmp` only when it trains waits this long once.
PROBE_SECONDS = 0.2


@dataclass(frozen=True)
class OpenMPWait:
    """How OpenMP threads wait, as :func:`prepare_openmp` left the environment.

    ``variables``: the :data:`WAIT_VARIABLES` that are set, as (name, value) pairs in
    :data:`WAIT_VARIABLES` order. ``chosen_by``: ``"user"`` when any was set before gbltr looked
    in this process (then gbltr set none; a process started by gbltr inherits its parent's
    choice this way), else ``"gbltr"``. ``other_cpus``: the CPUs other processes used while
    gbltr started (None: not measured yet, or ``/proc/stat`` is unreadable). ``shared``: gbltr's
    reading of it (``other_cpus >= SHARED_CPUS``, or True when unmeasured). ``decided``: the
    choice is made (before it, the environment holds the sleep-at-once setting).
    ``runtime_loaded``: an OpenMP runtime was already in this process when gbltr looked, so it read
    whatever the environment held then (a program that imports LightGBM or XGBoost before gbltr).
    """

    variables: tuple[tuple[str, str], ...]
    chosen_by: str
    other_cpus: float | None
    shared: bool | None
    decided: bool
    runtime_loaded: bool


_OPENMP_LIBS = ("libgomp", "libomp", "libiomp")


def openmp_loaded() -> bool:
    """Whether an OpenMP runtime (libgomp, libomp, libiomp) is mapped into this process (Linux:
    ``/proc/self/maps``; elsewhere False, i.e. unknown).

    A runtime once loaded stays loaded (LightGBM, XGBoost and numba never unload theirs), so a yes
    is kept: the maps of a process that holds numba's LLVM take about 3 ms to read, and every
    training and prediction call asks (15 % of ``--weight-fn auto`` on a small world).
    """
    if _Probe.openmp_seen:
        return True
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    _Probe.openmp_seen = any(f"/{lib}" in maps for lib in _OPENMP_LIBS)
    return _Probe.openmp_seen


@dataclass(frozen=True)
class _CpuSample:
    wall: float  # time.monotonic()
    busy: float  # CPU-seconds the CPUs this process may use were busy since boot (all processes)
    own: float  # CPU-seconds this process used (all its threads)


def _cpu_sample() -> _CpuSample | None:
    """Busy time of this process's CPUs (``/proc/stat``: user..steal minus idle and iowait)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        mine = os.sched_getaffinity(0)
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, ValueError):
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in mine):
            continue
        ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
        busy += sum(ticks) - ticks[3] - ticks[4]
    return _CpuSample(time.monotonic(), busy / hz, time.process_time())


def _other_cpus(a: _CpuSample, b: _CpuSample) -> float:
    """CPUs other processes used on average between two samples (this process's use taken out)."""
    return max(0.0, ((b.busy - a.busy) - (b.own - a.own)) / max(b.wall - a.wall, 1e-9))


class _Probe:
    """This process's measurement of other processes' CPU use, and the choice made from it."""

    user_wait: bool | None = None  # the user set a wait variable before gbltr looked
    start: _CpuSample | None = None
    chosen: tuple[float | None, bool] | None = None  # (other_cpus, shared)
    openmp_seen: bool = False  # an OpenMP runtime was found mapped (it stays: see openmp_loaded)


def _write(spin: int) -> None:
    os.environ.update({"GOMP_SPINCOUNT": str(spin), "KMP_BLOCKTIME": str(KMP_BLOCKTIME_MS)})


def prepare_openmp(*, decide: bool = True) -> OpenMPWait:
    """Choose how OpenMP threads wait, unless the user did; returns what was chosen. Idempotent.

    The first call opens a window on the CPU use of other processes and, unless the user set one
    of :data:`WAIT_VARIABLES`, sets the sleep-at-once wait (``GOMP_SPINCOUNT=0``,
    ``KMP_BLOCKTIME=0``). The first call with ``decide=True`` closes the window (waiting until it
    is :data:`PROBE_SECONDS` long); if other processes used less than :data:`SHARED_CPUS` CPUs in
    it, it sets ``GOMP_SPINCOUNT`` = :data:`SPIN_IDLE` instead (again only if the user set none).
    ``OMP_WAIT_POLICY`` is never set. The CLI calls it with ``decide=False`` when it starts, the
    backends with ``decide=True`` before LightGBM, XGBoost or the numba kernels load OpenMP (see
    the module docstring).
    """
    env = os.environ
    loaded = openmp_loaded()
    if _Probe.user_wait is None:
        _Probe.user_wait = any(k in env for k in WAIT_VARIABLES)
        _Probe.start = _cpu_sample()
        if not _Probe.user_wait:
            _write(SPIN_SHARED)
    if _Probe.chosen is None and decide:
        start = _Probe.start
        if start is not None:
            time.sleep(max(0.0, PROBE_SECONDS - (time.monotonic() - start.wall)))
        end = _cpu_sample()
        other = None if start is None or end is None else round(_other_cpus(start, end), 3)
        _Probe.chosen = (other, other is None or other >= SHARED_CPUS)
        if not _Probe.user_wait:
            _write(SPIN_SHARED if _Probe.chosen[1] else SPIN_IDLE)
            if loaded:
                _log.debug("an OpenMP runtime was loaded before gbltr chose its wait; it keeps the "
                           "one it read then")
    other, shared = _Probe.chosen if _Probe.chosen is not None else (None, None)
    return OpenMPWait(tuple((k, env[k]) for k in WAIT_VARIABLES if k in env),
                      "user" if _Probe.user_wait else "gbltr", other, shared, _Probe.chosen is not None, loaded)


def use_threads(requested: int) -> int:
    """Resolve ``requested`` and apply it to numba in the calling thread; return the count.

    The backends pass the returned count to LightGBM / XGBoost, so one setting governs all
    three. numba's pool is fixed at its first parallel launch (``NUMBA_NUM_THREADS``, default
    the host's cores), so numba gets ``min(n, pool size)``.
    """
    n = resolve_threads(requested)
    prepare_openmp()
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return n
