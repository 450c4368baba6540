"""Agreement between LLM labels and human qrels: confusion matrix, Cohen's kappa, histogram.

Cohen's kappa (Cohen 1960) is computed on the pairs both sides labelled. When the scales differ
(e.g. LLM 0-4 vs. human 0-2) the LLM label is first mapped onto the human scale by
``round(label * human_max / llm_max)`` (both scales start at 0); the confusion matrix keeps the
raw labels (rows: human, columns: LLM). Binarised kappa uses "relevant iff label >= max / 2" on
each side (human 0/1/2: >= 1; LLM 0-4: >= 2; ListSel 0/1: = 1), the convention of
Thomas et al. 2024 for TREC-style graded labels.

Files written by :func:`write_agreement`: ``agreement.json`` (numbers), ``confusion.csv`` and
``label_hist.png`` (LLM vs. human label distributions, drawn by
:func:`gbltr.plots.plot_annotator_agreement`; plots and matplotlib are imported only when it is
written, so agreement code stays below the report layer).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.data.qrels import read_qrels as _read
from gbltr.errors import DataError


def read_qrels(path: str | Path) -> pl.DataFrame:
    """Human TREC qrels -> query_id, doc_id, label (via :func:`gbltr.data.qrels.read_qrels`)."""
    return _read(Path(path), source="human")


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Unweighted Cohen's kappa of two label vectors (None when undefined: no pairs, or p_e = 1)."""
    if len(a) == 0:
        return None
    cats = np.union1d(a, b)
    ia, ib = np.searchsorted(cats, a), np.searchsorted(cats, b)
    m = np.zeros((len(cats), len(cats)))
    np.add.at(m, (ia, ib), 1)
    m /= m.sum()
    po = np.trace(m)
    pe = float(m.sum(1) @ m.sum(0))
    if pe >= 1.0:
        return None
    return round(float((po - pe) / (1 - pe)), 12)  # drop float noise such as 1e-16


@dataclass
class Agreement:
    n_pairs: int
    n_llm_missing: int
    kappa: float | None
    kappa_binary: float | None
    accuracy_binary: float | None
    llm_max: int
    human_max: int
    confusion: dict  # {"human_labels": [...], "llm_labels": [...], "counts": [[...]]}
    llm_hist: dict
    human_hist: dict


def agreement(llm: pl.DataFrame, human: pl.DataFrame, *, llm_max: int | None = None, human_max: int | None = None) -> Agreement:
    """Compare ``llm`` (query_id, doc_id, label) with ``human`` (same columns) on shared pairs."""
    joined = llm.select("query_id", "doc_id", pl.col("label").alias("llm")).join(
        human.select("query_id", "doc_id", pl.col("label").alias("human")), on=["query_id", "doc_id"], how="inner"
    )
    if joined.height == 0:
        raise DataError("agreement: no (query_id, doc_id) pair is in both the LLM labels and the qrels; expected overlapping ids (same id scheme?)")
    n_missing = joined["llm"].null_count()
    j = joined.filter(pl.col("llm").is_not_null() & pl.col("human").is_not_null())
    h = j["human"].to_numpy().round().astype(int)
    l = j["llm"].to_numpy().round().astype(int)
    human_max = human_max if human_max is not None else int(human["label"].max())
    llm_max = llm_max if llm_max is not None else max(int(l.max()) if len(l) else 1, 1)
    l_on_h = np.round(l * human_max / llm_max).astype(int) if llm_max != human_max else l
    hb, lb = h >= human_max / 2, l >= llm_max / 2
    hcats = sorted(set(range(0, human_max + 1)) | set(h.tolist()))
    lcats = sorted(set(range(0, llm_max + 1)) | set(l.tolist()))
    counts = [[int(((h == a) & (l == b)).sum()) for b in lcats] for a in hcats]
    return Agreement(
        n_pairs=int(len(h)),
        n_llm_missing=int(n_missing),
        kappa=cohen_kappa(h, l_on_h),
        kappa_binary=cohen_kappa(hb.astype(int), lb.astype(int)),
        accuracy_binary=float((hb == lb).mean()) if len(h) else None,
        llm_max=llm_max,
        human_max=human_max,
        confusion={"human_labels": hcats, "llm_labels": lcats, "counts": counts},
        llm_hist={str(c): int((l == c).sum()) for c in lcats},
        human_hist={str(c): int((h == c).sum()) for c in hcats},
    )


def write_agreement(report: Agreement, folder: str | Path, *, title: str = "") -> dict[str, Path]:
    """Write agreement.json, confusion.csv and label_hist.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "agreement.json", "confusion": folder / "confusion.csv", "hist": folder / "label_hist.png"}
    paths["json"].write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")
    c = report.confusion
    lines = ["human\\llm," + ",".join(str(x) for x in c["llm_labels"])]
    lines += [f"{hl}," + ",".join(str(x) for x in row) for hl, row in zip(c["human_labels"], c["counts"])]
    paths["confusion"].write_text("\n".join(lines) + "\n", encoding="utf-8")

    from gbltr.plots import plot_annotator_agreement  # the report layer, loaded only to draw

    axes = plot_annotator_agreement(report, title=title)
    axes[0].figure.savefig(paths["hist"], dpi=80)
    return paths
