"""``ncm``: per-query SERP logs in the NCM/GraphCM format (TREC Session 2014, TianGong-ST).

SRC is the folder with ``{train,valid,test}_per_query_quid.txt``,
``human_label_for_GraphCM_per_query_quid.txt``, ``query_qid.dict`` and ``url_uid.dict``; the
files are read by :func:`gbltr.data.real.read_trec_session` (format, dict parsing with
``ast.literal_eval``, label conflicts: see there).

Written: the log (``impressions``, with the source's ``split`` per SERP), query texts, human
labels (-2 = spam kept raw; evaluation and training treat negative grades as 0). Documents are
ClueWeb12 ids only: no text, no URL (manifest ``missing``). A query's split is the source's when
all its SERPs lie in one split file; queries seen in several split files get none, and the
manifest says so (use ``--split random``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gbltr.data.importers.base import Part, documents_frame
from gbltr.data.real import read_trec_session
from gbltr.errors import DataError


def read(paths: list[Path], options) -> Part:
    if len(paths) != 1 or not paths[0].is_dir():
        raise DataError(f"ncm: expected one folder with *_per_query_quid.txt and the .dict files, found {[str(p) for p in paths]}")
    log = read_trec_session(paths[0])
    splits = log.impressions.group_by("query_id").agg(pl.col("split").unique())
    single = splits.filter(pl.col("split").list.len() == 1).select("query_id", pl.col("split").list.first())
    queries = log.queries.join(single, on="query_id", how="left")
    n_multi = splits.height - single.height
    part = Part("ncm", [str(paths[0])], queries=queries,
                documents=documents_frame(pl.concat([log.impressions["doc_id"], log.labels["doc_id"]]).unique().sort().to_list()),
                impressions=log.impressions, labels={"human": log.labels},
                missing={"text": "NCM/TREC Session logs carry no document text (ClueWeb12 ids only), so no text features",
                         "url": "NCM logs carry no document URLs, so no URL features",
                         "features": "no precomputed features in NCM logs"},
                notes={"queries_in_several_split_files": n_multi})
    if n_multi:
        part.missing["split"] = f"{n_multi} queries have SERPs in several split files, so they have no source split"
    return part
