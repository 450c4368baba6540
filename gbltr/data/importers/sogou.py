"""``sogou-pscm``: the Sogou PSCM click-log sample (log, query frequencies, human labels).

SRC is the folder with ``train_data``, ``test_data``, ``query_id.tsv``, ``url_id`` and (optional)
``relevance_label.tsv``; the log is read by :func:`gbltr.data.real.read_sogou_pscm`. Files may be
UTF-8 or GB18030 (the original encoding); each is decoded as UTF-8 first, else GB18030.

``relevance_label.tsv`` (``query_text, url, label``, averaged judgements) becomes the human
label set. Its queries are matched to ``query_id.tsv`` by text, and its URLs to ``url_id``; a
query or URL not found there gets a new id (``rl:<n>`` / ``url:<url>``): in this sample the
labelled queries are not in the log, so they have frequency 0. Documents carry their URL (URL
features) but no text. A (query, url) judged on several lines (36 pairs in the sample) gets the
mean label, with ``n_judgements``, ``label_min`` and ``label_max`` kept beside it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gbltr.data.importers.base import Part, documents_frame
from gbltr.data.real import decode_text, read_sogou_pscm
from gbltr.errors import DataError, ParseError


def read_relevance(path: Path, queries: pl.DataFrame, urls: pl.DataFrame):
    rows = []
    for n, raw in enumerate(decode_text(path).split("\n"), start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        f = raw.split("\t")
        if len(f) != 3:
            raise ParseError(f"{path}, line {n}: expected 3 tab-separated fields (query_text, url, label), "
                             f"found {len(f)}: {raw[:80]!r}")
        try:
            rows.append((f[0], f[1], float(f[2])))
        except ValueError:
            raise ParseError(f"{path}, line {n}: expected a numeric label, found {f[2]!r}") from None
    lab = pl.DataFrame(rows, schema={"text": pl.String, "url": pl.String, "label": pl.Float64}, orient="row")
    new_q = lab.select("text").unique(maintain_order=True).join(queries.select("text", "query_id"), on="text", how="anti")
    new_q = new_q.with_columns(query_id=pl.format("rl:{}", pl.int_range(pl.len())))
    qmap = pl.concat([queries.select("text", "query_id"), new_q]).unique("text", keep="first")
    lab = lab.join(qmap, on="text", how="left").join(urls.select("url", "doc_id"), on="url", how="left")
    lab = lab.with_columns(pl.col("doc_id").fill_null(pl.format("url:{}", pl.col("url"))))
    labels = (lab.group_by("query_id", "doc_id", maintain_order=True)
              .agg(pl.col("label").mean(), pl.len().cast(pl.Int32).alias("n_judgements"),
                   pl.col("label").min().alias("label_min"), pl.col("label").max().alias("label_max"))
              .with_columns(source=pl.lit("human")))
    return labels, new_q.select("query_id", "text"), lab.select("doc_id", "url").unique()


def read(paths: list[Path], options) -> Part:
    if len(paths) != 1 or not paths[0].is_dir():
        raise DataError(f"sogou-pscm: expected one folder with train_data, test_data, query_id.tsv, url_id; "
                        f"found {[str(p) for p in paths]}")
    root = paths[0]
    log = read_sogou_pscm(root)
    queries = log.queries.select("query_id", "text", pl.col("train_sessions").alias("source_train_sessions"),
                                 pl.col("test_sessions").alias("source_test_sessions"))
    shown = log.impressions.select("doc_id").unique()
    urls = log.urls
    labels, lab_urls = {}, None
    missing = {"text": "the Sogou sample has URLs but no document text, so no text features",
               "features": "no precomputed features in the Sogou sample"}
    if (root / "relevance_label.tsv").exists():
        lab, new_q, lab_urls = read_relevance(root / "relevance_label.tsv", log.queries, urls)
        labels["human"] = lab
        queries = pl.concat([queries, new_q], how="diagonal_relaxed")
    else:
        missing["labels.human"] = "no relevance_label.tsv: no human labels"
    doc_urls = pl.concat([shown.join(urls, on="doc_id", how="left"),
                          *( [lab_urls] if lab_urls is not None else [])], how="diagonal_relaxed").unique("doc_id")
    documents = documents_frame(doc_urls["doc_id"].to_list(), url=doc_urls["url"].to_list())
    return Part("sogou-pscm", [str(root)], queries=queries, documents=documents, impressions=log.impressions,
                labels=labels, missing=missing,
                notes={"labelled_queries_not_in_log": 0 if "human" not in labels else new_q.height})
