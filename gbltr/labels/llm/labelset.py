"""LLM label sets on disk: the LABELS contract plus provenance columns.

Columns written by :func:`gbltr.labels.llm.annotate.annotate` (see :data:`PROVENANCE`):
query_id, doc_id (String), label (Float64, null = missing), source (``"llm"``), model, strategy,
prompt_version, permutation_seed (Int64, null = candidate order only), parse_status,
expected_relevance and confidence (Float64, PointAnn with logprobs, else null), perm_agreement
(Float64, share of permutations agreeing with the aggregate label, null with one permutation).
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from gbltr.data.qrels import read_qrels, write_qrels
from gbltr.inputs import read_parquet
from gbltr.errors import DataError
from gbltr.folders import write_file
from gbltr.schema import LABELS, validate

log = logging.getLogger(__name__)

PROVENANCE = {
    "model": pl.String,
    "strategy": pl.String,
    "prompt_version": pl.String,
    "permutation_seed": pl.Int64,
    "parse_status": pl.String,
    "expected_relevance": pl.Float64,
    "confidence": pl.Float64,
    "perm_agreement": pl.Float64,
}


def write_labels(labels: pl.DataFrame, path: str | Path) -> Path:
    """Validate against LABELS and write Parquet (atomically: temp file then rename)."""
    path = Path(path)
    labels = validate(labels, LABELS, where="LLM labels")
    write_file(path, labels.write_parquet, what="LLM label set")
    return path


def load_llm_labels(path: str | Path, *, return_dropped: bool = False):
    """Read an LLM label set for training (``fit --llm-labels``, ``simulate --over --llm-labels``):
    the Parquet written by ``gbltr annotate`` (``.parquet``: LABELS contract, ``source == "llm"``,
    nulls dropped) or else a TREC qrels file (:func:`gbltr.data.qrels.read_qrels`, source ``llm``).

    Rows whose label is null (parse failures, failed calls) are dropped and their number logged;
    with ``return_dropped=True`` the result is ``(frame, n_dropped)`` (0 for qrels, which cannot
    hold a missing label).
    """
    path = Path(path)
    if path.suffix != ".parquet":
        df = read_qrels(path, source="llm")
        return (df, 0) if return_dropped else df
    df = validate(read_parquet(path, "LLM label file", expected="the Parquet label set written by `gbltr annotate --out`"),
                  LABELS, where=str(path))
    other = df.filter(pl.col("source") != "llm")["source"].unique().to_list()
    if other:
        raise DataError(f"LLM label file {path}: found source(s) {other}; expected only 'llm' (pass human or click labels elsewhere)")
    n_null = df["label"].null_count()
    if n_null:
        log.warning("%s: dropped %d of %d LLM label(s) that are missing (null)", path, n_null, df.height)
        df = df.filter(pl.col("label").is_not_null())
    return (df, n_null) if return_dropped else df


def write_llm_qrels(labels: pl.DataFrame, path: str | Path) -> Path:
    """TREC qrels of the non-null labels (:func:`gbltr.data.qrels.write_qrels`; null rows dropped)."""
    return write_qrels(labels.filter(pl.col("label").is_not_null()).select("query_id", "doc_id", "label", "source"), path)
