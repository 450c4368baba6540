"""``gbltr rerank``: score new candidates with a trained run and write a TREC run file + Parquet.

Input folder ``DIR`` (the dataset layout of :mod:`gbltr.data.store`, labels not needed)::

    DIR/
      queries.parquet       query_id, text                       (to build features)
      documents.parquet     doc_id, title, body, url [, inlinks, pagerank, domain]
      candidates.parquet    query_id, doc_id, rank, ...           (or --run-file FIRST_STAGE.trec)
      impressions.parquet   optional: query frequency = sessions per query, as in training
      features.parquet      optional: precomputed query_id, doc_id, <feature columns>; used
                            instead of building features when present

Features are built by :func:`gbltr.features.build.build_features`, the function training used,
with the run's catalogue and feature parameters (``config.json``), so a pair gets the same values
as in training when the documents table is the same (collection statistics come from it).

Output: ``OUT`` (TREC run: ``qid Q0 docid rank score tag``, ranks from 1 by score, ties in
first-stage order) and ``OUT`` with suffix ``.parquet`` (query_id, doc_id, score, rank,
first_stage_rank).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from gbltr.checkpoint import checkpoint
from gbltr.data.frequency import query_frequency_scan
from gbltr.data.trec import write_run_lines
from gbltr.inputs import collecting, read_lines, read_parquet, scan_parquet
from gbltr.errors import DataError, ModelError, ParseError
from gbltr.features.build import build_features
from gbltr.features.text import TextParams
from gbltr.folders import Input, Output, check_outputs, write_file
from gbltr.schema import DOCUMENTS, QUERIES, validate
from gbltr.serve.run import TrainedRun, load_run

log = logging.getLogger("gbltr")


@dataclass(frozen=True)
class Reranked:
    """query_id, doc_id, score, rank, first_stage_rank; sorted by query_id then rank."""

    frame: pl.DataFrame
    features_from: str  # "built" or the precomputed file
    inputs: tuple = ()  # what was read (rerank_inputs): write() refuses an output among them

    def write(self, out: str | Path, tag: str = "gbltr") -> tuple[Path, Path]:
        """Write the TREC run ``out`` (:func:`gbltr.data.trec.write_run_lines`: ids and ``tag``
        without whitespace, else an error before anything is written) and the Parquet beside it
        (:func:`rerank_outputs`), each atomically, never into what was read; returns both paths."""
        trec, pq = (Path(o.path) for o in rerank_outputs(out))
        check_outputs("rerank", rerank_outputs(out), list(self.inputs))
        write_run_lines(self.frame, trec, tag)
        write_file(pq, self.frame.write_parquet, what="rerank Parquet")
        return trec, pq


def rerank_outputs(out: str | Path) -> list[Output]:
    """What ``rerank --out OUT`` writes: the TREC run ``OUT`` and ``OUT`` with suffix ``.parquet``
    (so ``--out X.parquet`` is refused: the two would be one file)."""
    out = Path(out)
    return [Output(out, "--out", "TREC run file", folder=False),
            Output(out.with_suffix(".parquet"), "--out (its .parquet beside it)", "rerank Parquet", folder=False)]


def rerank_inputs(run, data, run_file=None) -> list[Input]:
    """What ``rerank`` reads: the run folder (not a registered model ``models:/...``: no local path),
    the data folder and a first-stage run file."""
    from gbltr.track import is_model_uri

    return ([] if is_model_uri(run) else [Input(run, "run folder")]) + [Input(data, "data folder (--data)")] + (
        [Input(run_file, "run file (--run-file)")] if run_file else [])


def read_trec_run(path: str | Path) -> pl.DataFrame:
    """A TREC run file (``qid Q0 docid rank score tag``) as query_id, doc_id, rank (Int32)."""
    p = Path(path)
    q, d, r = [], [], []
    for n, line in read_lines(p, "run file", "a TREC run (lines 'qid Q0 docid rank score tag')",
                              comments=False).iter_rows():
        parts = line.split()
        if len(parts) != 6:
            raise ParseError(f"{p}:{n}: expected 6 fields 'qid Q0 docid rank score tag', found {len(parts)}: {line!r}")
        try:
            rank = int(parts[3])
            float(parts[4])
        except ValueError:
            raise ParseError(f"{p}:{n}: rank and score must be numbers, found {parts[3]!r} and {parts[4]!r}") from None
        q.append(parts[0])
        d.append(parts[2])
        r.append(rank)
    frame = pl.DataFrame({"query_id": q, "doc_id": d, "rank": r}, schema={"query_id": pl.String, "doc_id": pl.String, "rank": pl.Int32})
    dup = frame.group_by("query_id", "doc_id").len().filter(pl.col("len") > 1)
    if dup.height:
        ex = dup.row(0, named=True)
        raise DataError(f"run file {p}: pair (query_id={ex['query_id']!r}, doc_id={ex['doc_id']!r}) appears "
                        f"{ex['len']} times; expected each candidate once per query")
    return frame


def rerank_features(run: TrainedRun, data: str | Path, pairs: pl.DataFrame | None = None) -> tuple[pl.DataFrame, str]:
    """query_id, doc_id and the run's feature columns (in model order) for the pairs to score.

    ``pairs`` (query_id, doc_id): the candidates; None reads ``DIR/candidates.parquet``.
    Raises :class:`DataError` naming the features the model needs and the input lacks.
    """
    root = Path(data)
    if not root.is_dir():
        raise DataError(f"rerank data folder {str(root)!r} not found; expected queries.parquet, documents.parquet, ...")
    if pairs is None:
        if not (root / "candidates.parquet").is_file() and not (root / "features.parquet").is_file():
            raise DataError(f"{root}: no candidates.parquet and no --run-file; expected the pairs to score")
        if (root / "candidates.parquet").is_file():
            pairs = read_parquet(root / "candidates.parquet", "rerank data table").select("query_id", "doc_id", "rank")
    names = list(run.feature_names)
    pre = root / "features.parquet"
    if pre.is_file():
        table = read_parquet(pre, "rerank data table")
        missing = [n for n in names if n not in table.columns]
        if missing:
            raise DataError(
                f"{pre}: the model of {run.folder} needs feature column(s) {missing}; found "
                f"{[c for c in table.columns if c not in ('query_id', 'doc_id')]}. Precompute them with "
                "the run's catalogue, or remove features.parquet to build features from queries/documents"
            )
        table = table.select("query_id", "doc_id", *[pl.col(n).cast(pl.Float64) for n in names])
        if pairs is not None:
            lost = pairs.join(table, on=["query_id", "doc_id"], how="anti")
            if lost.height:
                ex = lost.row(0, named=True)
                raise DataError(f"{pre}: {lost.height} candidate pair(s) have no feature row, e.g. "
                                f"(query_id={ex['query_id']!r}, doc_id={ex['doc_id']!r}); expected a row per candidate")
            table = pairs.select("query_id", "doc_id").join(table, on=["query_id", "doc_id"], how="left")
        return table.sort("query_id", "doc_id"), str(pre)
    for name in ("queries", "documents"):
        if not (root / f"{name}.parquet").is_file():
            raise DataError(f"{root}: no {name}.parquet; expected it to build features (or a features.parquet)")
    queries = validate(read_parquet(root / "queries.parquet", "rerank data table"), QUERIES, where=f"{root}/queries.parquet")
    documents = validate(read_parquet(root / "documents.parquet", "rerank data table"), DOCUMENTS, where=f"{root}/documents.parquet")
    stats = _frequency(root, queries)
    table = build_features(queries, documents, pairs.select("query_id", "doc_id"), stats,
                           params=TextParams.from_config(run.config.features), catalogue=run.catalogue)
    missing = [n for n in names if n not in table.features]
    if missing:
        why = {n: table.omitted.get(n, "not computed") for n in missing}
        raise DataError(
            f"rerank data {root}: the model of {run.folder} needs feature(s) {missing} that cannot be built "
            f"from this folder ({why}); expected the inputs the model was trained with (e.g. "
            "documents.inlinks/pagerank/domain, impressions.parquet or a queries 'frequency' column for "
            "query_freq_log1p), or a features.parquet"
        )
    return table.frame.select("query_id", "doc_id", *names), "built"


def _frequency(root: Path, queries: pl.DataFrame) -> pl.DataFrame | None:
    """query_id, frequency: sessions per query in DIR's impressions (streamed: the log may exceed
    memory), else the queries' frequency column."""
    if (root / "impressions.parquet").is_file():
        file = root / "impressions.parquet"
        with collecting("rerank data table", file):
            return query_frequency_scan(scan_parquet(file, "rerank data table"), queries["query_id"])
    if "frequency" in queries.columns:
        return queries.select("query_id", pl.col("frequency").cast(pl.Int64).fill_null(0))
    return None


def rerank(run: str | Path | TrainedRun, data: str | Path, *, run_file: str | Path | None = None) -> Reranked:
    """Score the candidates of ``data`` (or of ``run_file``) with the model of ``run``."""
    run = run if isinstance(run, TrainedRun) else load_run(run)
    pairs = read_trec_run(run_file) if run_file is not None else None
    candidates = Path(data) / "candidates.parquet"
    if pairs is None and candidates.is_file():  # read once: the pairs to score and their first-stage ranks
        pairs = read_parquet(candidates, "rerank data table").select("query_id", "doc_id", "rank")
    table, source = rerank_features(run, data, pairs)
    if table.height == 0:
        raise DataError(f"rerank data {data}: no candidate pairs to score")
    checkpoint("rerank")  # the run, the data and the run file are read, and the model's features can be built
    X = table.select(run.feature_names).to_numpy().astype(np.float32)  # as RankingDataset holds them in training
    try:
        scores = run.model.predict(X)
    except Exception as exc:  # a native library's own error for a model/input mismatch
        raise ModelError(f"the model of {run.folder} could not score {X.shape} features: {exc}") from exc
    scored = table.select("query_id", "doc_id").with_columns(score=pl.Series(scores, dtype=pl.Float64))
    if pairs is not None:
        scored = scored.join(pairs.select("query_id", "doc_id", pl.col("rank").alias("first_stage_rank")),
                             on=["query_id", "doc_id"], how="left")
    else:
        scored = scored.with_columns(first_stage_rank=pl.lit(None, dtype=pl.Int32))
    scored = scored.sort(["query_id", "score", "first_stage_rank", "doc_id"], descending=[False, True, False, False],
                         nulls_last=True)
    scored = scored.with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("query_id"))
    frame = scored.select("query_id", "doc_id", "score", "rank", "first_stage_rank")
    log.info("reranked %d candidates of %d queries with %s (features %s)", frame.height,
             frame["query_id"].n_unique(), run.folder, source)
    return Reranked(frame, source, tuple(rerank_inputs(run.folder, data, run_file)))
