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
from pathlib import Path

from gbltr.ranges import count

__all__ = ["MAX_THREADS", "available_cpus", "resolve_threads", "prepare_openmp", "use_threads"]

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


def resolve_threads(requested: int) -> int:
    """The thread count to use for ``train.threads = requested`` (0 = auto).

    Raises :class:`ConfigError` for a negative count or one above :data:`MAX_THREADS`. A count
    above :func:`available_cpus` is honoured with a warning (it oversubscribes the CPUs).
    """
    THREADS.check("train.threads", requested)
    avail = available_cpus()
    if requested == 0:
        return avail
    if requested > avail:
        _log.warning("train.threads=%d exceeds the %d CPUs this process may use; training "
                     "will be oversubscribed (slower, not wrong)", requested, avail)
    return requested


def prepare_openmp() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy. Idempotent.

    Takes effect only if no OpenMP runtime is loaded yet (see the module docstring).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
