"""Label distributions per frequency bucket: grade histograms and pairwise agreement.

Sources: ``human`` (the dataset's human label set: validation and test queries), ``click`` (the
click model's grades of every query's candidates, as training would get them with the run's
``[click]`` settings: :func:`gbltr.labels.clicks.click_labels` over the whole log, unshown
candidates included under ``unshown = "zero"``), and ``llm`` (the dataset's ``llm`` label set or
``llm_labels``). Grades are rounded to integers.

Agreement for each pair of sources is computed on the (query, document) pairs both labelled, per
view, by :func:`gbltr.labels.llm.agreement.agreement` (Cohen's kappa after mapping the second
scale onto the first, binarised kappa, confusion matrix): there is one agreement routine in
gbltr. A view with fewer than :data:`MIN_PAIRS` shared pairs gets no kappa and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gbltr.buckets import OVERALL
from gbltr.data.store import SearchDataset
from gbltr.evaluate.views import long_views, view_order
from gbltr.labels.clicks import click_labels
from gbltr.labels.llm.agreement import Agreement, agreement
from gbltr.labels.llm.labelset import load_llm_labels

SOURCES = ("human", "click", "llm")
PAIRS = (("human", "click"), ("human", "llm"), ("click", "llm"))
MIN_PAIRS = 10
"""Fewest shared (query, document) pairs a view needs for a kappa."""


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of source ``b`` with source ``a`` in one view; ``result`` is None when the view
    has fewer than :data:`MIN_PAIRS` shared pairs (``status`` says so)."""

    a: str
    b: str
    view: str
    n_pairs: int
    status: str
    result: Agreement | None = None

    @property
    def kappa(self) -> float | None:
        return None if self.result is None else self.result.kappa

    def to_dict(self) -> dict:
        r = self.result
        return {"a": self.a, "b": self.b, "view": self.view, "n_pairs": self.n_pairs, "status": self.status,
                "kappa": self.kappa, "kappa_binary": None if r is None else r.kappa_binary,
                "confusion": None if r is None else {"rows": f"{self.a} labels", "columns": f"{self.b} labels",
                                                     "a_labels": r.confusion["human_labels"],
                                                     "b_labels": r.confusion["llm_labels"],
                                                     "counts": r.confusion["counts"]}}


KAPPA_SCHEMA = {"pair": pl.String, "view": pl.String, "n_pairs": pl.Int64, "kappa": pl.Float64, "status": pl.String}
"""Columns of :meth:`LabelDistributions.kappa_table`, also when there is no pair of sources (one label
source only, e.g. a LETOR dataset with human labels): an empty table keeps them."""


@dataclass(frozen=True)
class LabelDistributions:
    """``histograms``: source, view, grade (Int64), count, share. ``agreement``: one
    :class:`PairAgreement` per (pair of sources, view)."""

    histograms: pl.DataFrame
    agreement: tuple[PairAgreement, ...]

    def kappa_table(self) -> pl.DataFrame:
        """pair ("human~click"), view, n_pairs, kappa (null with a status when too few pairs), status."""
        return pl.DataFrame([{"pair": f"{p.a}~{p.b}", "view": p.view, "n_pairs": p.n_pairs, "kappa": p.kappa,
                              "status": p.status} for p in self.agreement], schema=KAPPA_SCHEMA)


def label_sets(ds: SearchDataset, cfg) -> dict[str, pl.DataFrame]:
    """The label sets compared: source -> query_id, doc_id, label (non-null)."""
    out = {}
    if "human" in ds.labels:
        out["human"] = ds.labels["human"]
    if ds.impressions is not None and ds.impressions.height:
        out["click"] = click_labels(ds.impressions, ds.candidates, ds.queries["query_id"], cfg.click).frame
    llm = load_llm_labels(cfg.llm_labels) if cfg.llm_labels else ds.labels.get("llm")
    if llm is not None:
        out["llm"] = llm
    return {s: f.select("query_id", "doc_id", "label").filter(pl.col("label").is_not_null()) for s, f in out.items()}


def label_distributions(ds: SearchDataset, stats: pl.DataFrame, cfg, *, min_pairs: int = MIN_PAIRS) -> LabelDistributions:
    """Histograms per source and view, and agreement per pair of sources and view.

    ``stats``: query_id, bucket (:func:`gbltr.data.frequency.query_stats`); ``cfg``: the
    :class:`gbltr.config.FitConfig` (click settings, ``llm_labels``).
    """
    sets = label_sets(ds, cfg)
    bucket = stats.select("query_id", "bucket")
    hist = []
    for source, frame in sets.items():
        graded = long_views(frame.join(bucket, on="query_id", how="left")
                            .with_columns(pl.col("label").round().cast(pl.Int64).alias("grade")))
        h = graded.group_by("view", "grade").len("count").with_columns(
            (pl.col("count") / pl.col("count").sum().over("view")).alias("share"), source=pl.lit(source))
        hist.append(h.select("source", "view", "grade", "count", "share"))
    histograms = pl.concat(hist) if hist else pl.DataFrame(schema={"source": pl.String, "view": pl.String,
                                                                   "grade": pl.Int64, "count": pl.UInt32,
                                                                   "share": pl.Float64})
    views = view_order(histograms["view"].unique().to_list()) if histograms.height else [OVERALL]
    histograms = histograms.sort(pl.col("source").replace_strict({s: i for i, s in enumerate(SOURCES)}, default=99),
                                 pl.col("view").replace_strict({v: i for i, v in enumerate(views)}), "grade")
    agree = []
    for a, b in PAIRS:
        if a not in sets or b not in sets:
            continue
        a_max, b_max = int(sets[a]["label"].max()), int(sets[b]["label"].max())
        shared = (sets[a].join(sets[b].select("query_id", "doc_id", pl.col("label").alias("_b")), on=["query_id", "doc_id"])
                  .join(bucket, on="query_id", how="left"))
        long = long_views(shared)
        for view in views:
            part = long.filter(pl.col("view") == view)
            if part.height < min_pairs:
                agree.append(PairAgreement(a, b, view, part.height, f"too few shared pairs (n={part.height} < {min_pairs})"))
                continue
            res = agreement(part.select("query_id", "doc_id", pl.col("_b").alias("label")),
                            part.select("query_id", "doc_id", "label"), llm_max=max(b_max, 1), human_max=max(a_max, 1))
            agree.append(PairAgreement(a, b, view, res.n_pairs, "ok", res))
    return LabelDistributions(histograms, tuple(agree))
