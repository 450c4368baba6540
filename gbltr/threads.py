"""Thread settings: one ``train.threads`` for LightGBM, XGBoost and the numba kernels.

* :func:`available_cpus` is the number of CPUs this process may actually use: its CPU affinity
  (``os.sched_getaffinity``, which container runtimes and ``taskset`` narrow) capped by the
  cgroup CPU quota (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``),
  rounded up. ``os.cpu_count()`` counts every core of the host, which oversubscribes a
  container or a ``taskset``-narrowed job.
* :func:`resolve_threads` turns a requested count into the one used: ``0`` = auto =
  :func:`available_cpus`; ``1 .. MAX_THREADS`` as given; anything else is a
  :class:`~gbltr.errors.ConfigError` (LightGBM segfaults on ``num_threads=100000``).
* :func:`prepare_openmp` sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set one. OpenMP
  reads the variable once, when its runtime (libgomp) is first loaded, i.e. when LightGBM,
  XGBoost or a numba ``parallel=True`` kernel with the ``omp`` threading layer starts; so it must
  run before any of them. gbltr calls it when the CLI starts, when a training backend is first
  loaded (:func:`gbltr.train.backends.get_backend`) and when the objective kernels are imported
  (:mod:`gbltr.train.objectives`). ``import gbltr`` itself changes nothing. A program that
  imports LightGBM/XGBoost itself before gbltr should set ``OMP_WAIT_POLICY`` itself.

  Why passive: with the default (active) policy, idle OpenMP threads spin at a barrier for a
  while before sleeping. With every core given to training and one other CPU-bound process on
  the machine, the spinning threads steal the time the descheduled thread needs to reach the
  barrier; training on 2 cores beside one busy process was up to 30x slower than on an idle
  machine (``benchmarks/bench_threads.py`` measures it).
* :func:`use_threads` applies a resolved count to numba (``numba.set_num_threads``, which is
  per calling thread and capped by numba's pool size); the backends pass the same count to
  LightGBM (``num_threads``) and XGBoost (``nthread``).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from gbltr.errors import ConfigError
from gbltr.ranges import count

__all__ = ["MAX_THREADS", "GOMP_SPIN", "OpenMPWait", "available_cpus", "openmp_loaded", "prepare_openmp",
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

#: libgomp's busy-wait at a barrier before it sleeps, in spins (``GOMP_SPINCOUNT``; about 100 spins
#: per microsecond by libgomp's own estimate, so about 0.1 ms). libgomp's default with no policy set
#: is 300000 (about 3 ms), ``OMP_WAIT_POLICY=PASSIVE`` is 0. Chosen on
#: ``benchmarks/bench_threads.py`` (see the module docstring).
GOMP_SPIN = 10_000

#: LLVM/Intel OpenMP's wait before sleeping, in ms (``KMP_BLOCKTIME``; its default is 200). 0 keeps
#: what ``OMP_WAIT_POLICY=PASSIVE`` gave those runtimes: no wheel gbltr installs on Linux loads
#: one (LightGBM, XGBoost and numba all load libgomp), so a bounded spin there is unmeasured.
KMP_BLOCKTIME_MS = 0


@dataclass(frozen=True)
class OpenMPWait:
    """How OpenMP threads wait, as :func:`prepare_openmp` left the environment.

    ``variables``: the :data:`WAIT_VARIABLES` that are set, as (name, value) pairs in
    :data:`WAIT_VARIABLES` order; ``chosen_by``: ``"user"`` when any was set before gbltr looked
    (then gbltr set none), else ``"gbltr"``; ``runtime_loaded``: an OpenMP runtime was already in
    this process when gbltr looked, so the runtime read whatever the environment held then, not
    ``variables`` (a program that imports LightGBM or XGBoost before gbltr).
    """

    variables: tuple[tuple[str, str], ...]
    chosen_by: str
    runtime_loaded: bool


_OPENMP_LIBS = ("libgomp", "libomp", "libiomp")


def openmp_loaded() -> bool:
    """Whether an OpenMP runtime (libgomp, libomp, libiomp) is mapped into this process (Linux:
    ``/proc/self/maps``; elsewhere False, i.e. unknown)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    return any(f"/{lib}" in maps for lib in _OPENMP_LIBS)


def prepare_openmp() -> OpenMPWait:
    """Set gbltr's OpenMP wait (a bounded spin, then sleep) unless the user chose one. Idempotent.

    With none of :data:`WAIT_VARIABLES` set, sets ``GOMP_SPINCOUNT`` = :data:`GOMP_SPIN` and
    ``KMP_BLOCKTIME`` = :data:`KMP_BLOCKTIME_MS`; ``OMP_WAIT_POLICY`` stays unset. Takes effect
    only if no OpenMP runtime is loaded yet (see the module docstring); the returned record says.
    """
    env = os.environ
    chosen_by = "user" if any(k in env for k in WAIT_VARIABLES) else "gbltr"
    loaded = openmp_loaded()
    if chosen_by == "gbltr":
        env["GOMP_SPINCOUNT"] = str(GOMP_SPIN)
        env["KMP_BLOCKTIME"] = str(KMP_BLOCKTIME_MS)
        if loaded:
            _log.debug("an OpenMP runtime was loaded before gbltr set GOMP_SPINCOUNT=%d; it keeps "
                       "the wait it read then", GOMP_SPIN)
    elif env.get("GOMP_SPINCOUNT") == str(GOMP_SPIN) and env.get("KMP_BLOCKTIME") == str(KMP_BLOCKTIME_MS) \
            and "OMP_WAIT_POLICY" not in env:
        chosen_by = "gbltr"  # set by an earlier call (or a parent gbltr process): the same choice
    return OpenMPWait(tuple((k, env[k]) for k in WAIT_VARIABLES if k in env), chosen_by, loaded)


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
