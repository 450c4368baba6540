"""Query groups: the one place that builds and checks ``group_ptr``.

Rows of a ranking dataset are sorted by query (:mod:`gbltr.train.dataset` is the only place that
sorts them); ``group_ptr`` int64 (n_queries + 1,) holds the query boundaries: query q's rows are
``group_ptr[q]:group_ptr[q + 1]``, ``group_ptr[0] == 0`` and ``group_ptr[-1] == n_rows``. Every
module that needs boundaries (ranking datasets, objectives, backends' adapters, Dask partitions,
metrics) builds them with :func:`group_ptr_from_sizes` or :func:`group_ptr_from_ids` and checks
foreign ones with :func:`check_group_ptr`.
"""

from __future__ import annotations

import numpy as np

from gbltr.errors import SchemaError

__all__ = ["check_group_ptr", "group_ptr_from_ids", "group_ptr_from_sizes"]


def group_ptr_from_sizes(sizes) -> np.ndarray:
    """Boundaries from group sizes: ``[0, s0, s0 + s1, ...]`` as int64."""
    sizes = np.asarray(sizes, dtype=np.int64)
    out = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def group_ptr_from_ids(ids) -> np.ndarray:
    """Boundaries of the runs of equal ids in ``ids`` (rows already sorted by query)."""
    ids = np.asarray(ids)
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1 if ids.size else np.zeros(0, np.int64)
    return np.concatenate([[0], change, [ids.size]]).astype(np.int64)


def check_group_ptr(group_ptr, n_rows: int) -> np.ndarray:
    """Return ``group_ptr`` as contiguous int64, or raise :class:`SchemaError`.

    Expected: 1-D, length ``n_queries + 1``, starts at 0, non-decreasing, ends at ``n_rows``.
    """
    gp = np.asarray(group_ptr)
    if gp.ndim != 1 or gp.shape[0] < 1:
        raise SchemaError(
            f"group_ptr must be a 1-D array of length n_queries + 1; found shape {gp.shape}. "
            "Build it with gbltr.groups.group_ptr_from_sizes(group_sizes)."
        )
    if gp.dtype.kind not in "iu":
        raise SchemaError(f"group_ptr must hold integers; found dtype {gp.dtype}.")
    gp = np.ascontiguousarray(gp, dtype=np.int64)
    if gp[0] != 0 or gp[-1] != n_rows:
        raise SchemaError(
            f"group_ptr must cover the rows: expected group_ptr[0] == 0 and group_ptr[-1] == "
            f"{n_rows} (the number of rows); found {int(gp[0])} and {int(gp[-1])}. "
            "Check that scores/labels and groups come from the same ranking dataset."
        )
    if gp.shape[0] > 1 and np.any(np.diff(gp) < 0):
        bad = int(np.flatnonzero(np.diff(gp) < 0)[0])
        raise SchemaError(
            f"group_ptr must be non-decreasing; found group_ptr[{bad}] = {int(gp[bad])} > "
            f"group_ptr[{bad + 1}] = {int(gp[bad + 1])}."
        )
    return gp
