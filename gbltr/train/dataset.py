"""The ranking dataset: the only place that sorts rows, computes groups and sets weights.

Rows are sorted by ``query_id`` and then by the first-stage ``rank`` (ties in model scores are
then broken in first-stage order everywhere). ``group_ptr[q]:group_ptr[q+1]`` are query q's rows.
Labels are kept per source (``click``, ``llm``, ``human``) as float arrays with NaN for a
missing label; :meth:`RankingDataset.grades` turns one into the int32 grades the objectives
take, with -1 for missing (that row takes no part in that source's pairs).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from gbltr.buckets import LOWEST
from gbltr.errors import DataError, SchemaError
from gbltr.groups import group_ptr_from_ids, group_ptr_from_sizes
from gbltr.schema import check_finite

MAX_GRADE = 30
"""Largest relevance grade: LightGBM's default gain table covers 0..30 and XGBoost's exponential
gain needs grades below 31; with gain 2^g - 1 a larger grade would swamp every other query."""
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_label_values(frame: pl.DataFrame, source: str, where: str = "") -> None:
    """Raise unless every non-null label of ``frame`` is finite and at most :data:`MAX_GRADE`."""
    lab = frame["label"].cast(pl.Float64)
    bad = frame.filter(~lab.is_finite().fill_null(True) | (lab > MAX_GRADE).fill_null(False))
    if bad.height:
        r = bad.row(0, named=True)
        raise SchemaError(
            f"{source} labels{' for ' + where if where else ''}: {bad.height} label(s) that are not finite "
            f"or above {MAX_GRADE}, e.g. {r['label']!r} for ({r['query_id']!r}, {r['doc_id']!r}); expected "
            f"graded relevance <= {MAX_GRADE} (rescale the labels, e.g. to 0-4)"
        )


def check_float32(X: np.ndarray, names, where: str = "") -> None:
    """Raise if a float64 feature overflowed to inf in the float32 matrix the backends take."""
    missing = np.isnan(X)
    if missing.any():
        cols = {names[j]: int(n) for j, n in enumerate(missing.sum(axis=0)) if n}
        raise SchemaError(
            f"feature values{' in ' + where if where else ''}: expected a number in every cell, found missing "
            f"values (null or NaN) in {cols} (column: rows); fill them or drop those rows"
        )
    bad = ~np.isfinite(X)
    if bad.any():
        cols = {names[j]: int(n) for j, n in enumerate(bad.sum(axis=0)) if n}
        raise SchemaError(
            f"feature values{' in ' + where if where else ''}: expected magnitudes <= {FLOAT32_MAX:.3g} "
            f"(float32, what LightGBM and XGBoost train on), found values that overflow in {cols} "
            "(column: rows); rescale or log-transform those features"
        )


@dataclass(frozen=True)
class RankingDataset:
    """Feature matrix, labels per source and query groups, rows sorted by (query, first-stage rank).

    Shapes: ``X`` [n_rows, n_features] float32; ``doc_ids`` [n_rows]; ``query_ids`` [n_queries];
    ``group_ptr`` [n_queries + 1] int64; ``labels[source]`` [n_rows] float64 (NaN = missing);
    ``frequency`` [n_queries] int64 and ``bucket`` [n_queries] str, from the query statistics.
    """

    X: np.ndarray
    feature_names: tuple[str, ...]
    query_ids: np.ndarray
    doc_ids: np.ndarray
    group_ptr: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    frequency: np.ndarray | None = None
    bucket: np.ndarray | None = None
    notes: dict = field(default_factory=dict)
    row_info: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_queries(self) -> int:
        return int(self.group_ptr.size - 1)

    @property
    def group_sizes(self) -> np.ndarray:
        return np.diff(self.group_ptr)

    def frequency_or_zero(self) -> np.ndarray:
        """Each query's frequency, [n_queries] (zeros when the dataset carries none)."""
        return self.frequency if self.frequency is not None else np.zeros(self.n_queries, dtype=np.int64)

    def row_query(self) -> np.ndarray:
        """Query index of every row, [n_rows]."""
        return np.repeat(np.arange(self.n_queries), self.group_sizes)

    @classmethod
    def build(
        cls,
        features: pl.DataFrame,
        feature_names: list[str] | tuple[str, ...],
        candidates: pl.DataFrame,
        query_ids: pl.Series,
        labels: dict[str, pl.DataFrame] | None = None,
        stats: pl.DataFrame | None = None,
        *,
        require_labels: str | None = None,
        where: str = "",
        row_columns: pl.DataFrame | None = None,
        order_by: str | None = None,
    ) -> "RankingDataset":
        """Assemble the rows of ``query_ids``.

        ``features``: query_id, doc_id and one column per name in ``feature_names``.
        ``candidates``: query_id, doc_id, rank (the row order within a query).
        ``labels``: source -> frame(query_id, doc_id, label); a label row whose pair has no
        features is an error, a feature row with no label gets NaN for that source.
        ``stats``: query_id, frequency, bucket. ``require_labels``: keep only the rows that have
        a label from this source (unjudged documents leave evaluation; counted in ``notes``).
        ``row_columns``: query_id, doc_id and extra per-row numbers (e.g. click ``position`` and
        ``ips_weight``), kept in ``row_info`` [n_rows] float64 (NaN where a row has none).
        ``order_by``: one of those columns to sort by within a query before the first-stage rank
        (e.g. the displayed position for unbiased lambdarank; rows without one go last).

        ``notes`` counts what was left out: ``queries_requested``, ``queries_without_rows`` (no
        candidate with features, or with ``require_labels`` no labelled one) with up to five
        ``queries_without_rows_examples``, ``unjudged_rows_removed``, ``single_document_queries``.
        Labels must be finite and <= :data:`MAX_GRADE`; features must fit float32.
        """
        ids = pl.DataFrame({"query_id": query_ids.unique()})
        rows = (
            features.join(ids, on="query_id", how="semi")
            .join(candidates.select("query_id", "doc_id", "rank"), on=["query_id", "doc_id"], how="left")
        )
        if rows["rank"].null_count():
            rows = rows.with_columns(pl.col("rank").fill_null(np.iinfo(np.int32).max))
        notes: dict = {}
        label_cols = {}
        for source, frame in (labels or {}).items():
            lab = frame.join(ids, on="query_id", how="semi").select("query_id", "doc_id", "label")
            check_label_values(lab, source, where)
            orphan = lab.join(rows.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="anti")
            if orphan.height:
                raise SchemaError(
                    f"{source} labels{' for ' + where if where else ''}: {orphan.height} (query_id, doc_id) "
                    f"pair(s) have no features, e.g. {orphan.row(0)[:2]}; expected every labelled pair "
                    "among the candidates (add it to candidates.parquet or drop the label)"
                )
            col = f"__label_{source}"
            rows = rows.join(lab.rename({"label": col}), on=["query_id", "doc_id"], how="left")
            label_cols[source] = col
        extra = []
        if row_columns is not None:
            extra = [c for c in row_columns.columns if c not in ("query_id", "doc_id")]
            rows = rows.join(row_columns.rename({c: f"__row_{c}" for c in extra}), on=["query_id", "doc_id"], how="left")
        if order_by is not None and order_by not in extra:
            raise DataError(f"order_by={order_by!r}: expected one of the row columns {extra}")
        if require_labels is not None:
            col = label_cols[require_labels]
            before = rows.height
            rows = rows.filter(pl.col(col).is_not_null() & pl.col(col).is_not_nan())
            notes["unjudged_rows_removed"] = before - rows.height
        kept = rows.select("query_id").unique()
        lost = ids.join(kept, on="query_id", how="anti").sort("query_id")
        notes["queries_requested"] = ids.height
        notes["queries_without_rows"] = lost.height
        notes["queries_without_rows_examples"] = lost["query_id"].head(5).to_list()
        if rows.height == 0:
            raise DataError(
                f"no rows for {where or 'this dataset'}: {ids.height} queries requested, none has "
                f"{'labelled ' if require_labels else ''}candidates with features"
            )
        # The one sort: by query, then first-stage rank, then doc id for full determinism.
        keys = ["query_id", "rank", "doc_id"]
        if order_by is not None:  # displayed order first (unshown rows last), then first-stage rank
            keys.insert(1, pl.col(f"__row_{order_by}").fill_null(np.inf).fill_nan(np.inf))
        rows = rows.sort(keys)
        check_finite(rows, list(feature_names), where=where)
        qcol = rows["query_id"].to_numpy()
        group_ptr = group_ptr_from_ids(qcol)
        qids = qcol[group_ptr[:-1]]
        freq = bucket = None
        if stats is not None:
            st = pl.DataFrame({"query_id": qids}).join(stats, on="query_id", how="left")
            freq = st["frequency"].fill_null(0).to_numpy().astype(np.int64)
            bucket = st["bucket"].fill_null(LOWEST).to_numpy().astype(str)
        sizes = np.diff(group_ptr)
        notes["single_document_queries"] = int((sizes == 1).sum())
        with np.errstate(over="ignore"):  # overflow is reported by check_float32
            X = rows.select(feature_names).to_numpy().astype(np.float32, copy=False)
        check_float32(X, list(feature_names), where)
        return cls(
            X=X,
            feature_names=tuple(feature_names),
            query_ids=qids,
            doc_ids=rows["doc_id"].to_numpy(),
            group_ptr=group_ptr,
            labels={s: rows[c].cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64) for s, c in label_cols.items()},
            frequency=freq,
            bucket=bucket,
            notes=notes,
            row_info={c: rows[f"__row_{c}"].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in extra},
        )

    def grades(self, source: str, *, max_grade: int | None = None) -> np.ndarray:
        """Integer grades of ``source`` ([n_rows] int32, -1 = missing) for ranking objectives."""
        if source not in self.labels:
            raise DataError(f"no {source!r} labels in this dataset; found {sorted(self.labels)}")
        y = self.labels[source]
        present = ~np.isnan(y)
        vals = y[present]
        if vals.size and (np.any(vals != np.round(vals)) or vals.min() < 0):
            bad = vals[(vals != np.round(vals)) | (vals < 0)][0]
            raise SchemaError(
                f"{source} labels: ranking objectives take integer grades >= 0; found {float(bad)!r}. "
                "Bin or round the labels first (e.g. LLM expected relevance)"
            )
        if max_grade is not None and vals.size and vals.max() > max_grade:
            raise SchemaError(
                f"{source} labels: found grade {int(vals.max())}, above the largest grade {max_grade} "
                "the gain table covers; extend the gain table or rescale the labels"
            )
        out = np.full(y.shape, -1, dtype=np.int32)
        out[present] = vals.astype(np.int32)
        return out

    def subset_queries(self, mask: np.ndarray) -> "RankingDataset":
        """The queries where ``mask`` ([n_queries] bool) is true, in the same order."""
        mask = np.asarray(mask, bool)
        rows = np.repeat(mask, self.group_sizes)
        sizes = self.group_sizes[mask]
        return replace(
            self,
            X=self.X[rows],
            doc_ids=self.doc_ids[rows],
            query_ids=self.query_ids[mask],
            group_ptr=group_ptr_from_sizes(sizes),
            labels={k: v[rows] for k, v in self.labels.items()},
            row_info={k: v[rows] for k, v in self.row_info.items()},
            frequency=None if self.frequency is None else self.frequency[mask],
            bucket=None if self.bucket is None else self.bucket[mask],
        )

    def labelled_by(self, source: str) -> "RankingDataset":
        """Rows with a ``source`` label only; queries left with no rows are dropped."""
        keep = ~np.isnan(self.labels[source])
        if keep.all():
            return self
        q = self.row_query()[keep]
        sizes = np.bincount(q, minlength=self.n_queries)
        mask = sizes > 0
        return replace(
            self,
            X=self.X[keep],
            doc_ids=self.doc_ids[keep],
            query_ids=self.query_ids[mask],
            group_ptr=group_ptr_from_sizes(sizes[mask]),
            labels={k: v[keep] for k, v in self.labels.items()},
            row_info={k: v[keep] for k, v in self.row_info.items()},
            frequency=None if self.frequency is None else self.frequency[mask],
            bucket=None if self.bucket is None else self.bucket[mask],
        )

    def without_features(self, names) -> "RankingDataset":
        drop = set(names)
        keep = [i for i, n in enumerate(self.feature_names) if n not in drop]
        return replace(self, X=self.X[:, keep], feature_names=tuple(self.feature_names[i] for i in keep))

    def stacked(self, first: str, second: str, w_first: np.ndarray, w_second: np.ndarray) -> "StackedDataset":
        """Every query twice: with ``first`` labels and weight ``w_first[q]``, then with ``second``.

        Rows missing a source's label leave that copy. Returns the stacked dataset (label source
        ``stacked``), a per-row weight and a per-group weight (the same numbers per query).
        """
        parts = []
        for source, w in ((first, w_first), (second, w_second)):
            labelled = np.bincount(self.row_query()[~np.isnan(self.labels[source])], minlength=self.n_queries) > 0
            parts.append((self.labelled_by(source), source, np.asarray(w, float)[labelled]))
        X = np.concatenate([p.X for p, _, _ in parts])
        sizes = np.concatenate([p.group_sizes for p, _, _ in parts])
        group_w = np.concatenate([w for _, _, w in parts])
        labels = np.concatenate([p.labels[s] for p, s, _ in parts])
        ds = RankingDataset(
            X=X,
            feature_names=self.feature_names,
            query_ids=np.concatenate([p.query_ids for p, _, _ in parts]),
            doc_ids=np.concatenate([p.doc_ids for p, _, _ in parts]),
            group_ptr=group_ptr_from_sizes(sizes),
            labels={"stacked": labels},
            frequency=None,
            bucket=None,
            notes={"stacked_from": [first, second]},
        )
        return StackedDataset(ds, np.repeat(group_w, sizes), group_w)


@dataclass(frozen=True)
class StackedDataset:
    """A stacked dataset with its per-row and per-group weights."""

    data: RankingDataset
    row_weight: np.ndarray
    group_weight: np.ndarray
