"""Small pairs files (and qrels) cut from the shared real data sets, for the integration tests.

NovelEval (RankGPT repository): queries.tsv, corpus.tsv (doc ids ``<qid>-<k>``), qrels.txt.
QBQTC (CLUE): jsonl rows ``{"id", "query", "title", "relevant"}``; the query id is the query's
first-appearance index and the doc id the row ``id``; qrels are written from ``relevant``.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl


def noveleval_pairs(folder: Path, out_dir: Path, n_queries: int = 2, n_docs: int = 4) -> tuple[Path, Path]:
    queries = pl.read_csv(folder / "queries.tsv", separator="\t", has_header=False, quote_char=None, new_columns=["query_id", "query"], schema_overrides={"query_id": pl.String})
    lines = [l.split("\t", 1) for l in (folder / "corpus.tsv").read_text(encoding="utf-8").splitlines() if "\t" in l]
    corpus = pl.DataFrame({"doc_id": [a for a, _ in lines], "text": [b for _, b in lines]})
    qrels = pl.read_csv(folder / "qrels.txt", separator=" ", has_header=False, new_columns=["query_id", "it", "doc_id", "label"], schema_overrides={"query_id": pl.String, "doc_id": pl.String})
    qs = queries.head(n_queries)
    # per query: judged docs interleaved by grade (2, 1, 0, 2, 1, 0, ...) so each grade is present
    picked = (
        qrels.join(qs, on="query_id")
        .with_columns(pl.int_range(pl.len()).over("query_id", "label").alias("_k"))
        .sort("query_id", "_k", "label", descending=[False, False, True])
        .group_by("query_id", maintain_order=True).head(n_docs).drop("_k")
    )
    pairs = picked.join(corpus, on="doc_id").select("query_id", "query", "doc_id", "text")
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / "noveleval_pairs.jsonl"
    pairs.write_ndjson(p)
    return p, folder / "qrels.txt"


def qbqtc_pairs(folder: Path, out_dir: Path, n_queries: int = 2, n_docs: int = 4) -> tuple[Path, Path]:
    rows = [json.loads(l) for l in (folder / "dev.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    qids: dict[str, str] = {}
    per_q: dict[str, list] = {}
    for r in rows:
        q = qids.setdefault(r["query"], f"qb{len(qids)}")
        if len(qids) > n_queries:
            break
        per_q.setdefault(q, []).append(r)
    recs, qrels = [], []
    for q, rs in per_q.items():
        for r in rs[:n_docs]:
            recs.append({"query_id": q, "query": r["query"], "doc_id": str(r["id"]), "text": r["title"]})
            qrels.append(f"{q} 0 {r['id']} {int(r['relevant'])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / "qbqtc_pairs.jsonl"
    p.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in recs), encoding="utf-8")
    qp = out_dir / "qbqtc_qrels.txt"
    qp.write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return p, qp
