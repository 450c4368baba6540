"""What one source contributes to a dataset (:class:`Part`), and how parts combine into one.

An importer (one module per format in this package) reads its files into a :class:`Part`:
the tables the source has, and a ``missing`` entry for each it lacks. :func:`combine` merges the
parts of one ``gbltr import`` into a :class:`~gbltr.data.store.SearchDataset`:

- queries and documents: the union by id. A field given by two parts must agree (the first
  non-null value is kept); two different non-null texts for one id is an error (duplicate ids).
- impressions: the union of the logs (session ids must not collide).
- labels: per source. A later part's human label for a pair overrides an earlier one (qrels
  merged into a log's labels); the overrides are counted in the manifest.
- features: one part at most carries precomputed features.
- candidates: the union of displayed documents (the log), judged documents (labels) and the
  pairs of a feature file. ``rank`` orders a query's candidates by their best displayed
  position, then the source's own order (a feature file's line order), then doc id; the best
  displayed position is kept as ``displayed_position`` (null for documents never shown).

A feature file and a log that share no (query, doc) pair cannot be joined: an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from gbltr.data.store import SearchDataset
from gbltr.errors import DataError, SchemaError

QUERY_COLS = {"query_id": pl.String, "text": pl.String}
DOC_COLS = {"doc_id": pl.String, "title": pl.String, "body": pl.String, "url": pl.String}


@dataclass
class Part:
    """One source's tables. ``order``: query_id, doc_id, order (the source's own ranking)."""

    format: str
    paths: list[str]
    queries: pl.DataFrame | None = None
    documents: pl.DataFrame | None = None
    impressions: pl.DataFrame | None = None
    labels: dict[str, pl.DataFrame] = field(default_factory=dict)
    features: pl.DataFrame | None = None
    order: pl.DataFrame | None = None
    missing: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def queries_frame(ids, texts=None, split=None) -> pl.DataFrame:
    data = {"query_id": [str(i) for i in ids], "text": texts if texts is not None else [None] * len(ids)}
    schema = dict(QUERY_COLS)
    if split is not None:
        data["split"] = split
        schema["split"] = pl.String
    return pl.DataFrame(data, schema=schema)


def documents_frame(ids, *, title=None, body=None, url=None) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {"doc_id": [str(i) for i in ids], "title": title or [None] * n, "body": body or [None] * n, "url": url or [None] * n},
        schema=DOC_COLS,
    )


def _union(frames: list[pl.DataFrame], key: str, what: str) -> pl.DataFrame | None:
    """Union by ``key``: first non-null value per column; two different non-null values -> error."""
    frames = [f for f in frames if f is not None and f.height]
    if not frames:
        return None
    for f in frames:
        dup = f[key].is_duplicated()
        if dup.any():
            raise SchemaError(f"{what}: {key} {f.filter(dup)[key][0]!r} appears {int(dup.sum())} times in one "
                              f"source; expected unique ids (duplicate ids after import)")
    allf = pl.concat(frames, how="diagonal_relaxed").with_row_index("__i")
    cols = [c for c in allf.columns if c not in (key, "__i")]
    for c in cols:
        conflict = (allf.filter(pl.col(c).is_not_null()).group_by(key).agg(pl.col(c).n_unique().alias("n"), pl.col(c).first().alias("v"))
                    .filter(pl.col("n") > 1))
        if conflict.height:
            ex = conflict.row(0, named=True)
            raise SchemaError(f"{what}: {conflict.height} {key}(s) have different {c!r} values in two sources, "
                              f"e.g. {key} {ex[key]!r}; expected one value per id (duplicate ids after import)")
    return allf.sort("__i").group_by(key, maintain_order=True).agg(
        [pl.col(c).drop_nulls().first() for c in cols]).select(key, *cols)


def _candidates(parts: list[Part], impressions, labels, features) -> pl.DataFrame:
    pieces = []
    if impressions is not None:
        pieces.append(impressions.group_by("query_id", "doc_id").agg(
            pl.col("position").min().cast(pl.Int32).alias("displayed_position"),
            pl.col("position").mean().alias("__mean_pos")))
    for lab in labels.values():
        pieces.append(lab.select("query_id", "doc_id"))
    if features is not None:
        pieces.append(features.select("query_id", "doc_id"))
    for p in parts:
        if p.order is not None:
            pieces.append(p.order.select("query_id", "doc_id", pl.col("order").cast(pl.Int64).alias("__order")))
    if not pieces:
        raise DataError("no candidates: the sources have no log, no labels and no feature file; expected at "
                        "least one of them to say which documents belong to which query")
    pairs = pl.concat([p.select("query_id", "doc_id") for p in pieces]).unique()
    for p in pieces:
        extra = [c for c in p.columns if c not in ("query_id", "doc_id")]
        if extra:
            pairs = pairs.join(p.group_by("query_id", "doc_id").agg([pl.col(c).min() for c in extra]),
                               on=["query_id", "doc_id"], how="left")
    for c, dt in (("displayed_position", pl.Int32), ("__mean_pos", pl.Float64), ("__order", pl.Int64)):
        if c not in pairs.columns:
            pairs = pairs.with_columns(pl.lit(None, dtype=dt).alias(c))
    pairs = pairs.sort(["query_id", "displayed_position", "__mean_pos", "__order", "doc_id"], nulls_last=True)
    return pairs.with_columns(
        rank=pl.int_range(1, pl.len() + 1).over("query_id").cast(pl.Int32),
        retrieval_score=pl.lit(None, dtype=pl.Float64),
    ).select("query_id", "doc_id", "rank", "retrieval_score", "displayed_position")


def combine(parts: list[Part]) -> SearchDataset:
    """Merge ``parts`` (in order) into one validated dataset (rules in the module docstring)."""
    queries = _union([p.queries for p in parts], "query_id", "queries")
    documents = _union([p.documents for p in parts], "doc_id", "documents")
    logs = [p.impressions for p in parts if p.impressions is not None]
    impressions = pl.concat(logs, how="diagonal_relaxed") if logs else None
    labels: dict[str, pl.DataFrame] = {}
    overrides = 0
    for p in parts:
        for src, lab in p.labels.items():
            if src in labels:
                old = labels[src]
                both = old.join(lab.select("query_id", "doc_id", pl.col("label").alias("__new")), on=["query_id", "doc_id"])
                overrides += both.filter(pl.col("label") != pl.col("__new")).height
                labels[src] = pl.concat([old.join(lab, on=["query_id", "doc_id"], how="anti"), lab], how="diagonal_relaxed")
            else:
                labels[src] = lab
    defined = [p.queries for p in parts if p.queries is not None and p.format != "qrels"]
    if defined:
        known = pl.concat([q.select("query_id") for q in defined]).unique()
        for p in parts:
            if p.format != "qrels":
                continue
            for lab in p.labels.values():
                stray = lab.select("query_id").unique().join(known, on="query_id", how="anti")
                if stray.height:
                    raise DataError(
                        f"qrels {p.paths[0]}: labels on {stray.height} quer(ies) that no other source has, so "
                        f"they have no candidates or text, e.g. query_id {stray['query_id'][0]!r}; expected the "
                        f"qrels' query ids among the {sum(q.height for q in defined)} imported queries"
                    )
    feats = [p for p in parts if p.features is not None]
    if len(feats) > 1:
        raise DataError(f"precomputed features from {len(feats)} sources ({[p.format for p in feats]}); expected "
                        "one feature file per dataset")
    features = feats[0].features if feats else None
    if features is not None and impressions is not None:
        shared = features.select("query_id", "doc_id").join(impressions.select("query_id", "doc_id").unique(),
                                                             on=["query_id", "doc_id"], how="semi")
        if shared.height == 0:
            ex_f = features.row(0, named=True)
            ex_l = impressions.row(0, named=True)
            raise DataError(
                "the feature file and the log share no (query_id, doc_id) pair, e.g. features have "
                f"({ex_f['query_id']!r}, {ex_f['doc_id']!r}) and the log ({ex_l['query_id']!r}, {ex_l['doc_id']!r}); "
                "expected the same query and document ids in both (map the log's columns with --map)"
            )
    candidates = _candidates(parts, impressions, labels, features)
    ids = candidates.select("query_id").unique()
    if queries is None:
        queries = queries_frame([])
    unknown = ids.join(queries.select("query_id"), on="query_id", how="anti")
    if unknown.height:
        queries = pl.concat([queries, queries_frame(unknown["query_id"].to_list())], how="diagonal_relaxed")
    no_cand = queries.join(ids, on="query_id", how="anti")
    if no_cand.height:
        queries = queries.join(ids, on="query_id", how="semi")
    if documents is None:
        documents = documents_frame([])
    dids = pl.concat([candidates.select("doc_id"), *( [impressions.select("doc_id")] if impressions is not None else [])]).unique()
    unknown = dids.join(documents.select("doc_id"), on="doc_id", how="anti")
    if unknown.height:
        documents = pl.concat([documents, documents_frame(unknown["doc_id"].to_list())], how="diagonal_relaxed")
    missing: dict[str, str] = {}
    for p in parts:
        for k, v in p.missing.items():
            missing.setdefault(k, v)
    has = {"impressions": impressions is not None, "features": features is not None,
           "text": bool(documents.height and documents.select(pl.col("title").is_not_null().any() | pl.col("body").is_not_null().any()).item()),
           "query_text": bool(queries["text"].is_not_null().any()),
           "url": bool(documents["url"].is_not_null().any()),
           "labels.human": "human" in labels}
    for k, present in has.items():
        if present:
            missing.pop(k, None)
    if not has["text"]:
        missing.setdefault("text", "no source has document text, so no text features")
    if not has["impressions"]:
        missing.setdefault("impressions", "no click log: click labels need one (gbltr simulate --over DIR simulates it)")
    if not has["labels.human"]:
        missing.setdefault("labels.human", "no human labels: evaluation needs them (merge qrels with --also qrels=FILE)")
    if not has["features"]:
        missing.setdefault("features", "no precomputed features; features are built from text where there is text")
    if not has["url"]:
        missing.setdefault("url", "no document URLs, so no URL features")
    sources = [{"format": p.format, "paths": p.paths, **p.notes} for p in parts]
    if overrides:
        sources[-1]["human_labels_overridden"] = overrides
    if no_cand.height:
        sources[-1]["queries_without_candidates_dropped"] = no_cand.height
    return SearchDataset(queries=queries, documents=documents, candidates=candidates, impressions=impressions,
                         labels=labels, features=features, missing=missing, sources=sources)


def split_from_name(path: Path) -> str | None:
    """``train`` / ``valid`` / ``test`` from a file name (``mq2008_fold1_vali.txt`` -> valid), else None."""
    name = path.name.lower()
    for token, split in (("train", "train"), ("vali", "valid"), ("dev", "valid"), ("test", "test")):
        if token in name:
            return split
    return None
