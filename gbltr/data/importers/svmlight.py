"""``svmlight``: LETOR / MSLR / Yahoo / LightGBM-example ranking files as precomputed features.

SRC is one or more files (or a folder of them), read by :func:`gbltr.data.svmlight.read_svmlight`
(``qid:``, or a ``<file>.query`` group file; ``#docid = X`` comments). Written:

- ``features.parquet``: query_id, doc_id, ``f1 .. fK`` (K = the largest index over all files;
  a feature absent from a line is 0, the SVMlight convention). Group them with ``--catalogue``
  (``features/catalogues/letor4.toml`` names LETOR 4.0's 46).
- human labels (the file's label column), candidates in file order (``rank``).
- the split of each query from its file name (``*train*`` -> train, ``*vali*``/``*dev*`` -> valid,
  ``*test*`` -> test), when every file names one.

Ids: with ``qid:`` the query id is the qid; with group files (ids 1, 2, ... restart in every file)
it is ``<file>:<n>``. A line without ``#docid`` gets doc id ``<file>:<line>``. ``<file>`` is the
file's name with its suffix (``rank.train:1``, ``rank.test:1``: distinct), or, when two files given
share a name, its path relative to the folder the files have in common (``fold1/train.txt:1``).
A query id in two files is an error (duplicate ids). No text, no log: the manifest says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from gbltr.data.importers.base import Part, documents_frame, queries_frame, split_from_name
from gbltr.data.importers.sniff import files_of
from gbltr.data.svmlight import read_svmlight
from gbltr.errors import DataError


def id_prefixes(files: list[Path]) -> dict[Path, str]:
    """The prefix of the ids made for each file (module docstring): its name, or its path relative
    to the files' common folder where two names are the same."""
    names = [f.name for f in files]
    if len(set(names)) == len(names):
        return {f: f.name for f in files}
    resolved = [f.resolve() for f in files]
    common = Path(os.path.commonpath([str(r.parent) for r in resolved]))
    return {f: r.relative_to(common).as_posix() for f, r in zip(files, resolved)}


def read(paths: list[Path], options) -> Part:
    files = files_of(paths, "svmlight", ("svmlight",), suffixes=(".query",))
    if not files:
        raise DataError(f"svmlight: no SVMlight file in {[str(p) for p in paths]}")
    frames, splits = [], {}
    prefixes = id_prefixes(files)
    for f in files:
        data = read_svmlight(f)
        df = data.frame.with_row_index("order", offset=1)
        if Path(str(f) + ".query").exists():  # group file: ids 1, 2, ... restart in every file
            df = df.with_columns(query_id=pl.format("{}:{}", pl.lit(prefixes[f]), pl.col("query_id")))
        with f.open("rb") as fh:
            has_docid = b"docid" in fh.read(1 << 20)
        if not has_docid:  # doc ids are line numbers
            df = df.with_columns(doc_id=pl.format("{}:{}", pl.lit(prefixes[f]), pl.col("doc_id")))
        df = df.with_columns(__file=pl.lit(f.name))
        frames.append(df)
        splits[f.name] = split_from_name(f)
    df = pl.concat(frames, how="diagonal_relaxed")
    fcols = sorted([c for c in df.columns if c.startswith("f") and c[1:].isdigit()], key=lambda c: int(c[1:]))
    df = df.with_columns(pl.col(fcols).fill_null(0.0))
    per_q = df.group_by("query_id").agg(pl.col("__file").n_unique().alias("n"), pl.col("__file").first())
    multi = per_q.filter(pl.col("n") > 1)
    if multi.height:
        raise DataError(f"svmlight: query id {multi['query_id'][0]!r} appears in more than one file; expected each "
                        "query in one file (duplicate ids)")
    dup = df.select("query_id", "doc_id").is_duplicated()
    if dup.any():
        ex = df.filter(dup).row(0, named=True)
        raise DataError(f"svmlight: ({ex['query_id']!r}, {ex['doc_id']!r}) appears on {int(dup.sum())} lines; expected "
                        "each (query, docid) once (duplicate ids)")
    use_split = all(s is not None for s in splits.values())
    q = per_q.sort("query_id")
    queries = queries_frame(q["query_id"].to_list(),
                            split=[splits[f] for f in q["__file"].to_list()] if use_split else None)
    part = Part(
        "svmlight", [str(f) for f in files], queries=queries,
        documents=documents_frame(df["doc_id"].unique().sort().to_list()),
        labels={"human": df.select("query_id", "doc_id", "label", pl.lit("human").alias("source"))},
        features=df.select("query_id", "doc_id", *fcols),
        order=df.with_columns(order=pl.col("order").rank("ordinal").over("query_id")).select("query_id", "doc_id", "order"),
        missing={"text": "SVMlight files carry no document or query text, so no text features",
                 "url": "SVMlight files carry no URLs, so no URL features",
                 "impressions": "SVMlight files carry no click log (gbltr simulate --over DIR simulates one)"},
        notes={"files": {f: s for f, s in splits.items()}, "n_features": len(fcols)},
    )
    if not use_split:
        part.missing["split"] = "file names do not say train/vali/test for every file, so no source split"
    return part
