"""Per-query nDCG@k: the primitive every mean, bucket view and significance test is built on.

nDCG (Järvelin & Kekäläinen 2002, "Cumulated gain-based evaluation of IR techniques",
ACM TOIS 20(4)) with **the project's one convention**:

* **gain** ``2**rel - 1`` (``gain="exponential"``, the default, as LightGBM's ``lambdarank`` and
  XGBoost's ``rank:ndcg`` train with; Burges et al. 2005), or ``rel`` (``gain="linear"``, as
  trec_eval / ir-measures' default ``nDCG``);
* **discount** ``1 / log2(rank + 1)`` with 1-based ranks;
* **negative labels** (e.g. TREC's -2 for spam) count as 0; missing labels (NaN / null, an
  unjudged document) count as 0 too;
* **ideal DCG** from the query's own judged rows at the same cutoff: the query's gains sorted
  in decreasing order, truncated at ``k`` (so a query with fewer than ``k`` rows is scored on
  the rows it has);
* **ties** in scores are broken by row order within the query (a stable sort on decreasing
  score). Rows arrive sorted by query and then first-stage rank, so a tie keeps the
  first-stage order. trec_eval breaks ties by docno instead, so the two agree only on
  tie-free scores;
* **queries that cannot rank** get NaN, are excluded from every mean and test, and are counted by
  reason (:data:`EXCLUSIONS`, :func:`query_status`): ``no_relevant``, no row with a positive gain
  (ideal DCG = 0; trec_eval / ir-measures score these 0 and average them in), and
  ``single_grade``, every row of the query has the same positive gain (one judged document, or
  all judged alike), so every ordering scores 1.0 and the query would only pull means towards 1.
  Each view reports ``n_queries``, ``n_no_relevant`` and ``n_single_grade`` (see
  :mod:`gbltr.evaluate.views`); per-query frames carry the reason in an ``excluded`` column.
  Every consumer (reports, compare, experiment, ablation, the FAMOL weight search on validation)
  reads the exclusion from here. Early stopping uses the backends' own nDCG, which scores both
  kinds as a constant 1: a constant shifts the curve but not the round it peaks at.

Inputs are flat arrays over rows sorted by query, with ``group_ptr`` (int64, length
``n_queries + 1``; query ``q`` owns rows ``group_ptr[q]:group_ptr[q+1]``), the same group
boundaries the training dataset builds. The kernel is compiled with numba and runs one pass
over the groups; there is no Python loop per query.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from gbltr.errors import ConfigError, DataError, SchemaError, unknown_choice
from gbltr.groups import check_group_ptr, group_ptr_from_ids

DEFAULT_KS = (1, 3, 5, 10)

# gain name -> numba gain code; the registry that drives errors and CLI choices.
GAINS = {"exponential": 0, "linear": 1}

_kernel = None
_INSERTION_MAX = 32  # groups up to this size are sorted in place (no allocation)


def _compile():
    """Compile the numba kernel on first use (keeps ``import gbltr.evaluate.metrics`` cheap)."""
    global _kernel
    if _kernel is not None:
        return _kernel
    import numba

    @numba.njit(cache=True, nogil=True)
    def kernel(scores, labels, group_ptr, ks, gain_code, out):  # pragma: no cover - compiled
        n_q = group_ptr.shape[0] - 1
        n_k = ks.shape[0]
        kmax = 0
        for j in range(n_k):
            if ks[j] > kmax:
                kmax = ks[j]
        disc = np.empty(kmax)
        for r in range(kmax):
            disc[r] = 1.0 / np.log2(r + 2.0)
        n_max = 0
        for q in range(n_q):
            n_max = max(n_max, group_ptr[q + 1] - group_ptr[q])
        # scratch buffers, reused by every query: gains, order by score, ideal gains, cumulated
        g = np.empty(n_max)
        order = np.empty(n_max, dtype=np.int64)
        ideal = np.empty(n_max)
        dcg = np.empty(kmax)
        idcg = np.empty(kmax)
        for q in range(n_q):
            lo = group_ptr[q]
            n = group_ptr[q + 1] - lo
            for i in range(n):
                rel = labels[lo + i]
                if not (rel > 0.0):  # negative, zero and NaN labels
                    g[i] = 0.0
                elif gain_code == 0:
                    g[i] = 2.0**rel - 1.0
                else:
                    g[i] = rel
            if n <= _INSERTION_MAX:
                # stable insertion sorts: decreasing score (ties keep row order), decreasing gain
                for i in range(n):
                    s = scores[lo + i]
                    j = i
                    while j > 0 and scores[lo + order[j - 1]] < s:
                        order[j] = order[j - 1]
                        j -= 1
                    order[j] = i
                    v = g[i]
                    j = i
                    while j > 0 and ideal[j - 1] < v:
                        ideal[j] = ideal[j - 1]
                        j -= 1
                    ideal[j] = v
            else:
                order[:n] = np.argsort(-scores[lo : lo + n], kind="mergesort")
                ideal[:n] = np.sort(g[:n])[::-1]
            m = min(n, kmax)
            acc = 0.0
            iacc = 0.0
            for r in range(m):
                acc += g[order[r]] * disc[r]
                iacc += ideal[r] * disc[r]
                dcg[r] = acc
                idcg[r] = iacc
            for j in range(n_k):
                c = min(ks[j], n)
                if c <= 0 or idcg[c - 1] <= 0.0:
                    out[q, j] = np.nan
                else:
                    out[q, j] = dcg[c - 1] / idcg[c - 1]

    _kernel = kernel
    return kernel


EXCLUSIONS = {
    "no_relevant": "no relevant document (every gain 0)",
    "single_grade": "one grade only (every document has the same positive gain)",
}
"""Why a query has no nDCG (NaN): reason -> description; the codes of :func:`query_status` are 1, 2 in this order."""
SCORED, NO_RELEVANT, SINGLE_GRADE = 0, 1, 2


def _gains(labels: np.ndarray, gain: str = "exponential") -> np.ndarray:
    y = np.nan_to_num(np.asarray(labels, dtype=np.float64), nan=0.0)
    y = np.where(y > 0.0, y, 0.0)
    return np.exp2(y) - 1.0 if GAINS[gain] == 0 else y


def query_status(labels, group_ptr, gain: str = "exponential") -> np.ndarray:
    """Per query (int8 [n_queries]): :data:`SCORED` (0), :data:`NO_RELEVANT` (1: no positive gain, or no
    rows) or :data:`SINGLE_GRADE` (2: every row has the same positive gain). The one definition of
    which queries can rank; :func:`ndcg_per_query` gives NaN to the others."""
    if gain not in GAINS:
        raise unknown_choice("gain", gain, GAINS)
    g = _gains(labels, gain)
    ptr = check_group_ptr(group_ptr, g.size)
    n_q = ptr.size - 1
    status = np.full(n_q, NO_RELEVANT, dtype=np.int8)
    sizes = np.diff(ptr)
    full = np.flatnonzero(sizes > 0)
    if full.size:
        starts = ptr[:-1][full]
        hi = np.maximum.reduceat(g, starts)
        lo = np.minimum.reduceat(g, starts)
        status[full] = np.where(hi <= 0.0, NO_RELEVANT, np.where(hi == lo, SINGLE_GRADE, SCORED))
    return status


def excluded_column(status: np.ndarray) -> pl.Series:
    """The ``excluded`` column of a per-query frame: null for a scored query, else its reason (:data:`EXCLUSIONS`)."""
    names = np.array([None, *EXCLUSIONS], dtype=object)
    return pl.Series("excluded", names[np.asarray(status, dtype=np.int64)].tolist(), dtype=pl.String)


def _check_ks(ks: Sequence[int]) -> np.ndarray:
    arr = np.asarray(list(ks), dtype=np.int64)
    if arr.ndim != 1 or arr.size == 0 or (arr < 1).any():
        raise SchemaError(f"ks: expected one or more cutoffs >= 1, found {list(ks)!r}")
    return arr


def ndcg_per_query(
    scores,
    labels,
    group_ptr,
    ks: Sequence[int] = DEFAULT_KS,
    gain: str = "exponential",
) -> np.ndarray:
    """nDCG@k of every query (Järvelin & Kekäläinen 2002), under the module's convention.

    Parameters
    ----------
    scores : float array [n_rows]
        Model scores, higher ranks first; must be finite.
    labels : float array [n_rows]
        Graded relevance; negative and NaN count as 0.
    group_ptr : int64 array [n_queries + 1]
        Group boundaries over rows sorted by query: starts at 0, non-decreasing, ends at n_rows.
    ks : cutoffs, each >= 1.
    gain : ``"exponential"`` (``2**rel - 1``, default) or ``"linear"`` (``rel``).

    Returns
    -------
    float64 array [n_queries, len(ks)]; NaN for a query that cannot rank (:func:`query_status`: no
    relevant row, no rows, or a single grade).
    """
    if gain not in GAINS:
        raise unknown_choice("gain", gain, GAINS)
    s = np.ascontiguousarray(scores, dtype=np.float64)
    y = np.ascontiguousarray(labels, dtype=np.float64)
    k = _check_ks(ks)
    if s.ndim != 1 or y.shape != s.shape:
        raise SchemaError(
            f"scores and labels: expected two 1-d arrays of the same length, found shapes "
            f"{s.shape} and {y.shape}"
        )
    ptr = check_group_ptr(group_ptr, s.size)
    if not np.isfinite(s).all():
        raise DataError(
            f"scores: expected finite values, found {int((~np.isfinite(s)).sum())} NaN/inf; "
            "check the model's predictions"
        )
    # one compiled signature: read-only inputs (e.g. views of Polars buffers) would be another
    s, y, ptr = (a if a.flags.writeable else a.copy() for a in (s, y, ptr))
    out = np.empty((ptr.size - 1, k.size), dtype=np.float64)
    _compile()(s, y, ptr, k, GAINS[gain], out)
    out[query_status(y, ptr, gain) != SCORED] = np.nan
    return out


METRIC_BOUNDS = (0.0, 1.0)
"""What a query's nDCG@k can take, and so its mean: confidence intervals of means are clipped to it
(:func:`gbltr.evaluate.compare.mean_ci`). No report draws an interval of a difference."""


METRIC_FORM = "ndcg@K (K a cut-off >= 1, e.g. ndcg@10)"
"""How a metric column is named, for error messages; :func:`is_metric_column` is its test."""


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """Column names of the per-query frame: ``["ndcg@1", "ndcg@3", ...]``."""
    return [f"ndcg@{int(k)}" for k in ks]


def is_metric_column(name: str) -> bool:
    """True for a per-query metric column (``ndcg@K``, K >= 1); False for query_id, bucket, frequency, ..."""
    head, sep, k = str(name).partition("@")
    return head == "ndcg" and sep == "@" and k.isdigit() and k == str(int(k)) and int(k) >= 1


def metric_columns(columns) -> list[str]:
    """The metric columns among ``columns`` (a frame or a list of names), in order: the one list of what
    means, views, ``compare --metric`` and the reports treat as a metric."""
    names = columns.columns if isinstance(columns, pl.DataFrame) else list(columns)
    return [c for c in names if is_metric_column(c)]


def check_metric(metric: str, available, *, where: str = "", fix: str = "") -> str:
    """Return ``metric`` if it is a metric column among ``available``; else a :class:`ConfigError`
    listing the metric columns there (``where`` says whose columns, ``fix`` how to get others)."""
    choices = metric_columns(available)
    if metric not in choices:
        found = "" if is_metric_column(metric) else f" (not a metric column: expected {METRIC_FORM})"
        raise ConfigError(
            f"unknown metric {metric!r}{found}; choose one of: {', '.join(choices) or '(none)'}"
            + (f" ({where})" if where else "") + (f"; {fix}" if fix else "")
        )
    return metric


def group_ptr_of(query_ids: pl.Series) -> np.ndarray:
    """Group boundaries (int64 [n_queries + 1]) of a query-id column already sorted by query:
    :func:`gbltr.groups.group_ptr_from_ids` (no rows: no query, ``[0]``)."""
    if query_ids.len() == 0:
        return np.zeros(1, dtype=np.int64)
    return group_ptr_from_ids(query_ids.to_numpy())


def per_query_frame(
    frame: pl.DataFrame,
    *,
    order_by: str | None = "rank",
    ks: Sequence[int] = DEFAULT_KS,
    gain: str = "exponential",
) -> pl.DataFrame:
    """Per-query nDCG of a scored, labelled candidate frame.

    ``frame`` columns: query_id (String, or integers cast to String), doc_id, score (float),
    label (float; null = unjudged, counts as 0) and, when ``order_by`` is given, that column
    (e.g. the 1-based first-stage ``rank``), which fixes the order of rows within a query and so
    how score ties are broken. With ``order_by=None`` the input row order within each query is
    kept. The frame is sorted here; the input is not modified.

    Returns one row per query, sorted by query_id: query_id, ndcg@k for each k (Float64, NaN = the
    query cannot rank), excluded (String: null, or the reason of :data:`EXCLUSIONS`).
    """
    needed = ["query_id", "doc_id", "score", "label"] + ([order_by] if order_by else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"per-query evaluation frame: missing column(s) {missing}; expected {needed}, "
            f"found {frame.columns}" + ("" if order_by is None else "; pass order_by=None to keep row order")
        )
    df = frame.select(needed).with_columns(pl.col("query_id").cast(pl.String))
    if df["query_id"].null_count():
        raise SchemaError("per-query evaluation frame: column 'query_id' has null values; expected none")
    if df["score"].null_count():
        raise DataError(
            f"per-query evaluation frame: column 'score' has {df['score'].null_count()} null value(s); "
            "expected a score for every row"
        )
    sort_cols = ["query_id"] + ([order_by] if order_by else [])
    df = df.sort(sort_cols, maintain_order=True)
    ptr = group_ptr_of(df["query_id"])
    labels = df["label"].cast(pl.Float64).fill_null(0.0).to_numpy()
    values = ndcg_per_query(df["score"].cast(pl.Float64).to_numpy(), labels, ptr, ks=ks, gain=gain)
    names = metric_names(ks)
    return pl.DataFrame(
        {"query_id": df["query_id"].gather(ptr[:-1]), **{n: values[:, j] for j, n in enumerate(names)}},
        schema={"query_id": pl.String, **{n: pl.Float64 for n in names}},
    ).with_columns(excluded_column(query_status(labels, ptr, gain)))
