"""``corpus``: documents and queries with text (TSV or JSONL).

Files (SRC... or a folder of them; a file's role comes from its name and content):

- ``queries*.tsv``: ``qid <TAB> text`` (NovelEval ``queries.tsv``);
- any other ``*.tsv``: ``docid <TAB> text`` (NovelEval ``corpus.tsv``); the text becomes the body.
  The id ends at the first tab; the rest of the line is the text, tabs included (NovelEval
  passages hold tables);
- ``*.jsonl`` with ``query``, ``title`` and ``relevant`` keys: a query-title relevance set
  (QBQTC): one judged (query, title) per line. The query text is the query's identity (id ``q<n>``
  in order of first appearance), the doc id is ``<file stem>:<id>``, the title is the document's
  title (no body), ``relevant`` is the human label, and the file name gives the split
  (``train``/``dev``/``test``). A query in two files keeps the first file's split (counted).
- other ``*.jsonl``: documents with ``doc_id`` (or ``docid``/``id``) and any of ``title``, ``body``
  (or ``text``), ``url``.

Candidates come from judgements (``--also qrels=FILE``) or a log; a corpus alone has none.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from gbltr.data.importers.base import Part, documents_frame, queries_frame, split_from_name
from gbltr.data.importers.sniff import files_of
from gbltr.errors import DataError, ParseError
from gbltr.inputs import read_text


def _tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    for n, raw in enumerate(read_text(path, "corpus file", "lines 'id <TAB> text'").split("\n"), start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        f = raw.split("\t", 1)
        if len(f) != 2 or not f[0].strip():
            raise ParseError(f"{path}, line {n}: expected 'id <TAB> text', found {raw[:80]!r}")
        rows.append((f[0], f[1]))
    return rows


def _jsonl(path: Path) -> list[dict]:
    rows = []
    for n, raw in enumerate(read_text(path, "corpus file", "JSON lines, one object per line").split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ParseError(f"{path}, line {n}, column {e.colno}: expected a JSON object, {e.msg}: {raw[:80]!r}") from None
        if not isinstance(obj, dict):
            raise ParseError(f"{path}, line {n}: expected a JSON object, found {type(obj).__name__}")
        rows.append(obj)
    return rows


def _first(obj: dict, keys, path, n, what):
    for k in keys:
        if k in obj and obj[k] is not None:
            return str(obj[k])
    raise ParseError(f"{path}, line {n}: expected a {what} under one of {list(keys)}, found keys {sorted(obj)}")


def read(paths: list[Path], options) -> Part:
    files = files_of(paths, "corpus", ("tsv", "jsonl"))
    if not files:
        raise DataError(f"corpus: no TSV or JSONL file in {[str(p) for p in paths]}")
    queries, docs, labels = [], [], []
    qid_of: dict[str, str] = {}
    split_of: dict[str, str | None] = {}
    moved = 0
    for f in files:
        if f.suffix == ".tsv":
            rows = _tsv(f)
            if f.name.startswith("quer"):
                queries.append(queries_frame([r[0] for r in rows], [r[1] for r in rows]))
            else:
                docs.append(documents_frame([r[0] for r in rows], body=[r[1] for r in rows]))
            continue
        if f.suffix != ".jsonl":
            raise DataError(f"corpus: {f} is neither .tsv nor .jsonl")
        rows = _jsonl(f)
        if rows and {"query", "title", "relevant"} <= set(rows[0]):
            split = split_from_name(f)
            ids, titles, lab = [], [], []
            for n, obj in enumerate(rows, start=1):
                q = _first(obj, ("query",), f, n, "query")
                if q not in qid_of:
                    qid_of[q] = f"q{len(qid_of) + 1}"
                    split_of[q] = split
                elif split_of[q] != split:
                    moved += 1
                d = f"{f.stem}:{_first(obj, ('id',), f, n, 'id')}"
                try:
                    rel = float(obj["relevant"])
                except (TypeError, ValueError):
                    raise ParseError(f"{f}, line {n}: expected a numeric 'relevant', found {obj['relevant']!r}") from None
                ids.append(d)
                titles.append(_first(obj, ("title",), f, n, "title"))
                lab.append((qid_of[q], d, rel))
            docs.append(documents_frame(ids, title=titles))
            labels.append(pl.DataFrame(lab, schema={"query_id": pl.String, "doc_id": pl.String, "label": pl.Float64},
                                       orient="row"))
        else:
            ids = [_first(o, ("doc_id", "docid", "id"), f, n, "doc id") for n, o in enumerate(rows, start=1)]
            docs.append(documents_frame(
                ids, title=[o.get("title") for o in rows], body=[o.get("body", o.get("text")) for o in rows],
                url=[o.get("url") for o in rows]))
    if qid_of:
        splits = list(split_of.values())
        queries.append(queries_frame(list(qid_of.values()), list(qid_of),
                                     split=splits if all(s is not None for s in splits) else None))
    part = Part("corpus", [str(f) for f in files],
                queries=pl.concat(queries, how="diagonal_relaxed") if queries else None,
                documents=pl.concat(docs, how="diagonal_relaxed") if docs else None,
                missing={"impressions": "a corpus has no click log (gbltr simulate --over DIR simulates one)",
                         "features": "no precomputed features in a corpus; features are built from its text"},
                notes={"queries_in_several_split_files": moved} if qid_of else {})
    if labels:
        lab = pl.concat(labels).with_columns(source=pl.lit("human"))
        dup = lab.select("query_id", "doc_id").is_duplicated()
        if dup.any():
            raise DataError(f"corpus: {int(dup.sum())} judgements repeat a (query, doc), e.g. {lab.filter(dup).row(0)[:2]}; "
                            "expected one per pair (duplicate ids)")
        part.labels["human"] = lab
    return part
